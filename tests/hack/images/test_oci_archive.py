"""OCI archives hold a layout whose every descriptor resolves to a blob with that digest."""

from __future__ import annotations

import hashlib
import json
import tarfile
from pathlib import Path

from hack.images.layer_tar import write_layer
from hack.images.oci_archive import archived_manifest_digest, write_oci_archive
from hack.images.oci_image import ImageSpec, image_docs


def _image(tmp_path: Path) -> tuple[ImageSpec, dict[str, Path]]:
    root = tmp_path / "root"
    root.mkdir()
    (root / "pause").write_bytes(b"\x7fELF pretend")
    layer = write_layer(root, tmp_path / "layer.tar.gz")
    spec = ImageSpec(
        name="holon.local/pause", tag="3.10", layers=(layer.layer,), entrypoint=("/pause",)
    )
    return spec, {layer.layer.blob.digest: layer.path}


def _read(archive: Path) -> dict[str, bytes]:
    with tarfile.open(archive) as tar:
        out = {}
        for m in tar.getmembers():
            if m.isfile():
                f = tar.extractfile(m)
                assert f is not None
                out[m.name] = f.read()
        return out


def test_every_descriptor_resolves_to_a_matching_blob(tmp_path: Path) -> None:
    spec, layers = _image(tmp_path)
    docs = image_docs(spec)
    archive = tmp_path / "out" / "pause-3.10.oci.tar"
    write_oci_archive(archive, docs, layers)
    files = _read(archive)
    assert json.loads(files["oci-layout"]) == {"imageLayoutVersion": "1.0.0"}
    blobs = {
        "sha256:" + name.removeprefix("blobs/sha256/"): data
        for name, data in files.items()
        if name.startswith("blobs/sha256/")
    }
    for digest, data in blobs.items():
        assert digest == "sha256:" + hashlib.sha256(data).hexdigest()
    index = json.loads(files["index.json"])
    manifest = json.loads(blobs[index["manifests"][0]["digest"]])
    wanted = [manifest["config"], *manifest["layers"]]
    for desc in wanted:
        assert len(blobs[desc["digest"]]) == desc["size"]
    assert len(blobs) == 1 + len(wanted)
    assert not list(archive.parent.glob("*.part"))


def test_archive_is_reproducible_and_reports_its_manifest(tmp_path: Path) -> None:
    spec, layers = _image(tmp_path)
    docs = image_docs(spec)
    a, b = tmp_path / "a.oci.tar", tmp_path / "b.oci.tar"
    write_oci_archive(a, docs, layers)
    write_oci_archive(b, docs, layers)
    assert a.read_bytes() == b.read_bytes()
    assert archived_manifest_digest(a) == docs.manifest_digest


def test_unreadable_archives_have_no_manifest(tmp_path: Path) -> None:
    assert archived_manifest_digest(tmp_path / "missing.oci.tar") is None
    broken = tmp_path / "broken.oci.tar"
    broken.write_bytes(b"not a tar")
    assert archived_manifest_digest(broken) is None
    no_index = tmp_path / "empty.oci.tar"
    with tarfile.open(no_index, "w"):
        pass
    assert archived_manifest_digest(no_index) is None
