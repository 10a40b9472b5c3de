"""A package on disk: every regular file under a directory, by relative POSIX path."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

__all__ = ["read_package", "write_package"]


def read_package(root: Path) -> dict[str, bytes]:
    """Path → content of every file under ``root``; a symbolic link is refused (a package
    is plain files, and a link could point anywhere)."""
    if not root.is_dir():
        raise FileNotFoundError(f"{root} is not a directory")
    out: dict[str, bytes] = {}
    for path in sorted(root.rglob("*")):
        relative = path.relative_to(root).as_posix()
        if path.is_symlink():
            raise ValueError(f"{relative} is a symbolic link; a package holds plain files")
        if path.is_file():
            out[relative] = path.read_bytes()
    return out


def write_package(root: Path, files: Mapping[str, bytes]) -> None:
    """Write ``files`` under ``root`` (created; an existing file is refused, not replaced)."""
    root.mkdir(parents=True, exist_ok=True)
    for relative, data in files.items():
        target = root / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        with target.open("xb") as out:
            out.write(data)
