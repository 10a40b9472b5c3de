"""``mes-runtime simulate``: serve the contract modules until Ctrl-C.

Prints one line per module with its endpoint and manifest path, so that a demo script or
an operator can import the manifests straight away.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
from pathlib import Path
from types import FrameType

from mes_runtime.simulator.contract import CONTRACT_MODULES
from mes_runtime.simulator.server import SimulatorServer

__all__ = ["main"]


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="mes-runtime simulate", description="Serve simulated MTP modules over OPC UA."
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on")
    parser.add_argument(
        "--base-port",
        type=int,
        default=None,
        help="first port (one per module); free ports if unset",
    )
    parser.add_argument(
        "--time-factor", type=float, default=1.0, help="simulated seconds per real second"
    )
    parser.add_argument(
        "--manifest-dir", type=Path, default=Path("manifests"), help="where to write <module>.aml"
    )
    parser.add_argument(
        "--layout", choices=("string", "numeric"), default="string", help="OPC UA node id layout"
    )
    parser.add_argument(
        "--module",
        action="append",
        choices=sorted(CONTRACT_MODULES),
        help="serve only this module (repeatable); default: all",
    )
    parser.add_argument("--extra-tags", type=int, default=0, help="extra analog tags per module")
    parser.add_argument(
        "--extra-tag-rate", type=float, default=10.0, help="changes per second of each extra tag"
    )
    return parser


async def _serve(args: argparse.Namespace) -> None:
    server = SimulatorServer(
        modules=tuple(args.module or CONTRACT_MODULES),
        host=args.host,
        base_port=args.base_port,
        time_factor=args.time_factor,
        layout=args.layout,
        manifest_dir=args.manifest_dir,
        extra_tags=args.extra_tags,
        extra_tag_rate=args.extra_tag_rate,
    )
    async with server:
        for name, endpoint in server.endpoints.items():
            print(f"{name}\t{endpoint}\t{server.manifest_paths[name]}", flush=True)
        await asyncio.Event().wait()


def _terminate(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt  # SIGTERM (Kubernetes, process managers) stops like Ctrl-C


def main(argv: list[str]) -> int:
    args = _parser().parse_args(argv)
    # A parent (a test runner, a script) may hand SIGINT down ignored or blocked, and a
    # process started with SIGINT ignored keeps it ignored: the simulator must stop on
    # SIGINT and SIGTERM whatever it inherited.
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT, signal.SIGTERM})
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, _terminate)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_serve(args))
    return 0
