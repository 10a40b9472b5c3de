"""``manifest.sha256``: one ``<sha256 hex>  <path>`` line per file of the package, sorted
by path, in the format ``sha256sum --check`` reads."""

from __future__ import annotations

import re
from collections.abc import Mapping

from mes_operator.evidence.canonical import sha256_hex

__all__ = ["MANIFEST", "SIGNATURE", "ManifestError", "parse_manifest", "render_manifest"]

MANIFEST = "manifest.sha256"
SIGNATURE = "signature.dsse.json"

_LINE = re.compile(r"^([0-9a-f]{64})  (\S(?:.*\S)?)$")


class ManifestError(ValueError):
    """The manifest cannot be read, or lists a path no package may hold."""


def _check_path(path: str) -> None:
    parts = path.split("/")
    if (
        not path
        or path.startswith("/")
        or "\\" in path
        or any(part in {"", ".", ".."} for part in parts)
        or path in {MANIFEST, SIGNATURE}
    ):
        raise ManifestError(f"{path!r} is not a path a package may list")


def render_manifest(files: Mapping[str, bytes]) -> bytes:
    """The manifest of ``files`` (path → content)."""
    for path in files:
        _check_path(path)
    lines = [f"{sha256_hex(files[path])}  {path}\n" for path in sorted(files)]
    return "".join(lines).encode()


def parse_manifest(data: bytes) -> dict[str, str]:
    """Path → hex digest, in the manifest's order; :class:`ManifestError` naming the line
    that is wrong (format, path, order or a repeated path)."""
    try:
        text = data.decode()
    except UnicodeDecodeError:
        raise ManifestError(f"{MANIFEST} is not UTF-8") from None
    if text and not text.endswith("\n"):
        raise ManifestError(f"{MANIFEST} does not end with a newline")
    out: dict[str, str] = {}
    previous = ""
    for number, line in enumerate(text.splitlines(), start=1):
        match = _LINE.match(line)
        if match is None:
            raise ManifestError(f"{MANIFEST} line {number} is not '<sha256 hex>  <path>'")
        hexdigest, path = match.groups()
        try:
            _check_path(path)
        except ManifestError as exc:
            raise ManifestError(f"{MANIFEST} line {number}: {exc}") from None
        if path in out:
            raise ManifestError(f"{MANIFEST} line {number} lists {path} again")
        if path < previous:
            raise ManifestError(f"{MANIFEST} line {number} ({path}) is out of order")
        out[path] = hexdigest
        previous = path
    if not out:
        raise ManifestError(f"{MANIFEST} lists no file")
    return out
