"""Headless Chromium (Debian's package) for the UI tests: where it is, how it is started."""

from __future__ import annotations

import shutil

import pytest

__all__ = ["CHROMIUM_ARGS", "needs_chromium"]

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
