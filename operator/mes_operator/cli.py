"""``mes-operator``: run the operator, or regenerate the CRDs.

mes-operator run [--namespace NS ...]   run the kopf operator (all namespaces by default)
mes-operator crds [--check]             write (or verify) crds/ and the chart's CRDs
"""

from __future__ import annotations

import argparse
import sys


def _run(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="mes-operator run")
    parser.add_argument(
        "--namespace",
        "-n",
        action="append",
        default=[],
        help="watch only these namespaces (repeatable); default: the whole cluster",
    )
    parser.add_argument("--verbose", action="store_true", help="debug logging")
    parser.add_argument(
        "--log-format", choices=("json", "plain"), default="json", help="default json"
    )
    args = parser.parse_args(argv)

    import kopf

    from mes_operator import handlers
    from mes_operator.logs import configure_logging

    configure_logging(verbose=args.verbose, json_lines=args.log_format == "json")
    kopf.run(
        clusterwide=not args.namespace,
        namespaces=list(args.namespace),
        liveness_endpoint=f"http://0.0.0.0:{handlers.CONFIG.health_port}/healthz",
        standalone=not handlers.CONFIG.peering,
    )
    return 0


def main(argv: list[str] | None = None) -> int:
    """Dispatch a sub-command; returns the process exit code."""
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] in {"-h", "--help"}:
        print(__doc__)
        return 0 if args else 2
    command, rest = args[0], args[1:]
    if command == "run":
        return _run(rest)
    if command == "crds":
        from mes_operator.crdgen import main as crds_main

        return crds_main(rest)
    print(f"mes-operator: unknown command {command!r}\n{__doc__}", file=sys.stderr)
    return 2


if __name__ == "__main__":
    raise SystemExit(main())
