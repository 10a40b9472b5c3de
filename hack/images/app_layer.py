"""The app layer: Holon's own wheel and its locked dependencies, for Debian's python3.

Why a flat target directory and not a virtualenv: a venv's interpreter link points at the
host's python; a plain directory on PYTHONPATH works with the image's /usr/bin/python3.
Dependencies come from uv.lock (`uv export --frozen`, hash-checked), built for the image's
platform (CPython 3.11, glibc 2.36 of bookworm), not the host's.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import sys
import tomllib
from collections.abc import Iterable
from pathlib import Path

from hack.images.base_rootfs import HOLON_HOME, HOLON_UID
from hack.images.run_progress import run_logged

PYTHON_VERSION = "3.11"
GLIBC = "2_36"  # Debian bookworm
SITE = "opt/holon/site"
BIN = "usr/local/bin"
# Bump when the steps below change what ends up in the layer.
RECIPE_VERSION = "1"
# What goes into the wheel (and so into the layer).
SOURCE_FILES = ("pyproject.toml", "uv.lock", "README.md")
SOURCE_DIRS = ("mes_runtime", "mtp_manifest", "operator", "migrations")
RECIPE_FILES = (Path(__file__), Path(__file__).with_name("layer_tar.py"))
SKIP_PARTS = frozenset({"__pycache__", ".mypy_cache", ".ruff_cache", ".pytest_cache"})


def project_metadata(pyproject: str) -> tuple[str, dict[str, str]]:
    """(version, scripts) from pyproject.toml's text."""
    project = tomllib.loads(pyproject)["project"]
    return str(project["version"]), {str(k): str(v) for k, v in project["scripts"].items()}


def launcher(entry_point: str) -> str:
    """A console-script launcher for the image's python3; it finds the site directory
    even when PYTHONPATH was cleared (e.g. by an `env -i` in a probe)."""
    module, _, func = entry_point.partition(":")
    return (
        "#!/usr/bin/python3\n"
        "import sys\n"
        f"if '/{SITE}' not in sys.path:\n"
        f"    sys.path.insert(0, '/{SITE}')\n"
        f"from {module} import {func}\n"
        f"sys.exit({func}())\n"
    )


def source_files(repo: Path) -> Iterable[Path]:
    for name in SOURCE_FILES:
        yield repo / name
    for top in SOURCE_DIRS:
        for dirpath, dirnames, filenames in os.walk(repo / top):
            dirnames[:] = sorted(d for d in dirnames if d not in SKIP_PARTS)
            for name in sorted(filenames):
                if not name.endswith((".pyc", ".pyo")):
                    yield Path(dirpath) / name


def cache_key(repo: Path, *, platform: str) -> str:
    """Hash of the sources that go into the wheel, the lock, and this recipe."""
    h = hashlib.sha256()
    for part in (RECIPE_VERSION, PYTHON_VERSION, platform):
        h.update(part.encode() + b"\0")
    for recipe in RECIPE_FILES:  # this recipe itself: editing it rebuilds (in seconds)
        h.update(recipe.read_bytes())
    for path in source_files(repo):
        h.update(path.relative_to(repo).as_posix().encode() + b"\0")
        h.update(hashlib.sha256(path.read_bytes()).digest())
    return f"app-{h.hexdigest()[:16]}"


def python_platform(machine: str) -> str:
    return f"{machine}-manylinux_{GLIBC}"


def uv_bin() -> str:
    """uv from PATH, else where `pip install --user uv` (hack/setup.sh) puts it."""
    found = shutil.which("uv") or shutil.which("uv", path=str(Path.home() / ".local" / "bin"))
    if found is None:
        raise SystemExit("uv is not installed: run `make setup`")
    return found


def build_app_root(repo: Path, stage: Path, work: Path, *, machine: str) -> None:
    """Fill ``stage`` with the layer's tree: /opt/holon/site, launchers, the data dir."""
    site = stage / SITE
    site.mkdir(parents=True)
    dist = work / "dist"
    run_logged("wheel", [uv_bin(), "build", "--wheel", "-o", str(dist)], cwd=repo)
    wheels = sorted(dist.glob("*.whl"))
    if len(wheels) != 1:
        raise SystemExit(f"expected one wheel in {dist}, found {wheels}")
    reqs = work / "requirements.txt"
    run_logged(
        "lock",
        [uv_bin(), "export", "--frozen", "--no-dev", "--no-emit-project", "-o", str(reqs)],
        cwd=repo,
    )
    target = [
        uv_bin(),
        "pip",
        "install",
        "--target",
        str(site),
        "--python-version",
        PYTHON_VERSION,
        "--python-platform",
        python_platform(machine),
        "--no-deps",
    ]
    run_logged("deps", [*target, "-r", str(reqs)], cwd=repo)
    run_logged("holon", [*target, str(wheels[0])], cwd=repo)
    shutil.rmtree(site / "bin", ignore_errors=True)  # host-python shebangs; ours are below
    scrub_install_records(site)
    _compile(site)
    _, scripts = project_metadata((repo / "pyproject.toml").read_text())
    bindir = stage / BIN
    bindir.mkdir(parents=True)
    for name, entry in sorted(scripts.items()):
        path = bindir / name
        path.write_text(launcher(entry))
        path.chmod(0o755)
    home = stage / HOLON_HOME.lstrip("/")
    home.mkdir(parents=True)
    os.chown(home, HOLON_UID, HOLON_UID)
    home.chmod(0o750)
    for directory in (stage / "opt", stage / "opt" / "holon", stage / "usr", stage / "usr/local"):
        directory.chmod(0o755)


# Installer files that record where and when uv installed from (the wheel's temporary path):
# they would make two builds of the same sources differ, and nothing at run time reads them.
INSTALL_RECORDS = ("direct_url.json", "uv_cache.json")


def scrub_install_records(site: Path) -> None:
    """Drop INSTALL_RECORDS from every dist-info and from its RECORD."""
    for info in sorted(site.glob("*.dist-info")):
        for name in INSTALL_RECORDS:
            (info / name).unlink(missing_ok=True)
        record = info / "RECORD"
        if record.is_file():
            rows = record.read_text().splitlines(keepends=True)
            kept = [r for r in rows if r.split(",", 1)[0].rsplit("/", 1)[-1] not in INSTALL_RECORDS]
            record.write_text("".join(kept))


def _compile(site: Path) -> None:
    """Byte-compile with hash-based pycs: the layer's fixed mtimes would make timestamp
    pycs look stale, and a read-only root cannot cache them. The recorded file names are
    the image's (/opt/holon/site/...), not the build directory's, and a fixed hash seed
    keeps set constants in one order, so the same sources give the same bytes. Needs a
    3.11 interpreter (the image's version); without one the image still works, only
    starts slower."""
    python = sys.executable if sys.version_info[:2] == (3, 11) else shutil.which("python3.11")
    if python is None:
        print("  [compile] no python3.11 on the host: skipping byte-compilation", flush=True)
        return
    env = {**os.environ, "PYTHONHASHSEED": "0"}
    run_logged(
        "compile",
        [
            python,
            "-m",
            "compileall",
            "-q",
            "-j",
            "0",
            "--invalidation-mode",
            "unchecked-hash",
            "-s",
            str(site),
            "-p",
            f"/{SITE}",
            str(site),
        ],
        env=env,
    )
