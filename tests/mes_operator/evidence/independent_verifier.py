"""A verifier written from docs/evidence-format.md alone: it imports nothing of Holon.

It is what a validation lead's own script would be (here in Python with ``cryptography``
and ``rfc8785``); the tests run it beside ``kubectl mes evidence verify`` on every package,
so the page and the format cannot drift apart. Returns the problems found, empty if none.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
from pathlib import Path

import rfc8785
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

SUMMARY = ("module", "namespace", "qualification", "event", "fromVersion", "toVersion")


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def check(directory: Path, public_pem: bytes, previous: str | None) -> list[str]:
    """The problems of the package in ``directory``; a file that cannot even be parsed is
    one problem (the script stops there)."""
    try:
        return _check(directory, public_pem, previous)
    except (ValueError, KeyError, TypeError, IndexError) as exc:
        return [f"unreadable: {type(exc).__name__}: {exc}"]


def _check(directory: Path, public_pem: bytes, previous: str | None) -> list[str]:
    problems: list[str] = []
    key = serialization.load_pem_public_key(public_pem)
    assert isinstance(key, Ed25519PublicKey)
    files = {
        p.relative_to(directory).as_posix(): p.read_bytes()
        for p in directory.rglob("*")
        if p.is_file()
    }
    manifest = files["manifest.sha256"]
    listed: dict[str, str] = {}
    for line in manifest.decode().splitlines():
        match = re.fullmatch(r"([0-9a-f]{64})  (.+)", line)
        if match is None:
            return ["manifest line malformed"]
        listed[match.group(2)] = match.group(1)
    if list(listed) != sorted(listed, key=lambda p: p.encode()):
        problems.append("manifest not sorted")

    envelope = json.loads(files["signature.dsse.json"])
    payload = base64.b64decode(envelope["payload"])
    kind = envelope["payloadType"].encode()
    pae = b"DSSEv1 " + str(len(kind)).encode() + b" " + kind
    pae += b" " + str(len(payload)).encode() + b" " + payload
    raw = key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    keyid = "sha256:" + _sha(raw)
    verified = False
    for signature in envelope["signatures"]:
        if signature["keyid"] != keyid:
            continue
        try:
            key.verify(base64.b64decode(signature["sig"]), pae)
        except InvalidSignature:
            continue
        verified = True
    statement = json.loads(payload)
    if not verified:
        problems.append("signature does not verify")
    elif statement["subject"] != [
        {"name": "manifest.sha256", "digest": {"sha256": _sha(manifest)}}
    ]:
        problems.append("signature is over another manifest")

    for path, hexdigest in listed.items():
        if path not in files or _sha(files[path]) != hexdigest:
            problems.append(f"{path} hash")
    unlisted = set(files) - set(listed) - {"manifest.sha256", "signature.dsse.json"}
    problems += [f"{path} unlisted" for path in sorted(unlisted)]

    document_bytes = files["package.json"]
    document = json.loads(document_bytes)
    if rfc8785.dumps(document) != document_bytes:
        problems.append("package.json not canonical")
    predicate = statement["predicate"]
    for field in SUMMARY:
        if predicate[field] != document["header"][field]:
            problems.append(f"summary {field}")
    for field in ("verdict", "previousPackageDigest"):
        if predicate[field] != document[field]:
            problems.append(f"summary {field}")
    for row in [*document["iq"], *document["oq"]]:
        if listed.get(row["evidence"]) != row["sha256"]:
            problems.append(f"row {row['id']} hash")
    if document["previousPackageDigest"] != previous:
        problems.append("chain")
    return problems


def digest(directory: Path) -> str:
    return "sha256:" + _sha((directory / "manifest.sha256").read_bytes())
