"""`make demo-cluster` does what the README says: cluster, images, helm install, a
MESModule and Equipment reconciled by the operator from its image, the demo batch to
completion through the runtime in the cluster, the UI's URL; and it cleans up after itself.
"""

from __future__ import annotations

import subprocess
import sys

import pytest
from e2e_cluster import Cluster
from real_node_support import REPO, RealNode

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(900)]  # the whole demo: ~70 s warm


def test_demo_cluster_runs_the_demo_batch_in_the_cluster(
    cluster: Cluster, real_node: RealNode
) -> None:
    run = subprocess.run(
        [sys.executable, "-m", "hack.demo_cluster", "--exit"],
        capture_output=True,
        text=True,
        check=False,
        cwd=REPO,
        timeout=900,
    )
    out = run.stdout
    assert run.returncode == 0, out[-4000:] + run.stderr[-4000:]
    assert "OK: batch complete, journal verified" in out
    ui = next(line.split()[1] for line in out.splitlines() if line.startswith("UI: "))
    assert ui.startswith("http://")
    assert ui.endswith("/ui/")
    # cleaned up: the release is gone and the namespace is going away
    phase = cluster.kubectl(
        "get", "namespace", "holon-demo", "-o", "jsonpath={.status.phase}", check=False
    )
    assert phase.returncode != 0 or phase.stdout == "Terminating"
    releases = cluster.helm("list", "-n", "holon-demo", "-q").stdout.split()
    assert "holon" not in releases
