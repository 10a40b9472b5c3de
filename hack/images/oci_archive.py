"""Write and read OCI image-layout archives (`<name>-<version>.oci.tar`).

The archive is what `ctr images import` (and skopeo, podman, crane) take: oci-layout,
index.json and blobs/sha256/<hex>. Written in a fixed order with a fixed mtime, so the
same image gives the same file.
"""

from __future__ import annotations

import io
import json
import tarfile
from pathlib import Path

from hack.images.oci_image import ImageDocs

CHUNK = 1 << 20


def _info(name: str, *, size: int = 0, directory: bool = False) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.mtime = 0
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    if directory:
        info.type = tarfile.DIRTYPE
        info.mode = 0o755
    else:
        info.mode = 0o644
        info.size = size
    return info


def write_oci_archive(out: Path, docs: ImageDocs, layers: dict[str, Path]) -> None:
    """Write the archive atomically: ``layers`` maps each layer digest to its gzip file."""
    blobs: dict[str, bytes | Path] = {**docs.blobs, **layers}
    tmp = out.with_name(out.name + ".part")
    out.parent.mkdir(parents=True, exist_ok=True)
    with tarfile.open(tmp, mode="w", format=tarfile.PAX_FORMAT) as tar:
        tar.addfile(_info("oci-layout", size=len(docs.layout)), io.BytesIO(docs.layout))
        tar.addfile(_info("index.json", size=len(docs.index)), io.BytesIO(docs.index))
        tar.addfile(_info("blobs", directory=True))
        tar.addfile(_info("blobs/sha256", directory=True))
        for digest in sorted(blobs):
            name = "blobs/sha256/" + digest.removeprefix("sha256:")
            content = blobs[digest]
            if isinstance(content, bytes):
                tar.addfile(_info(name, size=len(content)), io.BytesIO(content))
            else:
                with content.open("rb") as f:
                    tar.addfile(_info(name, size=content.stat().st_size), f)
    tmp.replace(out)


def archived_manifest_digest(archive: Path) -> str | None:
    """The manifest digest an existing archive's index.json names, or None if unreadable."""
    try:
        with tarfile.open(archive, mode="r") as tar:
            member = tar.extractfile("index.json")
            if member is None:
                return None
            index = json.load(member)
        digest = index["manifests"][0]["digest"]
    except (OSError, tarfile.TarError, KeyError, IndexError, ValueError):
        return None
    return digest if isinstance(digest, str) else None
