"""The OCI JSON documents: digests and sizes match the exact bytes, and names sit where
containerd and other OCI tools look for them."""

from __future__ import annotations

import hashlib
import json
from dataclasses import replace

from hack.images.oci_image import (
    ANNOTATION_CONTAINERD_NAME,
    ANNOTATION_REF_NAME,
    MEDIA_CONFIG,
    MEDIA_LAYER_GZIP,
    MEDIA_MANIFEST,
    Blob,
    ImageSpec,
    Layer,
    blob_of,
    canonical_json,
    image_docs,
)


def _digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


BASE = Layer(Blob(_digest(b"base.gz"), 7), _digest(b"base.tar"), "base")
APP = Layer(Blob(_digest(b"app.gz"), 6), _digest(b"app.tar"), "app")
SPEC = ImageSpec(
    name="holon.local/mes-runtime",
    tag="1.2.3",
    layers=(BASE, APP),
    entrypoint=("mes-runtime",),
    cmd=("serve",),
    user="10001:10001",
    env=("PATH=/usr/bin", "PYTHONPATH=/opt/holon/site"),
    working_dir="/var/lib/holon",
    exposed_ports=("8000/tcp",),
    labels={"org.opencontainers.image.version": "1.2.3"},
    created_epoch=86400,
)


def test_config_carries_what_the_runtime_needs() -> None:
    config = json.loads(image_docs(SPEC).config)
    assert config["architecture"] == "amd64"
    assert config["os"] == "linux"
    assert config["created"] == "1970-01-02T00:00:00Z"
    assert config["config"] == {
        "Entrypoint": ["mes-runtime"],
        "Cmd": ["serve"],
        "User": "10001:10001",
        "Env": ["PATH=/usr/bin", "PYTHONPATH=/opt/holon/site"],
        "WorkingDir": "/var/lib/holon",
        "ExposedPorts": {"8000/tcp": {}},
        "Labels": {"org.opencontainers.image.version": "1.2.3"},
    }
    assert config["rootfs"] == {"type": "layers", "diff_ids": [BASE.diff_id, APP.diff_id]}
    assert [h["created_by"] for h in config["history"]] == ["base", "app"]


def test_config_omits_unset_fields() -> None:
    bare = ImageSpec(name="r/p", tag="t", layers=(BASE,), entrypoint=("/pause",))
    assert json.loads(image_docs(bare).config)["config"] == {"Entrypoint": ["/pause"]}


def test_manifest_descriptors_match_the_blob_bytes() -> None:
    docs = image_docs(SPEC)
    manifest = json.loads(docs.manifest)
    assert manifest["schemaVersion"] == 2
    assert manifest["mediaType"] == MEDIA_MANIFEST
    assert manifest["config"] == {
        "mediaType": MEDIA_CONFIG,
        "digest": _digest(docs.config),
        "size": len(docs.config),
    }
    assert manifest["layers"] == [
        {"mediaType": MEDIA_LAYER_GZIP, "digest": layer.blob.digest, "size": layer.blob.size}
        for layer in (BASE, APP)
    ]


def test_index_names_the_manifest_for_containerd_and_oci_tools() -> None:
    docs = image_docs(SPEC)
    index = json.loads(docs.index)
    (entry,) = index["manifests"]
    assert entry["digest"] == _digest(docs.manifest) == docs.manifest_digest
    assert entry["size"] == len(docs.manifest)
    assert entry["mediaType"] == MEDIA_MANIFEST
    assert entry["platform"] == {"architecture": "amd64", "os": "linux"}
    assert entry["annotations"] == {
        ANNOTATION_CONTAINERD_NAME: "holon.local/mes-runtime:1.2.3",
        ANNOTATION_REF_NAME: "1.2.3",
    }
    assert json.loads(docs.layout) == {"imageLayoutVersion": "1.0.0"}


def test_blobs_are_keyed_by_their_digest() -> None:
    docs = image_docs(SPEC)
    assert docs.blobs == {_digest(docs.config): docs.config, _digest(docs.manifest): docs.manifest}
    assert blob_of(docs.config) == Blob(_digest(docs.config), len(docs.config))


def test_same_spec_same_bytes_and_changes_show_in_the_digest() -> None:
    assert image_docs(SPEC) == image_docs(replace(SPEC, labels=dict(SPEC.labels)))
    other_cmd = image_docs(replace(SPEC, cmd=("db", "upgrade")))
    assert other_cmd.manifest_digest != image_docs(SPEC).manifest_digest
    # the tag lives in the index only: a retag keeps the manifest (and containerd's blobs)
    retagged = image_docs(replace(SPEC, tag="9.9.9"))
    assert retagged.manifest == image_docs(SPEC).manifest
    assert retagged.index != image_docs(SPEC).index


def test_canonical_json_is_sorted_and_compact() -> None:
    assert canonical_json({"b": 1, "a": {"d": [1, 2], "c": "é"}}) == (
        '{"a":{"c":"é","d":[1,2]},"b":1}'.encode()
    )
