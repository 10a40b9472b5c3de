"""Free ports for the processes a test or benchmark starts.

:func:`free_port` is the simulator's own (:func:`mes_runtime.simulator.server.free_port`,
which the shipped simulator needs at run time); test support imports it from here. A port
the OS hands out this way comes from the ephemeral range, where any outgoing connection
may take it before the server binds it; :func:`free_ports` is for a server that starts
slowly on several ports at once (SeaweedFS: eight): distinct ports below the ephemeral
range, each bound together to prove it free.
"""

from __future__ import annotations

import contextlib
import random
import socket
from pathlib import Path

from mes_runtime.simulator.server import free_port

__all__ = ["free_port", "free_ports"]

_LOW = 20000  # above the well-known and most registered service ports


def _ephemeral_start() -> int:
    try:
        return int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768


def free_ports(count: int, host: str = "127.0.0.1") -> list[int]:
    """``count`` distinct ports on ``host`` that no process holds now and that no outgoing
    connection will be given (they lie below the ephemeral range)."""
    high = _ephemeral_start()
    candidates = random.sample(range(_LOW, high), k=min(high - _LOW, 50 * count))
    chosen: list[int] = []
    with contextlib.ExitStack() as stack:
        for port in candidates:
            sock = stack.enter_context(socket.socket(socket.AF_INET, socket.SOCK_STREAM))
            try:
                sock.bind((host, port))
            except OSError:
                continue
            chosen.append(port)
            if len(chosen) == count:
                return chosen
    raise OSError(f"no {count} free ports on {host} between {_LOW} and {high}")
