"""Verify a package offline with nothing but the operator's published public key:
the manifest, every file's hash, no unlisted file, the DSSE signature over the manifest,
``package.json`` against the signed summary and its rows against their files, and the
chain link to the previous package. Problems are named in that order; the first one is
what ``kubectl mes evidence verify`` reports first."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from mes_operator.evidence.assemble import PACKAGE_JSON, summary
from mes_operator.evidence.canonical import digest, is_canonical, sha256_hex
from mes_operator.evidence.dsse import SignatureError, open_envelope
from mes_operator.evidence.manifest import MANIFEST, SIGNATURE, ManifestError, parse_manifest
from mes_operator.evidence.package import FORMAT

__all__ = ["Verification", "verify_package"]


@dataclass
class Verification:
    """What a verification found: the problems (empty when the package holds), the
    package digest and, once ``package.json`` could be read, the document."""

    problems: list[str] = field(default_factory=list)
    digest: str | None = None
    document: dict[str, Any] | None = None
    chain_checked: bool = False

    @property
    def ok(self) -> bool:
        return not self.problems


def _check_document(
    document: Any, signed: Mapping[str, Any], listed: Mapping[str, str], found: Verification
) -> None:
    if not isinstance(document, dict) or document.get("format") != FORMAT:
        found.problems.append(f"{PACKAGE_JSON}: format is not {FORMAT}")
        return
    try:
        mine = summary(document)
    except (KeyError, TypeError) as exc:
        found.problems.append(f"{PACKAGE_JSON}: a required field is missing ({exc})")
        return
    for key, value in mine.items():
        if signed.get(key) != value:
            found.problems.append(
                f"{PACKAGE_JSON}: {key} is {value!r} but the signed statement says "
                f"{signed.get(key)!r}"
            )
    for kind in ("iq", "oq"):
        for row in document.get(kind) or []:
            evidence = row.get("evidence")
            if evidence not in listed:
                found.problems.append(
                    f"{PACKAGE_JSON}: {kind} row {row.get('id')} names {evidence}, which the "
                    "manifest does not list"
                )
            elif listed[evidence] != row.get("sha256"):
                found.problems.append(
                    f"{PACKAGE_JSON}: {kind} row {row.get('id')} gives sha256 "
                    f"{row.get('sha256')} for {evidence}, the manifest {listed[evidence]}"
                )


def verify_package(
    files: Mapping[str, bytes],
    public: Ed25519PublicKey,
    *,
    previous_digest: str | None = None,
    check_chain: bool = False,
) -> Verification:
    """Check ``files`` (path → content, as read from the package's directory).

    With ``check_chain``, the package must name ``previous_digest`` as its previous
    package (``None``: the module's first package)."""
    found = Verification()
    manifest = files.get(MANIFEST)
    if manifest is None:
        found.problems.append(f"{MANIFEST} is missing")
        return found
    found.digest = digest(manifest)
    try:
        listed = parse_manifest(manifest)
    except ManifestError as exc:
        found.problems.append(str(exc))
        return found

    envelope = files.get(SIGNATURE)
    signed: dict[str, Any] = {}
    if envelope is None:
        found.problems.append(f"{SIGNATURE} is missing")
    else:
        try:
            statement = open_envelope(envelope, public)
        except SignatureError as exc:
            found.problems.append(f"{SIGNATURE}: {exc}")
        else:
            subjects = statement.get("subject") or []
            wanted = {"name": MANIFEST, "digest": {"sha256": sha256_hex(manifest)}}
            if subjects != [wanted]:
                found.problems.append(
                    f"{MANIFEST} is not the manifest the operator signed (the signed statement "
                    f"names {json.dumps(subjects)})"
                )
            else:
                signed = statement.get("predicate") or {}

    for path, hexdigest in listed.items():
        if path not in files:
            found.problems.append(f"{path} is listed in {MANIFEST} but missing")
        elif sha256_hex(files[path]) != hexdigest:
            found.problems.append(f"{path} does not match its sha256 in {MANIFEST}")
    for path in sorted(set(files) - set(listed) - {MANIFEST, SIGNATURE}):
        found.problems.append(f"{path} is not listed in {MANIFEST}")

    raw = files.get(PACKAGE_JSON)
    if raw is None or PACKAGE_JSON not in listed:
        found.problems.append(f"{PACKAGE_JSON} is missing")
        return found
    if not is_canonical(raw):
        found.problems.append(f"{PACKAGE_JSON} is not RFC 8785 canonical JSON")
        return found
    document = json.loads(raw)
    found.document = document if isinstance(document, dict) else None
    if signed:
        _check_document(document, signed, listed, found)

    if check_chain and found.document is not None:
        found.chain_checked = True
        named = found.document.get("previousPackageDigest")
        if named != previous_digest:
            expected = previous_digest or "none (the module's first package)"
            found.problems.append(
                f"chain: {PACKAGE_JSON} names previous package {named or 'none'}, "
                f"expected {expected}"
            )
    return found
