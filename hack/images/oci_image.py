"""Pure builders for the OCI image JSON documents: config, manifest, index, layout.

Why pure: an image's identity is the digest of these bytes, so they must come out the same
for the same inputs (sorted keys, no timestamps other than the fixed epoch). Keeping them
free of I/O lets the unit tests check digests and sizes against the exact bytes.

Spec: https://github.com/opencontainers/image-spec (image-layout, manifest, config, index).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

MEDIA_INDEX = "application/vnd.oci.image.index.v1+json"
MEDIA_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
MEDIA_CONFIG = "application/vnd.oci.image.config.v1+json"
MEDIA_LAYER_GZIP = "application/vnd.oci.image.layer.v1.tar+gzip"
ANNOTATION_CONTAINERD_NAME = "io.containerd.image.name"
ANNOTATION_REF_NAME = "org.opencontainers.image.ref.name"
LAYOUT = {"imageLayoutVersion": "1.0.0"}


@dataclass(frozen=True)
class Blob:
    """Bytes addressed by their digest: the unit that goes into blobs/sha256/."""

    digest: str
    size: int


@dataclass(frozen=True)
class Layer:
    """A compressed layer blob plus the digest of its uncompressed tar (the diff_id)."""

    blob: Blob
    diff_id: str
    comment: str = ""


@dataclass(frozen=True)
class ImageSpec:
    """What a runnable image is made of, independent of how its layers were produced."""

    name: str  # repository, e.g. holon.local/mes-runtime
    tag: str
    layers: tuple[Layer, ...]
    entrypoint: tuple[str, ...]
    cmd: tuple[str, ...] = ()
    user: str = ""
    env: tuple[str, ...] = ()
    working_dir: str = ""
    exposed_ports: tuple[str, ...] = ()
    labels: dict[str, str] = field(default_factory=dict)
    architecture: str = "amd64"
    os: str = "linux"
    created_epoch: int = 0

    @property
    def ref(self) -> str:
        return f"{self.name}:{self.tag}"


def canonical_json(doc: dict[str, Any]) -> bytes:
    """The one serialisation we hash: sorted keys, no insignificant whitespace."""
    return json.dumps(doc, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def sha256_digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def blob_of(data: bytes) -> Blob:
    return Blob(digest=sha256_digest(data), size=len(data))


def _timestamp(epoch: int) -> str:
    return datetime.fromtimestamp(epoch, tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def image_config(spec: ImageSpec) -> dict[str, Any]:
    """The image configuration: what the runtime needs to start a container."""
    config: dict[str, Any] = {"Entrypoint": list(spec.entrypoint)}
    if spec.cmd:
        config["Cmd"] = list(spec.cmd)
    if spec.user:
        config["User"] = spec.user
    if spec.env:
        config["Env"] = list(spec.env)
    if spec.working_dir:
        config["WorkingDir"] = spec.working_dir
    if spec.exposed_ports:
        config["ExposedPorts"] = {port: {} for port in spec.exposed_ports}
    if spec.labels:
        config["Labels"] = dict(spec.labels)
    created = _timestamp(spec.created_epoch)
    return {
        "architecture": spec.architecture,
        "os": spec.os,
        "created": created,
        "config": config,
        "rootfs": {"type": "layers", "diff_ids": [layer.diff_id for layer in spec.layers]},
        "history": [
            {"created": created, "created_by": layer.comment or "holon hack/images/build.py"}
            for layer in spec.layers
        ],
    }


def descriptor(media_type: str, blob: Blob, **extra: Any) -> dict[str, Any]:
    return {"mediaType": media_type, "digest": blob.digest, "size": blob.size, **extra}


def image_manifest(config: Blob, layers: tuple[Layer, ...]) -> dict[str, Any]:
    return {
        "schemaVersion": 2,
        "mediaType": MEDIA_MANIFEST,
        "config": descriptor(MEDIA_CONFIG, config),
        "layers": [descriptor(MEDIA_LAYER_GZIP, layer.blob) for layer in layers],
    }


def image_index(manifest: Blob, spec: ImageSpec) -> dict[str, Any]:
    """index.json of the archive: names the manifest for containerd (`ctr images import`
    reads io.containerd.image.name) and for other OCI tools (ref.name = the tag)."""
    return {
        "schemaVersion": 2,
        "mediaType": MEDIA_INDEX,
        "manifests": [
            descriptor(
                MEDIA_MANIFEST,
                manifest,
                platform={"architecture": spec.architecture, "os": spec.os},
                annotations={
                    ANNOTATION_CONTAINERD_NAME: spec.ref,
                    ANNOTATION_REF_NAME: spec.tag,
                },
            )
        ],
    }


@dataclass(frozen=True)
class ImageDocs:
    """Every JSON document of one image, serialised, with the manifest's digest."""

    config: bytes
    manifest: bytes
    index: bytes
    layout: bytes

    @property
    def manifest_digest(self) -> str:
        return sha256_digest(self.manifest)

    @property
    def blobs(self) -> dict[str, bytes]:
        """The JSON blobs that live in blobs/sha256/ (the layers are added separately)."""
        return {sha256_digest(b): b for b in (self.config, self.manifest)}


def image_docs(spec: ImageSpec) -> ImageDocs:
    config = canonical_json(image_config(spec))
    manifest = canonical_json(image_manifest(blob_of(config), spec.layers))
    index = canonical_json(image_index(blob_of(manifest), spec))
    return ImageDocs(config=config, manifest=manifest, index=index, layout=canonical_json(LAYOUT))
