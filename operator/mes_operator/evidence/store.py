"""Where packages are kept: an immutable ConfigMap per package, in the module's namespace.

The embedded default, so that every cluster keeps its evidence with nothing else to run: the
package as one reproducible ``tar.gz`` in ``binaryData``, ``immutable: true`` (the API server
refuses any change to its data; only a deletion, which RBAC can deny, removes it), named after
the Qualification and labelled with the module. A package must stay under
:data:`MAX_PACKED` (a ConfigMap holds at most 1 MiB).

Locations are URIs: ``configmap:<namespace>/<name>``.
"""

from __future__ import annotations

import base64
import gzip
import io
import tarfile
from collections.abc import Mapping

from lightkube import ApiError, AsyncClient
from lightkube.models.meta_v1 import ObjectMeta
from lightkube.resources.core_v1 import ConfigMap

from mes_operator.evidence.manifest import ManifestError, _check_path

__all__ = [
    "MAX_PACKED",
    "StoreError",
    "fetch",
    "files_of",
    "keep",
    "pack",
    "parse_location",
    "unpack",
]

MAX_PACKED = 900 * 1024
ARCHIVE = "package.tar.gz"
SCHEME = "configmap:"


class StoreError(RuntimeError):
    """A package could not be kept or fetched (the message says which and why)."""


def pack(files: Mapping[str, bytes]) -> bytes:
    """``files`` as a ``tar.gz`` whose bytes depend on nothing but their paths and contents."""
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for path in sorted(files):
            info = tarfile.TarInfo(path)
            info.size = len(files[path])
            info.mode = 0o444
            info.mtime = 0
            tar.addfile(info, io.BytesIO(files[path]))
    return gzip.compress(raw.getvalue(), mtime=0)


def unpack(data: bytes) -> dict[str, bytes]:
    """The files of a packed package; anything but plain files at safe paths is refused."""
    out: dict[str, bytes] = {}
    try:
        with tarfile.open(fileobj=io.BytesIO(gzip.decompress(data)), mode="r") as tar:
            for member in tar.getmembers():
                if not member.isfile():
                    raise StoreError(f"{member.name}: a package holds plain files only")
                try:
                    _check_path(member.name)
                except ManifestError as exc:
                    if member.name not in {"manifest.sha256", "signature.dsse.json"}:
                        raise StoreError(str(exc)) from None
                extracted = tar.extractfile(member)
                assert extracted is not None
                out[member.name] = extracted.read()
    except (OSError, tarfile.TarError, EOFError) as exc:
        raise StoreError(f"not a packed package: {exc}") from None
    return out


def _name(qualification: str) -> str:
    return f"evidence-{qualification}"[:253]


async def keep(
    client: AsyncClient,
    *,
    namespace: str,
    qualification: str,
    module: str,
    files: Mapping[str, bytes],
) -> str:
    """Keep the package for ``qualification``; its location. Keeping the same bytes again
    (a reconcile that crashed after keeping them) is a no-op; different bytes are refused."""
    packed = pack(files)
    if len(packed) > MAX_PACKED:
        raise StoreError(
            f"the package of {qualification} is {len(packed)} bytes packed; a ConfigMap "
            f"holds at most {MAX_PACKED}"
        )
    name = _name(qualification)
    obj = ConfigMap(
        metadata=ObjectMeta(
            name=name,
            namespace=namespace,
            labels={
                "app.kubernetes.io/managed-by": "holon-operator",
                "mes.holon.dev/module": module,
                "mes.holon.dev/qualification": qualification,
            },
        ),
        immutable=True,
        binaryData={ARCHIVE: base64.b64encode(packed).decode()},
    )
    try:
        await client.create(obj)
    except ApiError as exc:
        if exc.status.code != 409:
            raise StoreError(f"cannot keep {name}: {exc.status.message}") from None
        existing = await client.get(ConfigMap, name, namespace=namespace)
        kept = base64.b64decode((existing.binaryData or {}).get(ARCHIVE, ""))
        if kept != packed:
            raise StoreError(
                f"{name} already holds another package; it is never replaced"
            ) from None
    return f"{SCHEME}{namespace}/{name}"


def parse_location(location: str) -> tuple[str, str]:
    """``(namespace, name)`` of the ConfigMap a location names."""
    parts = location.removeprefix(SCHEME).split("/")
    if not location.startswith(SCHEME) or len(parts) != 2 or not all(parts):
        raise StoreError(f"unknown evidence location {location!r} (expected configmap:NS/NAME)")
    return parts[0], parts[1]


def files_of(location: str, binary_data: Mapping[str, str] | None) -> dict[str, bytes]:
    """The package files in the ``binaryData`` of the ConfigMap at ``location``."""
    data = (binary_data or {}).get(ARCHIVE)
    if data is None:
        raise StoreError(f"{location} holds no {ARCHIVE}")
    return unpack(base64.b64decode(data))


async def fetch(client: AsyncClient, location: str) -> dict[str, bytes]:
    """The files of the package kept at ``location``."""
    namespace, name = parse_location(location)
    try:
        obj = await client.get(ConfigMap, name, namespace=namespace)
    except ApiError as exc:
        raise StoreError(f"cannot read {location}: {exc.status.message}") from None
    return files_of(location, obj.binaryData)
