"""Deterministic, gzip-compressed layer tarballs of a directory tree.

Why deterministic: containerd skips an import whose manifest digest it already holds, and
the manifest digest covers every layer digest. So the same tree must give the same bytes:
entries in sorted order, one fixed mtime, owner names dropped (numeric uid/gid kept, the
image's /etc/passwd gives them names), and a gzip header without name or timestamp.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import stat
import tarfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from hack.images.oci_image import Blob, Layer

GZIP_LEVEL = 6  # fixed: a different level gives different bytes


class _Sink(Protocol):
    def write(self, data: bytes, /) -> object: ...
    def flush(self) -> None: ...


class _HashingWriter:
    """A write-only file object that hashes and counts what passes through it."""

    def __init__(self, sink: _Sink | None) -> None:
        self.sink = sink
        self.hash = hashlib.sha256()
        self.size = 0

    def write(self, data: Any) -> int:
        chunk = bytes(data)
        self.hash.update(chunk)
        self.size += len(chunk)
        if self.sink is not None:
            self.sink.write(chunk)
        return len(chunk)

    def flush(self) -> None:
        if self.sink is not None:
            self.sink.flush()

    @property
    def digest(self) -> str:
        return "sha256:" + self.hash.hexdigest()


def walk_sorted(root: Path, *, empty_dirs: frozenset[str] = frozenset()) -> Iterator[str]:
    """Relative paths under ``root`` (not ``root`` itself), parents before children, siblings
    in byte order. Symlinks are not followed; directories listed in ``empty_dirs`` are kept
    but their contents are not (e.g. dev, proc, tmp of a root file system)."""

    def walk(rel: str) -> Iterator[str]:
        with os.scandir(root / rel if rel else root) as it:
            entries = sorted(it, key=lambda e: os.fsencode(e.name))
        for entry in entries:
            child = f"{rel}/{entry.name}" if rel else entry.name
            yield child
            if entry.is_dir(follow_symlinks=False) and child not in empty_dirs:
                yield from walk(child)

    return walk("")


@dataclass(frozen=True)
class LayerFile:
    """A layer written to disk: its compressed file and its OCI identity."""

    path: Path
    layer: Layer


def write_layer(
    root: Path,
    out: Path,
    *,
    mtime: int = 0,
    empty_dirs: frozenset[str] = frozenset(),
    comment: str = "",
) -> LayerFile:
    """Tar ``root`` into the gzip file ``out``; returns the digests of both forms."""
    out.parent.mkdir(parents=True, exist_ok=True)
    with out.open("wb") as raw:
        compressed = _HashingWriter(raw)
        with gzip.GzipFile(
            filename="", mode="wb", fileobj=compressed, mtime=0, compresslevel=GZIP_LEVEL
        ) as gz:
            plain = _HashingWriter(gz)
            # typeshed asks any fileobj for read/tell/seek; a "w|" stream only writes
            with tarfile.open(fileobj=plain, mode="w|", format=tarfile.PAX_FORMAT) as tar:  # type: ignore[call-overload]
                for rel in walk_sorted(root, empty_dirs=empty_dirs):
                    _add(tar, root / rel, rel, mtime)
    layer = Layer(
        blob=Blob(digest=compressed.digest, size=compressed.size),
        diff_id=plain.digest,
        comment=comment,
    )
    return LayerFile(path=out, layer=layer)


def _add(tar: tarfile.TarFile, path: Path, arcname: str, mtime: int) -> None:
    mode = path.lstat().st_mode
    if stat.S_ISSOCK(mode):
        return  # sockets cannot be archived and mean nothing in an image
    info = tar.gettarinfo(str(path), arcname=arcname)
    info.mtime = mtime
    info.uname = ""
    info.gname = ""
    info.pax_headers = {}
    if info.isreg():
        with path.open("rb") as f:
            tar.addfile(info, f)
    else:
        tar.addfile(info)
