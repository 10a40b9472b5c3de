"""Handles on the e2e test cluster, and the guard that keeps e2e tests off real clusters.

Why a module of its own: conftest.py is imported under the shared name `conftest`, so the
tests import these types from here instead.
"""

from __future__ import annotations

import base64
import json
import os
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

TEST_CONTEXTS = frozenset({"holon-e2e", "kind-holon-e2e"})


class NotTestClusterError(RuntimeError):
    """The kubeconfig points somewhere other than the local test cluster."""


def ensure_test_context(kubeconfig: Path) -> str:
    """Return the kubeconfig's current context if it is the test cluster's, else raise."""
    try:
        config = yaml.safe_load(kubeconfig.read_text()) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise NotTestClusterError(f"cannot read kubeconfig {kubeconfig}: {exc}") from exc
    context = config.get("current-context") if isinstance(config, dict) else None
    if context not in TEST_CONTEXTS:
        raise NotTestClusterError(
            f"refusing to run e2e tests against context {context!r} of {kubeconfig}: "
            f"only {sorted(TEST_CONTEXTS)} (made by `make cluster`) are allowed"
        )
    return str(context)


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
        config = yaml.safe_load(self.kubeconfig.read_text())
        entry = next(c for c in config["clusters"] if c["name"] == self.context_cluster())
        cluster = entry["cluster"]
        if "certificate-authority-data" in cluster:
            ca = self.helm_home / "ca.crt"
            ca.write_bytes(base64.b64decode(cluster["certificate-authority-data"]))
            return str(cluster["server"]), str(ca)
        return str(cluster["server"]), str(cluster["certificate-authority"])

    def context_cluster(self) -> str:
        config = yaml.safe_load(self.kubeconfig.read_text())
        ctx = next(c for c in config["contexts"] if c["name"] == self.context)
        return str(ctx["context"]["cluster"])

    def env(self) -> dict[str, str]:
        env = dict(os.environ)
        env["KUBECONFIG"] = str(self.kubeconfig)
        for var in ("HELM_CACHE_HOME", "HELM_CONFIG_HOME", "HELM_DATA_HOME"):
            env[var] = str(self.helm_home / var.lower())
        return env

    def kubectl(
        self, *args: str, stdin: str | None = None, check: bool = True
    ) -> subprocess.CompletedProcess[str]:
        res = subprocess.run(
            [str(self.kubectl_bin), "--context", self.context, *args],
            input=stdin,
            capture_output=True,
            text=True,
            env=self.env(),
            check=False,
            timeout=180,
        )
        if check and res.returncode != 0:
            pytest.fail(f"kubectl {' '.join(args)} failed ({res.returncode}):\n{res.stderr}")
        return res

    def helm(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        res = subprocess.run(
            [str(self.helm_bin), "--kube-context", self.context, *args],
            capture_output=True,
            text=True,
            env=self.env(),
            check=False,
            timeout=240,
        )
        if check and res.returncode != 0:
            pytest.fail(f"helm {' '.join(args)} failed ({res.returncode}):\n{res.stderr}")
        return res

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
