"""The packed form a package is kept in: reproducible, and nothing but plain files at safe
paths comes out of it."""

from __future__ import annotations

import gzip
import io
import tarfile

import pytest
from mes_operator.evidence.store import (
    StoreError,
    files_of,
    pack,
    parse_location,
    unpack,
)

FILES = {
    "package.json": b"{}",
    "evidence/iq/facts.json": b"{}\n",
    "manifest.sha256": b"x",
    "signature.dsse.json": b"{}",
}


def test_packing_is_reproducible_and_round_trips() -> None:
    assert pack(FILES) == pack(dict(reversed(list(FILES.items()))))
    assert unpack(pack(FILES)) == FILES


def _tar(*members: tuple[tarfile.TarInfo, bytes]) -> bytes:
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w") as tar:
        for info, data in members:
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return gzip.compress(raw.getvalue())


@pytest.mark.parametrize("path", ["../escape", "/etc/passwd", "evidence/../../x", "a//b"])
def test_unsafe_paths_are_refused(path: str) -> None:
    with pytest.raises(StoreError, match="not a path a package may list"):
        unpack(_tar((tarfile.TarInfo(path), b"x")))


def test_links_and_garbage_are_refused() -> None:
    link = tarfile.TarInfo("evidence/link")
    link.type = tarfile.SYMTYPE
    link.linkname = "/etc/passwd"
    with pytest.raises(StoreError, match="plain files only"):
        unpack(_tar((link, b"")))
    with pytest.raises(StoreError, match="not a packed package"):
        unpack(b"not gzip at all")


def test_locations_are_parsed_strictly() -> None:
    assert parse_location("configmap:plant-a/evidence-q1") == ("plant-a", "evidence-q1")
    for bad in ("s3://bucket/key", "configmap:plant-a", "configmap:/x", "configmap:a/b/c"):
        with pytest.raises(StoreError, match="unknown evidence location"):
            parse_location(bad)
    with pytest.raises(StoreError, match=r"holds no package\.tar\.gz"):
        files_of("configmap:a/b", {})
