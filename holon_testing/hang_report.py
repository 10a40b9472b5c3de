"""What an asyncio test was waiting for when it hung.

pytest-timeout prints the threads' stacks when a test runs out of time; for an asyncio test
that shows only the event loop's ``select``. This plugin prints, a few seconds before the
timeout, the stack of every task of the loop running in the main thread: the ``await`` that
never finished. Registered by ``tests/conftest.py``; it changes no outcome.
"""

from __future__ import annotations

import asyncio
import gc
import inspect
import sys
import threading
from types import FrameType

import pytest

EARLY_SECONDS = 5.0  # report this long before pytest-timeout fails the test


def _main_loop() -> asyncio.AbstractEventLoop | None:
    """The event loop running in the main thread, found on its stack (another thread cannot
    ask ``asyncio.get_running_loop``)."""
    frame: FrameType | None = sys._current_frames().get(threading.main_thread().ident or 0)
    while frame is not None:
        candidate = frame.f_locals.get("self")
        if isinstance(candidate, asyncio.AbstractEventLoop):
            return candidate
        frame = frame.f_back
    return None


def report_tasks(title: str) -> None:
    """Print the stack of every pending task of the main thread's loop to stderr."""
    loop = _main_loop()
    out = sys.stderr
    print(f"\n{'+' * 20} {title}: asyncio tasks {'+' * 20}", file=out)
    if loop is None:
        print("(no event loop running in the main thread)", file=out)
        return
    for task in list(asyncio.all_tasks(loop)):
        print(f"--- {task.get_name()}", file=out)
        for line in _awaiting(task.get_coro()):
            print(f"    {line}", file=out)


def _awaiting(awaitable: object) -> list[str]:
    """Where a suspended coroutine waits, outermost first: its ``await`` chain (a task's own
    stack shows only its outermost frame)."""
    lines: list[str] = []
    seen = 0
    while awaitable is not None and seen < 100:
        seen += 1
        frame = getattr(awaitable, "cr_frame", None) or getattr(awaitable, "ag_frame", None)
        if frame is not None:
            code = frame.f_code
            lines.append(f"{code.co_filename}:{frame.f_lineno} in {code.co_name}")
        else:
            lines.append(repr(awaitable))
        awaitable = (
            getattr(awaitable, "cr_await", None)
            or getattr(awaitable, "ag_await", None)
            or _generator_behind(awaitable)
        )
    return lines


def _generator_behind(awaitable: object) -> object | None:
    """The async generator an ``athrow``/``asend`` step drives (an ``async with`` exiting an
    ``asynccontextmanager`` waits on one; it names its generator only to the collector)."""
    if type(awaitable).__name__ not in {"async_generator_athrow", "async_generator_asend"}:
        return None
    for referent in gc.get_referents(awaitable):
        if inspect.isasyncgen(referent):
            return referent
    return None


class HangReport:
    """pytest-timeout's timer hooks, extended by an earlier report (never consuming them)."""

    def __init__(self) -> None:
        self._timers: dict[str, threading.Timer] = {}

    @pytest.hookimpl(tryfirst=True)  # pytest-timeout's own answer ends the hook
    def pytest_timeout_set_timer(self, item: pytest.Item, settings: object) -> None:
        timeout = float(getattr(settings, "timeout", 0) or 0)
        if timeout <= EARLY_SECONDS:
            return
        timer = threading.Timer(timeout - EARLY_SECONDS, report_tasks, args=(item.nodeid,))
        timer.daemon = True
        timer.start()
        self._timers[item.nodeid] = timer

    @pytest.hookimpl(tryfirst=True)  # pytest-timeout's own answer ends the hook
    def pytest_timeout_cancel_timer(self, item: pytest.Item) -> None:
        timer = self._timers.pop(item.nodeid, None)
        if timer is not None:
            timer.cancel()
