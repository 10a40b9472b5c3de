"""Reading `ctr images ls` output (the real import is exercised by the e2e test)."""

from __future__ import annotations

from hack.images.containerd_import import parse_images_ls

# captured from `ctr images ls` of containerd 1.6 (Debian bookworm)
OUTPUT = """\
REF                            TYPE                                       DIGEST                                                                  SIZE      PLATFORMS   LABELS 
holon.local/mes-operator:0.1.0 application/vnd.oci.image.manifest.v1+json sha256:c3127441c4c9a3d8af84aa45a41ec3aa4fe0ae4c3c8a57eec38c01354c80d39a 77.0 MiB  linux/amd64 -      
holon.local/pause:3.10         application/vnd.oci.image.manifest.v1+json sha256:3f8d6b2e8af92e700faca6fdd365dd0e2916ead179d1be5750a198f2797f4ec5 707.9 KiB linux/amd64 -      
"""  # noqa: E501, W291 - verbatim tool output


def test_finds_the_digest_of_the_exact_ref() -> None:
    assert parse_images_ls(OUTPUT, "holon.local/pause:3.10") == (
        "sha256:3f8d6b2e8af92e700faca6fdd365dd0e2916ead179d1be5750a198f2797f4ec5"
    )


def test_absent_or_prefix_refs_are_not_found() -> None:
    assert parse_images_ls(OUTPUT, "holon.local/mes-runtime:0.1.0") is None
    assert parse_images_ls(OUTPUT, "holon.local/pause:3") is None
    assert parse_images_ls(OUTPUT.splitlines()[0], "REF") is None
