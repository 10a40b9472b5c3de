"""The e2e guard refuses any kubeconfig context that is not the local test cluster.

Runs without a cluster (not marked e2e): the guard must hold before anything is applied.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from e2e_cluster import NotTestClusterError, ensure_test_context


def kubeconfig(tmp_path: Path, context: str) -> Path:
    path = tmp_path / "kubeconfig"
    path.write_text(
        "apiVersion: v1\nkind: Config\n"
        f"contexts:\n- name: {context}\n  context: {{cluster: c, user: u}}\n"
        f"current-context: {context}\n"
    )
    return path


@pytest.mark.parametrize("context", ["holon-e2e", "kind-holon-e2e"])
def test_test_cluster_contexts_are_accepted(tmp_path: Path, context: str) -> None:
    assert ensure_test_context(kubeconfig(tmp_path, context)) == context


@pytest.mark.parametrize("context", ["prod-eu", "kind-kind", "holon-e2e-prod", "minikube"])
def test_other_contexts_are_refused(tmp_path: Path, context: str) -> None:
    with pytest.raises(
        NotTestClusterError, match=f"refusing to run e2e tests against context '{context}'"
    ):
        ensure_test_context(kubeconfig(tmp_path, context))


def test_a_kubeconfig_without_current_context_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "kubeconfig"
    path.write_text("apiVersion: v1\nkind: Config\n")
    with pytest.raises(NotTestClusterError, match="against context None"):
        ensure_test_context(path)


def test_a_missing_kubeconfig_is_refused(tmp_path: Path) -> None:
    with pytest.raises(NotTestClusterError, match="cannot read kubeconfig"):
        ensure_test_context(tmp_path / "absent")
