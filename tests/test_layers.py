"""The layer contracts in ``pyproject.toml`` catch a real violation, and the package graph
check (``python -m holon_testing.layers``) catches a cycle.

Each case copies the sources to a temporary directory, breaks one rule there with one
import line, and runs the real tool on the copy (put first on ``PYTHONPATH``): the checkout
itself is never touched, and the unbroken copy must pass, so the tool is shown to decide.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


@pytest.fixture
def sources(tmp_path: Path) -> Path:
    """A copy of the packages and the contracts; edit it freely."""
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    shutil.copytree(ROOT / "mes_runtime", tmp_path / "mes_runtime", ignore=ignore)
    shutil.copytree(ROOT / "mtp_manifest", tmp_path / "mtp_manifest", ignore=ignore)
    shutil.copytree(
        ROOT / "operator" / "mes_operator", tmp_path / "operator" / "mes_operator", ignore=ignore
    )
    shutil.copytree(ROOT / "holon_testing", tmp_path / "holon_testing", ignore=ignore)
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    return tmp_path


def _run(sources: Path, *command: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": f"{sources}{os.pathsep}{sources / 'operator'}"}
    return subprocess.run(
        command, cwd=sources, env=env, capture_output=True, text=True, check=False, timeout=120
    )


def _add_import(sources: Path, module: str, line: str) -> None:
    base = sources / "operator" if module.startswith("mes_operator.") else sources
    path = base / Path(*module.split(".")).with_suffix(".py")
    path.write_text(path.read_text() + f"\n{line}  # deliberate break\n")


def _lint_imports(sources: Path) -> subprocess.CompletedProcess[str]:
    return _run(sources, str(LINT_IMPORTS), "--no-cache", "--no-logo")


def test_contracts_pass_on_the_tree(sources: Path) -> None:
    result = _lint_imports(sources)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


@pytest.mark.parametrize(
    ("module", "line", "broken"),
    [
        pytest.param(
            "mes_runtime.domain.limits",
            "import mes_runtime.engine.ports",
            "Runtime layers",
            id="domain-imports-engine",
        ),
        pytest.param(
            "mes_runtime.engine.plan",
            "import sqlalchemy",
            "The engine reaches equipment and storage only through its ports",
            id="engine-imports-sqlalchemy",
        ),
        pytest.param(
            "mes_operator.drift",
            "import mes_runtime.settings",
            "Operator and runtime talk through Kubernetes and HTTP",
            id="operator-imports-runtime",
        ),
        pytest.param(
            "mtp_manifest._presence",
            "import asyncua",
            "The shared MTP manifest reader is pure",
            id="manifest-reader-imports-asyncua",
        ),
        pytest.param(
            "mtp_manifest._model",
            "import mes_runtime.kernel.codes",
            "The shared MTP manifest reader is pure",
            id="manifest-reader-imports-runtime",
        ),
        pytest.param(
            "mes_runtime.simulator.cli",
            "import holon_testing.net",
            "What ships never imports the test support",
            id="runtime-imports-test-support",
        ),
    ],
)
def test_a_broken_contract_fails_lint_imports(
    sources: Path, module: str, line: str, broken: str
) -> None:
    _add_import(sources, module, line)
    result = _lint_imports(sources)
    assert result.returncode != 0, result.stdout
    assert re.search(r"Contracts: \d+ kept, [1-9]\d* broken", result.stdout), result.stdout
    assert broken in result.stdout.split("Broken contracts")[1]
    assert module in result.stdout


def test_layers_prints_the_package_graph(sources: Path) -> None:
    result = _run(sources, sys.executable, "-m", "holon_testing.layers")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "  engine       -> domain, kernel" in result.stdout.splitlines()
    assert "no cycles between packages" in result.stdout


def test_layers_fails_on_a_cycle_and_names_the_imports(sources: Path) -> None:
    _add_import(sources, "mes_runtime.kernel.clock", "import mes_runtime.domain.states")
    result = _run(sources, sys.executable, "-m", "holon_testing.layers")
    assert result.returncode == 1, result.stdout
    assert "CYCLE between domain, kernel" in result.stdout
    assert "mes_runtime.kernel.clock imports mes_runtime.domain.states" in result.stdout
