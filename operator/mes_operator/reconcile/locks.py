"""One lock per resource: the timer, the change handlers and child events all reconcile
the same object, and two concurrent reconciles would report each other's work as drift.
"""

from __future__ import annotations

import asyncio

_locks: dict[tuple[str, str, str], asyncio.Lock] = {}


def lock_for(kind: str, namespace: str, name: str) -> asyncio.Lock:
    """The lock of one resource (created on first use)."""
    return _locks.setdefault((kind, namespace, name), asyncio.Lock())


def forget(kind: str, namespace: str, name: str) -> None:
    """Drop a deleted resource's lock."""
    _locks.pop((kind, namespace, name), None)
