"""Ports for servers that start slowly on several ports: distinct, free, and below the
ephemeral range (so no outgoing connection is handed one before the server binds it)."""

from __future__ import annotations

import socket

from holon_testing.net import _ephemeral_start, free_ports


def test_free_ports_are_distinct_bindable_and_below_the_ephemeral_range() -> None:
    ports = free_ports(8)
    assert len(set(ports)) == 8
    assert all(20000 <= p < _ephemeral_start() for p in ports)
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", ports[0]))  # free: the check held it only while choosing


def test_a_port_someone_holds_is_never_chosen() -> None:
    held = []
    try:
        for port in free_ports(200):
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.bind(("127.0.0.1", port))
            held.append(sock)
        taken = {s.getsockname()[1] for s in held}
        assert not taken & set(free_ports(20))
    finally:
        for sock in held:
            sock.close()
