"""Stopping background tasks: cancel them all, then wait for each to end."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Sequence
from typing import Any

__all__ = ["cancel_and_wait"]

#: how long a cancelled task may run on before it is cancelled again: a library that
#: swallows a cancel (Python 3.11's ``asyncio.wait_for`` does, when its wait ends at the
#: same moment) would otherwise keep the caller waiting for ever
RECANCEL_SECONDS = 1.0


async def cancel_and_wait(tasks: Sequence[asyncio.Task[Any]]) -> None:
    """Cancel every task, then wait until each has ended (its cancellation swallowed),
    cancelling again any that goes on running."""
    for task in tasks:
        task.cancel()
    for task in tasks:
        while not task.done():
            await asyncio.wait({task}, timeout=RECANCEL_SECONDS)
            if not task.done():
                task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
