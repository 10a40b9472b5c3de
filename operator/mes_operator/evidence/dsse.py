"""The operator's signature over a package: a DSSE envelope (v1) whose payload is an
in-toto Statement v1 naming ``manifest.sha256`` and its SHA-256, signed with ed25519.

DSSE signs the pre-authentication encoding (PAE) of the payload type and the payload, so a
signature can never be replayed for a payload of another type. The key id is
``sha256:<hex>`` of the 32 raw bytes of the public key.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from mes_operator.evidence.canonical import canonical, digest, sha256_hex

__all__ = [
    "PAYLOAD_TYPE",
    "PREDICATE_TYPE",
    "STATEMENT_TYPE",
    "SignatureError",
    "Statement",
    "key_id",
    "load_private_key",
    "load_public_key",
    "manifest_statement",
    "open_envelope",
    "pae",
    "public_pem",
    "sign_envelope",
]

PAYLOAD_TYPE = "application/vnd.in-toto+json"
STATEMENT_TYPE = "https://in-toto.io/Statement/v1"
PREDICATE_TYPE = "https://holon.dev/evidence/v1"


class SignatureError(ValueError):
    """The envelope is malformed, signed by another key, or its signature does not hold."""


@dataclass(frozen=True, slots=True)
class Statement:
    """What the operator signs: the manifest's name and digest, and a summary of the
    package (module, event, versions, verdict, chain link) as the predicate."""

    subject_name: str
    subject_sha256: str
    predicate: Mapping[str, Any]

    def to_json(self) -> dict[str, Any]:
        return {
            "_type": STATEMENT_TYPE,
            "subject": [{"name": self.subject_name, "digest": {"sha256": self.subject_sha256}}],
            "predicateType": PREDICATE_TYPE,
            "predicate": dict(self.predicate),
        }


def pae(payload_type: str, payload: bytes) -> bytes:
    """DSSE v1 pre-authentication encoding of ``payload``."""
    kind = payload_type.encode()
    return b"DSSEv1 %d %s %d %s" % (len(kind), kind, len(payload), payload)


def key_id(public: Ed25519PublicKey) -> str:
    raw = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return digest(raw)


def public_pem(public: Ed25519PublicKey) -> bytes:
    """The public key as published (ConfigMap, chart notes): PEM SubjectPublicKeyInfo."""
    return public.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def load_public_key(pem: bytes) -> Ed25519PublicKey:
    try:
        key = serialization.load_pem_public_key(pem)
    except ValueError as exc:
        raise SignatureError(f"the public key is not a PEM public key: {exc}") from None
    if not isinstance(key, Ed25519PublicKey):
        raise SignatureError(f"the public key is {type(key).__name__}, not ed25519")
    return key


def load_private_key(pem: bytes) -> Ed25519PrivateKey:
    key = serialization.load_pem_private_key(pem, password=None)
    if not isinstance(key, Ed25519PrivateKey):
        raise SignatureError(f"the signing key is {type(key).__name__}, not ed25519")
    return key


def sign_envelope(statement: Statement, key: Ed25519PrivateKey) -> bytes:
    """The DSSE envelope (canonical JSON) over ``statement``."""
    payload = canonical(statement.to_json())
    signature = key.sign(pae(PAYLOAD_TYPE, payload))
    return canonical(
        {
            "payloadType": PAYLOAD_TYPE,
            "payload": base64.b64encode(payload).decode(),
            "signatures": [
                {
                    "keyid": key_id(key.public_key()),
                    "sig": base64.b64encode(signature).decode(),
                }
            ],
        }
    )


def open_envelope(envelope: bytes, public: Ed25519PublicKey) -> dict[str, Any]:
    """The in-toto Statement of ``envelope`` once a signature by ``public`` holds over it;
    :class:`SignatureError` naming what is wrong otherwise."""
    try:
        outer = json.loads(envelope)
        payload_type = outer["payloadType"]
        payload = base64.b64decode(outer["payload"], validate=True)
        signatures = outer["signatures"]
    except (ValueError, KeyError, TypeError, binascii.Error) as exc:
        raise SignatureError(f"not a DSSE envelope: {exc}") from None
    if payload_type != PAYLOAD_TYPE:
        raise SignatureError(f"payloadType is {payload_type!r}, expected {PAYLOAD_TYPE!r}")
    wanted = key_id(public)
    ours = [s for s in signatures if isinstance(s, dict) and s.get("keyid") == wanted]
    if not ours:
        raise SignatureError(f"no signature by the given key ({wanted})")
    for entry in ours:
        try:
            sig = base64.b64decode(entry.get("sig", ""), validate=True)
            public.verify(sig, pae(payload_type, payload))
        except (InvalidSignature, binascii.Error, ValueError):
            continue
        break
    else:
        raise SignatureError(f"the signature by {wanted} does not match the payload")
    try:
        statement = json.loads(payload)
    except ValueError as exc:
        raise SignatureError(f"the signed payload is not JSON: {exc}") from None
    if not isinstance(statement, dict) or statement.get("_type") != STATEMENT_TYPE:
        raise SignatureError(f"the signed payload is not an in-toto Statement ({STATEMENT_TYPE})")
    if statement.get("predicateType") != PREDICATE_TYPE:
        raise SignatureError(f"predicateType is not {PREDICATE_TYPE}")
    return statement


def manifest_statement(manifest: bytes, predicate: Mapping[str, Any]) -> Statement:
    return Statement("manifest.sha256", sha256_hex(manifest), predicate)
