"""Headless Chromium (Debian's package) for the UI tests: where it is, how it is started."""

from __future__ import annotations

import asyncio
import shutil
from typing import Any

import pytest

__all__ = ["CHROMIUM_ARGS", "needs_chromium", "wait_for_attribute_number"]

#: No sandbox (tests run as root in containers), no GPU, no network of its own.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

#: Marks for a module of browser tests: skipped where Debian's chromium is not installed.
needs_chromium = [
    pytest.mark.browser,
    pytest.mark.skipif(shutil.which("chromium") is None, reason="Debian's chromium is missing"),
]


async def wait_for_attribute_number(
    locator: Any, name: str, above: float, *, patience: float = 60.0
) -> int:
    """Until the element's numeric attribute ``name`` exceeds ``above``; its value then.

    (``page.wait_for_function`` with a string evaluates it, which the UI's content security
    policy forbids: ``script-src 'self'``.)"""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + patience  # a wait, not a timing assertion
    while True:
        value = int(await locator.get_attribute(name) or 0)
        if value > above:
            return value
        assert loop.time() < deadline, f"{name} stayed at {value}, not above {above}"
        await asyncio.sleep(0.1)
