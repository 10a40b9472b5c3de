"""``mes-runtime`` command line: one sub-command per job, each owned by its module.

Sub-commands are resolved lazily so that ``mes-runtime simulate`` does not import the
web stack and ``mes-runtime serve`` does not import the simulator.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Sequence

__all__ = ["main"]

# name -> (module, help). Each module exposes ``main(argv: list[str]) -> int``.
COMMANDS: dict[str, tuple[str, str]] = {
    "serve": ("mes_runtime.server", "run the API and operator UI (migrates the database first)"),
    "simulate": ("mes_runtime.simulator.cli", "serve simulated MTP modules over OPC UA"),
    "create-admin": ("mes_runtime.auth.cli", "create the first admin user (prints its password)"),
    "create-user": (
        "mes_runtime.auth.create_user_cli",
        "enrol a user with any roles (prints a one-time password set-up token)",
    ),
    "db": ("mes_runtime.db.cli", "database migrations: upgrade, current, heads"),
    "backup": (
        "mes_runtime.backup.cli",
        "verified backups in an S3-compatible store: create, verify",
    ),
    "oq": (
        "mes_runtime.oq",
        "operational qualification suite in a scratch installation (JSON rows on stdout)",
    ),
}


def _usage() -> str:
    lines = ["usage: mes-runtime <command> [options]", "", "commands:"]
    lines += [f"  {name:<14} {help_}" for name, (_, help_) in COMMANDS.items()]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] in {"-h", "--help"}:
        print(_usage())
        return 0 if args else 2
    name, rest = args[0], args[1:]
    if name not in COMMANDS:
        print(f"mes-runtime: unknown command {name!r}\n\n{_usage()}", file=sys.stderr)
        return 2
    module = importlib.import_module(COMMANDS[name][0])
    entry: Callable[[list[str]], int] = module.main
    return entry(rest)


if __name__ == "__main__":
    raise SystemExit(main())
