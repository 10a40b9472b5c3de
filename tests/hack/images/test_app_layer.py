"""The app layer's pure parts: project metadata, launchers, the sources cache key, and the
scrub that makes two installs of the same wheel byte-identical."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from hack.images.app_layer import (
    SITE,
    cache_key,
    launcher,
    project_metadata,
    python_platform,
    scrub_install_records,
)

REPO = Path(__file__).resolve().parents[3]


def test_metadata_names_the_project_entry_points() -> None:
    version, scripts = project_metadata((REPO / "pyproject.toml").read_text())
    assert version.count(".") >= 2
    assert scripts["mes-runtime"] == "mes_runtime.cli:main"
    assert scripts["mes-operator"] == "mes_operator.cli:main"


def test_launcher_runs_the_entry_point_and_passes_its_exit_code(tmp_path: Path) -> None:
    (tmp_path / "fake_cli.py").write_text(
        "import sys\ndef main():\n    print('args', sys.argv[1:], sys.path[0])\n    return 3\n"
    )
    script = tmp_path / "fake"
    script.write_text(launcher("fake_cli:main"))
    proc = subprocess.run(
        [sys.executable, str(script), "serve"],
        env={"PYTHONPATH": str(tmp_path)},
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 3, proc.stderr
    # without PYTHONPATH pointing at it, the image's site directory goes first
    assert proc.stdout == f"args ['serve'] /{SITE}\n"
    assert launcher("fake_cli:main").startswith("#!/usr/bin/python3\n")


def _fake_repo(root: Path) -> Path:
    for rel, text in {
        "pyproject.toml": "[project]\nname='x'\n",
        "uv.lock": "version = 1\n",
        "README.md": "# x\n",
        "mes_runtime/__init__.py": "",
        "operator/mes_operator/__init__.py": "",
        "migrations/env.py": "",
    }.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)
    return root


def test_cache_key_follows_the_sources_only(tmp_path: Path) -> None:
    repo = _fake_repo(tmp_path)
    key = cache_key(repo, platform="x86_64-manylinux_2_36")
    assert key.startswith("app-")
    (repo / "mes_runtime" / "__pycache__").mkdir()
    (repo / "mes_runtime" / "__pycache__" / "x.cpython-311.pyc").write_bytes(b"junk")
    (repo / "tests").mkdir()
    (repo / "tests" / "test_x.py").write_text("")
    assert cache_key(repo, platform="x86_64-manylinux_2_36") == key
    assert cache_key(repo, platform="aarch64-manylinux_2_36") != key
    (repo / "migrations" / "env.py").write_text("# changed\n")
    assert cache_key(repo, platform="x86_64-manylinux_2_36") != key


def test_a_renamed_source_changes_the_key(tmp_path: Path) -> None:
    repo = _fake_repo(tmp_path)
    key = cache_key(repo, platform="p")
    (repo / "mes_runtime" / "__init__.py").rename(repo / "mes_runtime" / "other.py")
    assert cache_key(repo, platform="p") != key


def test_python_platform_is_bookworms_glibc() -> None:
    assert python_platform("x86_64") == "x86_64-manylinux_2_36"


def test_scrub_drops_install_records_and_their_record_rows(tmp_path: Path) -> None:
    info = tmp_path / "holon-0.1.0.dist-info"
    info.mkdir()
    for name in ("METADATA", "direct_url.json", "uv_cache.json"):
        (info / name).write_text("{}")
    (info / "RECORD").write_text(
        "mes_runtime/__init__.py,sha256=abc,10\n"
        "holon-0.1.0.dist-info/METADATA,sha256=def,2\n"
        "holon-0.1.0.dist-info/direct_url.json,sha256=ghi,2\n"
        "holon-0.1.0.dist-info/uv_cache.json,,\n"
        "holon-0.1.0.dist-info/RECORD,,\n"
    )
    scrub_install_records(tmp_path)
    assert sorted(p.name for p in info.iterdir()) == ["METADATA", "RECORD"]
    assert (info / "RECORD").read_text() == (
        "mes_runtime/__init__.py,sha256=abc,10\n"
        "holon-0.1.0.dist-info/METADATA,sha256=def,2\n"
        "holon-0.1.0.dist-info/RECORD,,\n"
    )
