"""The tools that run before the virtualenv exists (setup, `make cluster`, `sudo make images`)
import the standard library only: each entry point starts under ``python -S`` (no
site-packages) from the repository root, as the Makefile runs them."""

from __future__ import annotations

import subprocess
import sys

import pytest

from hack.project import REPO

# what hack/*.mk and hack/setup.sh run with the system python3
ENTRY_POINTS = ("hack.cluster.cluster", "hack.cluster.seaweedfs", "hack.images.build")


@pytest.mark.parametrize("module", ENTRY_POINTS)
def test_entry_point_starts_without_site_packages(module: str) -> None:
    res = subprocess.run(
        [sys.executable, "-S", "-m", module, "--help"],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert "ModuleNotFoundError" not in res.stderr, res.stderr
    assert f"python3 -m {module}" in res.stdout + res.stderr


def test_every_stdlib_tool_module_imports_without_site_packages() -> None:
    """Not only the entry points: every module of hack.cluster and hack.images."""
    modules = sorted(
        ".".join(path.relative_to(REPO).with_suffix("").parts)
        for package in ("cluster", "images")
        for path in (REPO / "hack" / package).glob("*.py")
    )
    code = "import importlib, sys\nfor m in sys.argv[1:]: importlib.import_module(m)\n"
    res = subprocess.run(
        [sys.executable, "-S", "-c", code, *modules],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert res.returncode == 0, res.stderr
    assert "hack.cluster.volumes" in modules
