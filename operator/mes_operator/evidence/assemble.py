"""Assemble a package: evidence hashes into the rows, ``package.json``, its renderings, the
manifest and the operator's signature. Pure: path → bytes in, path → bytes out."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from mes_operator.evidence.canonical import canonical, digest, sha256_hex
from mes_operator.evidence.dsse import key_id, manifest_statement, sign_envelope
from mes_operator.evidence.manifest import MANIFEST, SIGNATURE, render_manifest
from mes_operator.evidence.package import Package, Row
from mes_operator.evidence.render import render_html, render_pdf

__all__ = ["HTML", "PACKAGE_JSON", "PDF", "Assembled", "assemble", "summary"]

PACKAGE_JSON = "package.json"
HTML = "package.html"
PDF = "package.pdf"
EVIDENCE_DIR = "evidence/"


@dataclass(frozen=True, slots=True)
class Assembled:
    """Every file of the package and its digest (``sha256:`` of ``manifest.sha256``),
    which the Qualification, the approvals and the next package's chain link name."""

    files: dict[str, bytes]
    digest: str
    document: dict[str, Any]


def summary(document: Mapping[str, Any]) -> dict[str, Any]:
    """The signed predicate: what a reader of the envelope alone learns (and what a
    verifier checks ``package.json`` against)."""
    header = document["header"]
    return {
        "module": header["module"],
        "namespace": header["namespace"],
        "qualification": header["qualification"],
        "event": header["event"],
        "fromVersion": header["fromVersion"],
        "toVersion": header["toVersion"],
        "verdict": document["verdict"],
        "previousPackageDigest": document["previousPackageDigest"],
    }


def _hashed(rows: list[Row], evidence: Mapping[str, bytes]) -> list[Row]:
    out = []
    for row in rows:
        if row.evidence not in evidence:
            raise ValueError(f"row {row.id} names evidence {row.evidence}, which is not given")
        out.append(dataclasses.replace(row, sha256=sha256_hex(evidence[row.evidence])))
    return out


def assemble(package: Package, evidence: Mapping[str, bytes], key: Ed25519PrivateKey) -> Assembled:
    """The package's files. ``evidence`` maps paths under ``evidence/`` to the raw files
    the rows name (a file no row names is kept too: e.g. a full ``kubectl get -o yaml``)."""
    outside = sorted(p for p in evidence if not p.startswith(EVIDENCE_DIR))
    if outside:
        raise ValueError(f"evidence files must be under {EVIDENCE_DIR}: {', '.join(outside)}")
    ids = [row.id for row in package.rows]
    repeated = sorted({i for i in ids if ids.count(i) > 1})
    if repeated:
        raise ValueError(f"row ids must be unique: {', '.join(repeated)}")
    hashed = dataclasses.replace(
        package,
        iq=_hashed(list(package.iq), evidence),
        oq=_hashed(list(package.oq), evidence),
    )
    document = hashed.to_json()
    document_bytes = canonical(document)
    document = json.loads(document_bytes)  # exactly what a reader of the file sees
    signer = key_id(key.public_key())
    content = {
        **evidence,
        PACKAGE_JSON: document_bytes,
        HTML: render_html(document, signer),
        PDF: render_pdf(document, signer),
    }
    manifest = render_manifest(content)
    envelope = sign_envelope(manifest_statement(manifest, summary(document)), key)
    return Assembled(
        files={**content, MANIFEST: manifest, SIGNATURE: envelope},
        digest=digest(manifest),
        document=document,
    )
