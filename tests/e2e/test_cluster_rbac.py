"""RBAC is enforced: a ServiceAccount bound to a narrow Role gets 403 outside it.

Uses a real bound token (TokenRequest, signed by the API server's service-account key)
and a raw HTTPS request, so the status code is the API server's own.
"""

from __future__ import annotations

import json
import ssl
import urllib.error
import urllib.request
from typing import Any

import pytest
from e2e_cluster import Cluster

pytestmark = pytest.mark.e2e


def call(server: str, ca: str, token: str, path: str) -> tuple[int, dict[str, Any]]:
    ctx = ssl.create_default_context(cafile=ca)
    headers = {"Authorization": f"Bearer {token}"}
    req = urllib.request.Request(server + path, headers=headers)  # noqa: S310
    try:
        with urllib.request.urlopen(req, context=ctx, timeout=10) as resp:  # noqa: S310
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read())


def test_narrow_role_is_allowed_inside_and_denied_outside(cluster: Cluster, namespace: str) -> None:
    ns = namespace
    cluster.apply(
        {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "narrow"}},
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "Role",
            "metadata": {"name": "read-configmaps"},
            "rules": [{"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get", "list"]}],
        },
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "RoleBinding",
            "metadata": {"name": "narrow-reads-configmaps"},
            "roleRef": {
                "apiGroup": "rbac.authorization.k8s.io",
                "kind": "Role",
                "name": "read-configmaps",
            },
            "subjects": [{"kind": "ServiceAccount", "name": "narrow", "namespace": ns}],
        },
        namespace=ns,
    )
    token = cluster.kubectl("create", "token", "narrow", "-n", ns, "--duration=10m").stdout
    server, ca = cluster.endpoint()

    status, body = call(server, ca, token.strip(), f"/api/v1/namespaces/{ns}/configmaps")
    assert status == 200, body
    assert body["kind"] == "ConfigMapList"

    status, body = call(server, ca, token.strip(), f"/api/v1/namespaces/{ns}/secrets")
    assert status == 403
    assert body["reason"] == "Forbidden"
    assert f"system:serviceaccount:{ns}:narrow" in body["message"]

    status, body = call(server, ca, token.strip(), "/api/v1/namespaces/default/configmaps")
    assert status == 403

    can = cluster.kubectl(
        "auth", "can-i", "delete", "configmaps", "-n", ns,
        f"--as=system:serviceaccount:{ns}:narrow", check=False,
    )  # fmt: skip
    assert can.stdout.strip() == "no"


def test_an_unknown_token_is_unauthorized(cluster: Cluster) -> None:
    server, ca = cluster.endpoint()
    status, body = call(server, ca, "not-a-token", "/api/v1/namespaces")
    assert status == 401
    assert body["reason"] == "Unauthorized"
