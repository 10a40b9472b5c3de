"""Stopping background tasks, including one that swallows its first cancel."""

from __future__ import annotations

import asyncio

import pytest

from mes_runtime.kernel import tasks
from mes_runtime.kernel.tasks import cancel_and_wait


async def test_a_task_that_swallows_a_cancel_is_cancelled_again(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """As Python 3.11's ``asyncio.wait_for`` can when its wait ends as the cancel arrives:
    the loop goes on, and a single cancel would leave the caller waiting for ever (the
    equipment supervisor's stop hung a test's teardown for 300 s that way)."""
    monkeypatch.setattr(tasks, "RECANCEL_SECONDS", 0.05)
    cancels = 0

    async def stubborn() -> None:
        nonlocal cancels
        while True:
            try:
                await asyncio.sleep(3600)
            except asyncio.CancelledError:
                cancels += 1
                if cancels == 1:
                    continue  # swallowed, as the buggy wait_for does
                raise

    polite = asyncio.create_task(asyncio.sleep(3600))
    task = asyncio.create_task(stubborn())
    await asyncio.sleep(0)
    async with asyncio.timeout(10):
        await cancel_and_wait([task, polite])
    assert task.cancelled()
    assert polite.cancelled()
    assert cancels == 2
