"""``make demo-cluster`` runs kubectl and helm through the tests' one runner
(:func:`holon_testing.kube.run_tool`): the kubeconfig given, stdin passed, a failure ends
the demo naming the command (checked with stand-in binaries; the demo itself is e2e)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from hack.demo_cluster import Kube


@pytest.fixture
def kube(tmp_path: Path) -> Kube:
    """A Kube whose kubectl echoes its arguments and stdin, and whose helm always fails."""
    bins = tmp_path / "bin"
    bins.mkdir()
    kubectl = bins / "kubectl"
    kubectl.write_text('#!/bin/sh\necho "$@"\ncat\n')
    helm = bins / "helm"
    helm.write_text('#!/bin/sh\necho "no release" >&2\nexit 3\n')
    for tool in (kubectl, helm):
        tool.chmod(0o755)
    return Kube({"bin_dir": str(bins), "kubeconfig": str(tmp_path / "kubeconfig")})


def test_kubectl_gets_the_kubeconfig_and_stdin(kube: Kube, tmp_path: Path) -> None:
    out = kube.kubectl("apply", "-f", "-", stdin='{"kind": "List"}')
    args, stdin = out.splitlines()
    assert args == f"--kubeconfig {tmp_path / 'kubeconfig'} apply -f -"
    assert json.loads(stdin) == {"kind": "List"}


def test_a_failed_command_ends_the_demo_naming_it(kube: Kube) -> None:
    with pytest.raises(SystemExit, match=r"helm .*uninstall holon failed \(3\):\nno release"):
        kube.helm("uninstall", "holon")


def test_unchecked_failures_are_ignored(kube: Kube) -> None:
    kube.helm("uninstall", "holon", check=False)
