"""The previous release, as a source tree, for upgrade tests.

One place records it: ``[tool.holon] previous-release`` in ``pyproject.toml`` (a full commit
id of main). :func:`previous_release` exports that commit's tree with ``git archive`` into
``~/.cache/holon/releases/<sha>/`` once (``HOLON_RELEASES_CACHE`` overrides the folder) and
returns it; its programs run with this virtualenv's Python::

    PYTHONPATH=<checkout> python -m mes_runtime db upgrade heads

(:func:`release_env` builds that environment). The tree carries its own ``migrations/``, so
the previous release migrates with its own revisions, as it did when it was released.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import tomllib
from pathlib import Path

__all__ = ["REPO", "previous_release", "previous_release_sha", "release_env"]

REPO = Path(__file__).resolve().parents[1]


def previous_release_sha(pyproject: Path = REPO / "pyproject.toml") -> str:
    """The full commit id recorded as the previous release."""
    data = tomllib.loads(pyproject.read_text())
    sha = str(data["tool"]["holon"]["previous-release"])
    if len(sha) != 40 or any(c not in "0123456789abcdef" for c in sha):
        raise ValueError(f"previous-release must be a full commit id, not {sha!r}")
    return sha


def _cache() -> Path:
    configured = os.environ.get("HOLON_RELEASES_CACHE")
    return Path(configured) if configured else Path.home() / ".cache" / "holon" / "releases"


def previous_release(sha: str | None = None) -> Path:
    """A source tree of the commit ``sha`` (default: the recorded previous release), cached
    by commit id; written to a temporary folder and renamed, so a half-written tree is
    never found."""
    sha = sha or previous_release_sha()
    target = _cache() / sha
    if (target / "pyproject.toml").is_file():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{sha[:12]}-", dir=target.parent))
    try:
        archive = subprocess.run(
            ["git", "-C", str(REPO), "archive", "--format=tar", sha],
            check=True, capture_output=True,
        )  # fmt: skip
        subprocess.run(
            ["tar", "-x", "-C", str(staging)], input=archive.stdout, check=True, capture_output=True
        )
        try:
            staging.rename(target)
        except OSError:  # another process exported it meanwhile
            if not (target / "pyproject.toml").is_file():
                raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target


def release_env(checkout: Path, **settings: str) -> dict[str, str]:
    """The environment that runs ``checkout``'s ``mes_runtime`` with this virtualenv's
    Python: its tree first on ``PYTHONPATH``, no ``HOLON_*`` of the caller, and these
    settings (``database_url="..."`` becomes ``HOLON_DATABASE_URL``)."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("HOLON_")}
    env["PYTHONPATH"] = str(checkout)
    env.update({f"HOLON_{name.upper()}": value for name, value in settings.items()})
    return env
