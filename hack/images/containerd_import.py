"""Import OCI archives into a containerd with `ctr`, skipping images it already holds.

Why skip: a kubelet's containerd keeps running pods on the image; re-importing the same
bytes is harmless but slow, and the digest tells us whether anything changed.
"""

from __future__ import annotations

import subprocess
from pathlib import Path


def parse_images_ls(text: str, ref: str) -> str | None:
    """The manifest digest of ``ref`` in `ctr images ls` output (REF TYPE DIGEST ...)."""
    for line in text.splitlines()[1:]:
        cols = line.split()
        if len(cols) >= 3 and cols[0] == ref and cols[2].startswith("sha256:"):
            return cols[2]
    return None


def _ctr(address: str, namespace: str, *args: str) -> list[str]:
    return ["ctr", "--address", address, "--namespace", namespace, *args]


def current_digest(ref: str, *, address: str, namespace: str) -> str | None:
    out = subprocess.run(
        _ctr(address, namespace, "images", "ls", f"name=={ref}"),
        check=True,
        capture_output=True,
        text=True,
    )
    return parse_images_ls(out.stdout, ref)


def import_image(archive: Path, ref: str, digest: str, *, address: str, namespace: str) -> bool:
    """Import ``archive`` unless ``ref`` already has ``digest``. True if it imported."""
    if current_digest(ref, address=address, namespace=namespace) == digest:
        return False
    proc = subprocess.run(
        _ctr(address, namespace, "images", "import", "--all-platforms", str(archive)),
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode != 0:
        raise SystemExit(f"ctr import of {archive} failed:\n{proc.stdout}{proc.stderr}")
    got = current_digest(ref, address=address, namespace=namespace)
    if got != digest:
        raise SystemExit(f"after import, containerd has {ref} at {got}, expected {digest}")
    return True
