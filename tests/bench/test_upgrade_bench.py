"""The upgrade benchmark without the real node: its rows are skipped, saying why; what it
records from the watch and how it turns samples into rows (no timings).

Its quick run itself needs the test cluster's real node (minutes per upgrade): `make bench`
runs it there (``--only upgrade``), not the unit tests.
"""

from __future__ import annotations

import itertools
import json
from pathlib import Path
from typing import Any

import pytest

from bench import upgrade
from bench.results import Verdict


def _skipped(rows: list[Any]) -> None:
    assert [(r.metric, r.unit) for r in rows] == list(upgrade.METRICS)
    assert all(r.benchmark == "upgrade" for r in rows)
    assert all(r.verdict is Verdict.SKIPPED for r in rows)


async def test_without_a_cluster_every_row_is_skipped(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HOLON_CLUSTER_DIR", str(tmp_path / "no-cluster"))

    rows = await upgrade.run(quick=True)

    _skipped(rows)
    assert all("no test cluster" in r.note for r in rows)


async def test_a_cluster_without_its_real_node_skips_every_row(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(json.dumps({"current-context": "holon-e2e"}))
    info = {"kubeconfig": str(kubeconfig), "bin_dir": str(tmp_path), "real_node": False}
    (tmp_path / "cluster.json").write_text(json.dumps(info))
    monkeypatch.setenv("HOLON_CLUSTER_DIR", str(tmp_path))

    rows = await upgrade.run(quick=True)

    _skipped(rows)
    assert all("no real node" in r.note for r in rows)


def _module(
    *, orchestrated: bool, generation: int = 2, observed: int = 2, **status: Any
) -> dict[str, Any]:
    strategy = {"upgradeStrategy": {"orchestrated": True}} if orchestrated else {}
    ready = {"type": "Ready", "status": "True", "observedGeneration": observed}
    return {
        "metadata": {"name": "m", "generation": generation},
        "spec": {"version": "0.2.101", **strategy},
        "status": {"conditions": [ready], **status},
    }


def test_an_orchestrated_module_settles_when_its_upgrade_ends_not_when_it_is_ready() -> None:
    running = _module(
        orchestrated=True,
        currentVersion="0.2.101",
        upgrade={"phase": "Observe", "toVersion": "0.2.101"},
    )
    qualified = _module(orchestrated=True, upgrade={"phase": "Qualified", "toVersion": "0.2.101"})
    rolled_back = _module(
        orchestrated=True, upgrade={"phase": "RolledBack", "toVersion": "0.2.102"}
    )

    assert upgrade.settled(running) is None
    assert upgrade.settled(qualified) == ("0.2.101", "Qualified")
    assert upgrade.settled(rolled_back) == ("0.2.102", "RolledBack")


def test_a_plain_module_settles_ready_for_its_generation_at_its_current_version() -> None:
    assert upgrade.settled(_module(orchestrated=False, currentVersion="0.2.101")) == (
        "0.2.101",
        "Ready",
    )
    stale = _module(orchestrated=False, observed=1, currentVersion="0.2.0")
    assert upgrade.settled(stale) is None


def test_the_watch_keeps_the_first_time_a_version_was_reached() -> None:
    watch = upgrade.VersionWatch()
    qualified = _module(orchestrated=True, upgrade={"phase": "Qualified", "toVersion": "0.2.101"})

    assert not watch.observe(_module(orchestrated=True), 1.0)
    assert watch.observe(qualified, 2.0)
    assert not watch.observe(qualified, 3.0)

    assert watch.reached == {("m", "0.2.101"): (2.0, "Qualified")}


def test_the_watch_times_each_upgrade_phase_from_the_apply_to_the_end() -> None:
    watch = upgrade.VersionWatch()
    for phase, at in (("Backup", 3.0), ("Backup", 4.0), ("Switch", 10.0), ("Qualified", 12.0)):
        watch.observe(
            _module(orchestrated=True, upgrade={"phase": phase, "toVersion": "0.2.101"}), at
        )

    seen = watch.phases[("m", "0.2.101")]
    phases = upgrade.phase_seconds(seen, started=1.0, ended=12.0)

    assert seen == [("Backup", 3.0), ("Switch", 10.0), ("Qualified", 12.0)]
    assert phases == (("Pending", 2.0), ("Backup", 7.0), ("Switch", 2.0))
    assert sum(seconds for _, seconds in phases) == 11.0  # the whole apply -> end
    other = upgrade.Sample(1.0, 1, 0, 1.0, phases=(("Pending", 4.0), ("Backup", 9.0)))
    one = upgrade.Sample(11.0, 1, 0, 1.0, phases=phases)
    assert upgrade.phase_medians([one, other]) == "Pending 3.0, Backup 8.0, Switch 2.0"


def test_versions_follow_this_trees_and_never_repeat() -> None:
    assert list(itertools.islice(upgrade.next_versions("0.2.0"), 3)) == [
        "0.2.101",
        "0.2.102",
        "0.2.103",
    ]


def test_rows_are_medians_with_the_plain_rollout_as_baseline_and_failures_summed() -> None:
    result = upgrade.UpgradeResult(
        idle=[upgrade.Sample(60.0, 1000, 0, 24.0), upgrade.Sample(70.0, 1100, 0, 23.9)],
        batch=[
            upgrade.Sample(80.0, 1200, 2, 24.0, ("HTTP 502: x",)),
            upgrade.Sample(90.0, 1300, 0, 24.0),
        ],
        plain=[upgrade.Sample(20.0, 500, 1, 24.0), upgrade.Sample(30.0, 600, 0, 24.0)],
        batches_running_through=2,
    )

    idle, batch, failed, install = upgrade.rows_for(result)

    assert [(r.metric, r.unit) for r in (idle, batch, failed, install)] == list(upgrade.METRICS)
    assert install.verdict is Verdict.SKIPPED  # not timed: said, not invented
    assert (idle.value, idle.baseline) == (65.0, 25.0)
    assert (batch.value, batch.baseline) == (85.0, 25.0)
    assert idle.counts == {"repetitions": 2, "baseline_repetitions": 2}
    assert batch.counts["batches_running_through"] == 2
    assert f"observeSeconds {upgrade.OBSERVE_SECONDS}" in idle.note
    assert "phases" not in idle.note  # none seen: none said
    assert (failed.value, failed.baseline) == (2.0, 1.0)
    assert failed.counts == {"upgrades": 4, "requests": 4600, "baseline_requests": 1100}
    assert failed.verdict is Verdict.NOT_MET
    assert "HTTP 502: x" in failed.note
    assert "23.9+ requests/s" in failed.note


def test_no_failed_request_meets_the_goal() -> None:
    one = [upgrade.Sample(60.0, 1000, 0, 24.0)]
    result = upgrade.UpgradeResult(idle=one, batch=one, plain=one)

    rows = upgrade.rows_for(result)

    assert [r.verdict for r in rows] == [
        Verdict.REPORT, Verdict.REPORT, Verdict.MET, Verdict.SKIPPED,
    ]  # fmt: skip


def test_the_install_row_is_apply_to_evidence_against_apply_to_ready() -> None:
    one = [upgrade.Sample(60.0, 1000, 0, 24.0)]
    result = upgrade.UpgradeResult(idle=one, batch=one, plain=one)
    result.install = upgrade.Install(
        ready=14.0, evidence=95.5, verdict="PROVISIONAL", account=30.2, oq_job=58.0
    )
    row = upgrade.rows_for(result)[3]
    assert (row.metric, row.value, row.baseline, row.unit) == (
        "install -> Ready -> Qualified(provisional)", 95.5, 14.0, "s",
    )  # fmt: skip
    assert row.verdict is Verdict.NOT_MET  # the goal is 60 s
    assert "OQ from its image's Job (58.0 s)" in row.note
    assert "PROVISIONAL" in row.note
    assert "30.2 s after the apply" in row.note
