"""Handles on the local test cluster shared by the e2e tests and the benchmarks.

One way to run ``kubectl``/``helm`` (:func:`run_tool`), one guard that refuses any cluster
but the test cluster (:func:`ensure_test_context`), and the kubeconfig helpers the
operator process needs (:func:`api_endpoint`, :func:`write_token_kubeconfig`).
"""

from __future__ import annotations

import base64
import os
import subprocess
from collections.abc import Mapping
from pathlib import Path

import yaml

__all__ = [
    "TEST_CONTEXTS",
    "NotTestClusterError",
    "ToolFailed",
    "api_endpoint",
    "ensure_test_context",
    "run_tool",
    "tool_env",
    "write_token_kubeconfig",
]

#: the kubeconfig contexts `make cluster` creates (local binaries, or kind)
TEST_CONTEXTS = frozenset({"holon-e2e", "kind-holon-e2e"})


class NotTestClusterError(RuntimeError):
    """The kubeconfig points somewhere other than the local test cluster."""


class ToolFailed(RuntimeError):
    """kubectl or helm exited non-zero; the message names the command and its stderr."""


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


def tool_env(kubeconfig: Path, helm_home: Path) -> dict[str, str]:
    """The environment for kubectl and helm: this kubeconfig, helm's state in ``helm_home``."""
    env = dict(os.environ)
    env["KUBECONFIG"] = str(kubeconfig)
    for var in ("HELM_CACHE_HOME", "HELM_CONFIG_HOME", "HELM_DATA_HOME"):
        env[var] = str(helm_home / var.lower())
    return env


def run_tool(
    binary: Path,
    *args: str,
    env: Mapping[str, str],
    stdin: str | None = None,
    timeout: float = 180,
    check: bool = True,
) -> subprocess.CompletedProcess[str]:
    """Run kubectl or helm; with ``check``, raise :class:`ToolFailed` on a non-zero exit."""
    res = subprocess.run(
        [str(binary), *args],
        input=stdin,
        capture_output=True,
        text=True,
        env=dict(env),
        check=False,
        timeout=timeout,
    )
    if check and res.returncode != 0:
        raise ToolFailed(f"{binary.name} {' '.join(args)} failed ({res.returncode}):\n{res.stderr}")
    return res


def api_endpoint(kubeconfig: Path, *, ca_file: Path, context: str | None = None) -> tuple[str, str]:
    """The API server URL and a CA bundle file of ``context`` (default: the current one).

    A kubeconfig holding the CA inline (kind) has it written to ``ca_file``."""
    config = yaml.safe_load(kubeconfig.read_text())
    name = context or config["current-context"]
    ctx = next(c for c in config["contexts"] if c["name"] == name)
    entry = next(c for c in config["clusters"] if c["name"] == ctx["context"]["cluster"])
    cluster = entry["cluster"]
    if "certificate-authority" in cluster:
        return str(cluster["server"]), str(cluster["certificate-authority"])
    if not ca_file.exists():
        ca_file.parent.mkdir(parents=True, exist_ok=True)
        ca_file.write_bytes(base64.b64decode(cluster["certificate-authority-data"]))
    return str(cluster["server"]), str(ca_file)


def write_token_kubeconfig(path: Path, *, server: str, ca: str, token: str, namespace: str) -> Path:
    """A kubeconfig whose only credential is ``token`` (e.g. the chart's ServiceAccount's),
    so the operator runs with exactly the permissions the chart grants it. Mode 0600: it
    holds a secret."""
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "holon", "cluster": {"server": server, "certificate-authority": ca}}],
        "users": [{"name": "holon-operator", "user": {"token": token}}],
        "contexts": [
            {
                "name": "holon-operator",
                "context": {"cluster": "holon", "user": "holon-operator", "namespace": namespace},
            }
        ],
        "current-context": "holon-operator",
    }
    path.touch(mode=0o600)
    path.write_text(yaml.safe_dump(config))
    return path
