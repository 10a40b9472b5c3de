"""``mes-runtime db upgrade|current|heads``: database migrations from any working directory.

``upgrade`` goes to ``heads`` by default: the tip of both the ``expand`` and the ``contract``
branch. An upgrade orchestrator (the operator) passes ``expand@head`` or ``contract@head``
to run one phase at a time. ``upgrade`` prints a backfill's progress, one line per batch.
"""

from __future__ import annotations

import argparse
import logging
import sys

from mes_runtime.db.migrate import current_revisions, head_revisions, upgrade
from mes_runtime.settings import Settings, get_settings

__all__ = ["main"]


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="mes-runtime db", description=__doc__)
    parser.add_argument("--database-url", help="override HOLON_DATABASE_URL")
    sub = parser.add_subparsers(dest="action", required=True)
    up = sub.add_parser("upgrade", help="apply migrations (default target: heads)")
    up.add_argument("target", nargs="?", default="heads", help="e.g. heads, expand@head")
    sub.add_parser("current", help="print the revisions the database is at")
    sub.add_parser("heads", help="print the head revision of each branch")
    return parser


def main(argv: list[str]) -> int:
    args = _parser().parse_args(argv)
    if args.action == "heads":
        for rev in sorted(head_revisions()):
            print(rev)
        return 0
    try:
        settings = Settings(database_url=args.database_url) if args.database_url else get_settings()
    except ValueError as exc:
        print(f"db: invalid settings: {exc}", file=sys.stderr)
        return 2
    if args.action == "upgrade":
        # a backfill's progress (one line per batch, mes_runtime.db.online) in the Job's log
        progress = logging.StreamHandler(sys.stdout)
        progress.setFormatter(logging.Formatter("%(message)s"))
        logging.getLogger("holon.migrations").addHandler(progress)
        logging.getLogger("holon.migrations").setLevel(logging.INFO)
        upgrade(settings.database_url, args.target)
        print("database at: " + " ".join(sorted(current_revisions(settings.database_url))))
        return 0
    current = current_revisions(settings.database_url)
    print("\n".join(sorted(current)) if current else "(not migrated)")
    return 0
