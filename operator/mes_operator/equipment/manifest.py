"""An Equipment's MTP manifest, from the ConfigMap its spec names, read by the shared reader.

Pure (no API call): the reconcile fetches the ConfigMap and hands its ``data`` and
``binaryData`` here. The manifest is read by :mod:`mtp_manifest`, the reader the runtime
imports manifests with, so the operator and the runtime cannot disagree about what a
manifest declares. What goes wrong is said as a :class:`ManifestUnavailable` naming the
ConfigMap, its key and the reader's located errors (the first few: a condition message is
read by a person).
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping

from mes_operator.equipment.outcome import ManifestUnavailable
from mtp_manifest import ManifestError, ModuleManifest, load_manifest

__all__ = ["MESSAGE_ERRORS", "manifest_from_config_map", "manifest_not_found"]

MESSAGE_ERRORS = 5
"""Reader errors named in the Verified message before it says how many more there are."""


def manifest_not_found(name: str, namespace: str) -> ManifestUnavailable:
    """The ConfigMap ``spec.manifest`` names does not exist."""
    return ManifestUnavailable(
        reason="ManifestNotFound",
        message=f"ConfigMap {namespace}/{name} named by spec.manifest not found",
    )


def manifest_from_config_map(
    data: Mapping[str, str] | None,
    binary_data: Mapping[str, str] | None,
    *,
    name: str,
    key: str,
) -> ModuleManifest | ManifestUnavailable:
    """The manifest under ``key`` (the ``.aml`` text in ``data``, or a ``.mtp`` zip or
    ``.aml`` bytes in ``binaryData``, base64 as the API returns it), or why not."""
    where = f"ConfigMap {name} key {key}"
    if data and key in data:
        raw = data[key].encode()
    elif binary_data and key in binary_data:
        try:
            raw = base64.b64decode(binary_data[key], validate=True)
        except (binascii.Error, ValueError):
            return _invalid(f"{where}: binaryData is not base64")
    else:
        return ManifestUnavailable(
            reason="ManifestNotFound",
            message=f"{where} (spec.manifest) not found: the ConfigMap has no such key "
            "in data or binaryData",
        )
    try:
        return load_manifest(raw)
    except ManifestError as exc:
        return _invalid(f"{where} is not a usable MTP manifest: {_located(exc)}")


def _located(exc: ManifestError) -> str:
    """The reader's errors, the first ``MESSAGE_ERRORS`` of them, each with its location."""
    errors = [str(i) for i in exc.issues if getattr(i, "severity", "") == "error"]
    if not errors:
        return str(exc)
    more = len(errors) - MESSAGE_ERRORS
    suffix = f"; and {more} more error(s)" if more > 0 else ""
    return "; ".join(errors[:MESSAGE_ERRORS]) + suffix


def _invalid(message: str) -> ManifestUnavailable:
    return ManifestUnavailable(reason="ManifestInvalid", message=message)
