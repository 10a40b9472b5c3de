"""Smoke run of the operator benchmark at its quick size on the test cluster (no timings).

Marked e2e: it needs the local Kubernetes cluster, which the e2e ``cluster`` fixture
brings up (or reuses); the benchmark itself finds it through ``.holon/cluster``.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from bench import operator as operator_bench
from bench.results import Verdict

pytestmark = pytest.mark.e2e

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def cluster_up() -> None:
    """The same `python -m hack.cluster.cluster up` the e2e fixture runs: build once, else
    start or reuse."""
    res = subprocess.run(
        [sys.executable, "-m", "hack.cluster.cluster", "up"],
        capture_output=True,
        text=True,
        check=False,
        timeout=3600,
    )
    if res.returncode != 0:
        pytest.fail(f"hack.cluster.cluster up failed:\n{res.stdout}\n{res.stderr}")


@pytest.mark.timeout(600)
async def test_quick_run_measures_every_module_and_equipment(cluster_up: None) -> None:
    rows = await operator_bench.run(quick=True)

    size = operator_bench.QUICK
    assert [r.metric for r in rows] == [
        "MESModule apply->Ready p50",
        "MESModule apply->Ready p95",
        f"{size.bulk} modules all Ready",
        "operator peak RSS",
        "Equipment apply->Verified p50",
        "Equipment apply->Verified p95",
    ]
    for row in rows:
        assert row.benchmark == "operator"
        assert row.value is not None, row.note
        assert row.value > 0
    single_p50, single_p95, bulk, rss, verify_p50, verify_p95 = rows
    for row in (single_p50, single_p95):
        assert row.counts == {"repetitions": size.single, "baseline_repetitions": size.single}
        assert row.baseline is not None
        assert row.baseline > 0
    assert bulk.counts["modules"] == size.bulk
    assert bulk.counts["ready"] == size.bulk
    assert bulk.counts["handler_retries"] >= 0
    assert "operator made all Deployments" in bulk.note
    assert rss.counts["modules"] == size.bulk
    assert rss.counts["rss_samples"] >= 1
    for row in (verify_p50, verify_p95):
        assert row.counts == {"repetitions": size.equipment}
        assert row.baseline is not None
        assert row.baseline > 0  # the check's own recorded duration
    goals = [r for r in rows if r.goal is not None]
    assert [r.metric for r in goals] == [rows[i].metric for i in (1, 2, 3, 5)]
    assert all(not r.goal.higher_is_better for r in goals if r.goal is not None)


def test_without_a_cluster_every_row_is_skipped(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HOLON_CLUSTER_DIR", str(tmp_path / "no-cluster"))
    with pytest.raises(operator_bench.ClusterMissing):
        operator_bench.find_cluster()
    rows = operator_bench.skipped_rows("no test cluster", operator_bench.FULL)

    assert len(rows) == len(operator_bench.METRICS)
    assert all(r.verdict is Verdict.SKIPPED for r in rows)
    assert rows[2].metric == "500 modules all Ready"
