"""The built wheel works on its own: installed into a fresh venv, outside the checkout.

Catches what the development venv hides: missing runtime dependencies, data files left out
of the wheel (migrations, UI assets, recipe templates), console scripts that do not resolve.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    uv = shutil.which("uv")
    if uv is None:
        pytest.skip("uv is not on PATH (make setup installs it)")
    work = tmp_path_factory.mktemp("wheel")
    subprocess.run(
        [uv, "build", "--wheel", "--out-dir", str(work / "dist"), str(ROOT)],
        check=True,
        capture_output=True,
    )
    (wheel,) = (work / "dist").glob("holon-*.whl")
    venv = work / "venv"
    subprocess.run([uv, "venv", "-q", "--python", "3.11", str(venv)], check=True)
    subprocess.run(
        [uv, "pip", "install", "-q", "--python", str(venv / "bin" / "python"), str(wheel)],
        check=True,
        capture_output=True,
    )
    return venv


def _run(venv: Path, *args: str, cwd: Path) -> str:
    result = subprocess.run(
        [str(venv / "bin" / args[0]), *args[1:]],
        cwd=cwd,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def test_installed_runtime_migrates_its_database(installed: Path, tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'runtime.db'}"
    _run(installed, "mes-runtime", "db", "--database-url", url, "upgrade", cwd=tmp_path)
    current = _run(installed, "mes-runtime", "db", "--database-url", url, "current", cwd=tmp_path)
    heads = _run(installed, "mes-runtime", "db", "heads", cwd=tmp_path)
    assert current.split()
    assert set(current.split()) <= set(heads.split())


def test_installed_packages_carry_their_data_and_entry_points(
    installed: Path, tmp_path: Path
) -> None:
    code = (
        "from mes_runtime.library import template_names; "
        "from mes_runtime.api.app import UI_DIR; "
        "import mes_operator.handlers; "
        "assert (UI_DIR / 'index.html').is_file(), UI_DIR; "
        "print(' '.join(template_names()))"
    )
    out = _run(installed, "python", "-c", code, cwd=tmp_path)
    assert "mab-fedbatch-demo" in out.split()
    assert "usage: mes-runtime" in _run(installed, "mes-runtime", "--help", cwd=tmp_path)
    assert _run(installed, "kubectl-mes", "--help", cwd=tmp_path)


def test_installed_wheel_holds_no_test_support(installed: Path, tmp_path: Path) -> None:
    code = (
        "import importlib.util as u; "
        "print([m for m in ('holon_testing', 'bench', 'tests') if u.find_spec(m)])"
    )
    assert _run(installed, "python", "-c", code, cwd=tmp_path).strip() == "[]"
