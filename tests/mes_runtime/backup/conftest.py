"""A real SeaweedFS S3 server for the session (built once by hack/cluster/seaweedfs.py)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

from holon_testing.object_store import S3Server, seaweedfs_server, weed_binary


@pytest.fixture(scope="session")
def s3_server(request: pytest.FixtureRequest) -> Iterator[S3Server]:
    capture = request.config.pluginmanager.getplugin("capturemanager")
    with capture.global_and_fixture_disabled():  # a cold build shows its progress
        weed_binary()
    with seaweedfs_server() as server:
        yield server


@pytest.fixture
def bucket(s3_server: S3Server) -> str:
    """A fresh, empty bucket on the session's store."""
    name = f"b-{uuid.uuid4().hex[:12]}"
    with s3_server.client() as client:
        client.create_bucket(name)
    return name
