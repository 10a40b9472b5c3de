"""``kubectl mes evidence get NAME -o DIR``: download a Qualification's package.
``kubectl mes evidence verify DIR [DIR ...] --key KEY.pem``: check packages offline.

Several directories are checked as one chain, oldest first: each package must name the
one before it as its previous package (``--first``: the first one starts the module's
chain; ``--previous-digest``: it follows that package). Exit 0 when every package holds,
1 when one does not (its first problem printed first), 2 when the command cannot run.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TextIO

from mes_operator.evidence.dsse import SignatureError, load_public_key
from mes_operator.evidence.files import read_package, write_package
from mes_operator.evidence.store import StoreError, files_of, parse_location
from mes_operator.evidence.verify import Verification, verify_package

__all__ = ["add_parser", "get", "run"]


def add_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """``evidence`` and its sub-commands, under the plugin's parser."""
    evidence = commands.add_parser("evidence", help="IQ/OQ evidence packages")
    sub = evidence.add_subparsers(dest="evidence_command", required=True)
    get = sub.add_parser("get", help="download a Qualification's package into a directory")
    get.add_argument("name", help="Qualification name")
    get.add_argument("-o", "--output", required=True, type=Path, metavar="DIR")
    get.add_argument("-n", "--namespace", default=None, help="namespace (default: context's)")
    verify = sub.add_parser(
        "verify", help="check packages offline: manifest, hashes, signature, chain"
    )
    verify.add_argument("directories", nargs="+", type=Path, metavar="DIR")
    verify.add_argument(
        "--key",
        required=True,
        type=Path,
        help="the operator's public key (PEM), as published in the holon-evidence-key ConfigMap",
    )
    start = verify.add_mutually_exclusive_group()
    start.add_argument(
        "--first", action="store_true", help="the first DIR is the module's first package"
    )
    start.add_argument(
        "--previous-digest", metavar="sha256:HEX", help="the package before the first DIR"
    )


def _line(directory: Path, result: Verification) -> str:
    doc = result.document or {}
    header = doc.get("header") or {}
    what = (
        f"{header.get('namespace')}/{header.get('module')} {header.get('event')} "
        f"{header.get('toVersion')} {doc.get('verdict')}"
    )
    chain = "chain checked" if result.chain_checked else "chain not checked"
    return f"OK {directory}: {what}, {result.digest}, {chain}"


def get(client: Any, name: str, namespace: str, output: Path) -> str:
    """Write the package of Qualification ``name`` into ``output`` (which must not hold
    files of the same names); the package's location. ``client``: a lightkube Client."""
    from lightkube.resources.core_v1 import ConfigMap

    from mes_operator.kube.resources import Qualification

    qualification = client.get(Qualification, name, namespace=namespace).to_dict()
    location = (qualification.get("spec") or {}).get("packageLocation")
    if not location:
        raise StoreError(f"qualification/{name} names no package location")
    where, config_map = parse_location(str(location))
    obj = client.get(ConfigMap, config_map, namespace=where)
    write_package(output, files_of(str(location), obj.binaryData))
    return str(location)


def run(args: argparse.Namespace, out: TextIO = sys.stdout, err: TextIO = sys.stderr) -> int:
    """``evidence verify`` (offline: needs no cluster)."""
    try:
        public = load_public_key(args.key.read_bytes())
    except (OSError, SignatureError) as exc:
        print(f"error: cannot read the public key {args.key}: {exc}", file=err)
        return 2
    check_chain = bool(args.first or args.previous_digest)
    previous: str | None = args.previous_digest
    failed = False
    for index, directory in enumerate(args.directories):
        try:
            files = read_package(directory)
        except (OSError, ValueError) as exc:
            print(f"FAILED {directory}: {exc}", file=out)
            return 1
        result = verify_package(
            files, public, previous_digest=previous, check_chain=check_chain or index > 0
        )
        if result.ok:
            print(_line(directory, result), file=out)
        else:
            failed = True
            print(f"FAILED {directory}: {result.problems[0]}", file=out)
            for problem in result.problems[1:]:
                print(f"  also: {problem}", file=out)
        previous = result.digest
    return 1 if failed else 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="kubectl mes")
    add_parser(parser.add_subparsers(dest="command", required=True))
    return run(parser.parse_args(argv))
