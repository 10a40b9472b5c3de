"""An MTP manifest file to its XML root: unpack, safely parse, bound - then read it.

A manifest arrives as a ``.aml`` document or a zipped ``.mtp`` package. This module takes
either (bytes or a path), refuses what could cost too much before it is read (a member
unpacking to more than ``MAX_AML_BYTES``, nesting deeper than ``MAX_XML_DEPTH``) and
parses with ``defusedxml`` (no entities, no external references); interpreting the
document is the reader's job (:func:`read_document`).
"""

from __future__ import annotations

import io
import zipfile
from pathlib import Path
from typing import Any
from xml.etree.ElementTree import ParseError

import defusedxml.ElementTree as SafeET
from defusedxml import DefusedXmlException

from mtp_manifest._errors import ManifestError
from mtp_manifest._model import ModuleManifest
from mtp_manifest._reader import read_document

__all__ = ["MAX_AML_BYTES", "MAX_XML_DEPTH", "load_manifest", "parse_document"]


def load_manifest(source: bytes | Path) -> ModuleManifest:
    """Parse a ``.aml`` document or a zipped ``.mtp`` package (bytes or a file path).

    Raises :class:`ManifestError` listing every located error; the returned manifest
    carries the reader's warnings in ``issues``."""
    return read_document(parse_document(source))


def parse_document(source: bytes | Path) -> Any:
    """The XML root of a ``.aml`` or ``.mtp`` (safely parsed, bounded), nothing more."""
    data = source.read_bytes() if isinstance(source, Path) else source
    if data[:4] == b"PK\x03\x04":
        data = _aml_from_zip(data)
    try:
        root = SafeET.fromstring(data)
    except (ParseError, DefusedXmlException) as exc:
        raise ManifestError("", f"not XML: {exc}") from exc
    _check_depth(root)
    return root


#: Bounds on what a manifest may cost before it is read: an AutomationML module nests a
#: few tens of levels, and its .aml is a few MiB at most.
MAX_XML_DEPTH = 256
MAX_AML_BYTES = 64 * 1024 * 1024


def _check_depth(root: Any) -> None:
    """Refuse documents nested deeper than ``MAX_XML_DEPTH`` (the reader walks recursively)."""
    stack = [(root, 1)]
    while stack:
        element, depth = stack.pop()
        if depth > MAX_XML_DEPTH:
            raise ManifestError("", f"the document is nested deeper than {MAX_XML_DEPTH} levels")
        stack.extend((child, depth + 1) for child in element)


def _aml_from_zip(data: bytes) -> bytes:
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            names = [n for n in archive.namelist() if n.lower().endswith(".aml")]
            if len(names) != 1:
                found = "no .aml" if not names else f"{len(names)} .aml files"
                raise ManifestError("", f"MTP package must contain one .aml, found {found}")
            return _read_bounded(archive, names[0])
    except zipfile.BadZipFile as exc:
        raise ManifestError("", f"not a valid .mtp zip: {exc}") from exc


def _read_bounded(archive: zipfile.ZipFile, name: str) -> bytes:
    """A member's bytes, refusing more than ``MAX_AML_BYTES`` whatever its header claims."""
    too_big = f"{name} unpacks to more than {MAX_AML_BYTES} bytes"
    if archive.getinfo(name).file_size > MAX_AML_BYTES:
        raise ManifestError("", too_big)
    with archive.open(name) as member:
        data = member.read(MAX_AML_BYTES + 1)
    if len(data) > MAX_AML_BYTES:
        raise ManifestError("", too_big)
    return data
