"""IQ/OQ evidence packages (DESIGN §7): build, sign, render and verify them offline.

A package is a directory of files: ``package.json`` (RFC 8785 canonical JSON), its HTML and
PDF renderings, the raw evidence files under ``evidence/``, ``manifest.sha256`` over all
of them and ``signature.dsse.json``, a DSSE envelope holding an in-toto Statement v1 over
the manifest, signed by the operator's ed25519 key. ``docs/evidence-format.md`` describes
the format well enough to verify a package without Holon.

Everything here is pure except :mod:`.files` (reading and writing a directory).
"""
