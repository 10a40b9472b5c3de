"""Stopping background tasks: cancel them all, then wait for each to end."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Sequence

__all__ = ["cancel_and_wait"]


async def cancel_and_wait(tasks: Sequence[asyncio.Task[None]]) -> None:
    """Cancel every task, then wait until each has ended (its cancellation swallowed)."""
    for task in tasks:
        task.cancel()
    for task in tasks:
        with contextlib.suppress(asyncio.CancelledError):
            await task
