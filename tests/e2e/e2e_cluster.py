"""Handles on the e2e test cluster, and the guard that keeps e2e tests off real clusters.

Why a module of its own: conftest.py is imported under the shared name `conftest`, so the
tests import these types from here instead. The guard, the kubectl/helm runner and the
kubeconfig helpers are ``holon_testing.kube``'s (shared with the benchmarks); this module
turns a failed command into a test failure.
"""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from holon_testing.kube import (
    TEST_CONTEXTS,
    NotTestClusterError,
    ToolFailed,
    api_endpoint,
    ensure_test_context,
    run_tool,
    tool_env,
)

__all__ = ["TEST_CONTEXTS", "Cluster", "NotTestClusterError", "ensure_test_context"]


@dataclass
class Cluster:
    """Handles to the test cluster: its kubeconfig and the kubectl/helm built for it."""

    kubeconfig: Path
    kubectl_bin: Path
    helm_bin: Path
    context: str
    helm_home: Path

    def endpoint(self) -> tuple[str, str]:
        """The API server URL and a CA bundle file for raw HTTPS calls."""
        return api_endpoint(
            self.kubeconfig, ca_file=self.helm_home / "ca.crt", context=self.context
        )

    def env(self) -> dict[str, str]:
        return tool_env(self.kubeconfig, self.helm_home)

    def kubectl(
        self, *args: str, stdin: str | None = None, check: bool = True
    ) -> subprocess.CompletedProcess[str]:
        return self._run(
            self.kubectl_bin,
            "--context",
            self.context,
            *args,
            stdin=stdin,
            check=check,
            timeout=180,
        )

    def helm(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return self._run(
            self.helm_bin, "--kube-context", self.context, *args, check=check, timeout=240
        )

    def _run(
        self, binary: Path, *args: str, stdin: str | None = None, check: bool, timeout: float
    ) -> subprocess.CompletedProcess[str]:
        try:
            return run_tool(
                binary, *args, env=self.env(), stdin=stdin, timeout=timeout, check=check
            )
        except ToolFailed as exc:
            pytest.fail(str(exc))

    def apply(self, *manifests: dict[str, Any], namespace: str | None = None) -> None:
        doc = json.dumps({"apiVersion": "v1", "kind": "List", "items": list(manifests)})
        ns = ["-n", namespace] if namespace else []
        self.kubectl("apply", *ns, "-f", "-", stdin=doc)

    def get(self, kind: str, name: str | None = None, namespace: str | None = None) -> Any:
        args = ["get", kind, *([name] if name else []), "-o", "json"]
        if namespace:
            args += ["-n", namespace]
        return json.loads(self.kubectl(*args).stdout)

    def create_namespace(self, name: str) -> None:
        """Create ``name`` and wait for its default ServiceAccount (Pods need it; the
        controller-manager makes it)."""
        self.kubectl("create", "namespace", name)
        self.eventually(
            f"ServiceAccount default in {name}",
            lambda: self.kubectl("get", "sa", "default", "-n", name, check=False).returncode == 0,
            60,
        )

    def eventually(self, what: str, check: Callable[[], bool], timeout: float = 120) -> None:
        """Poll until check() holds; fail with `what` otherwise (a bound, not a timing assert)."""
        deadline = time.monotonic() + timeout
        while not check():
            if time.monotonic() > deadline:
                pytest.fail(f"not within {timeout:.0f}s: {what}")
            time.sleep(0.5)
