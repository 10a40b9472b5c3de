"""The upgrade alerts fire on the series the operator exports, and only then
(``promtool test rules`` on the shipped rules, annotations aside: ``rule_problems``
checks those)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from hack.monitoring_check import RULES

pytestmark = pytest.mark.skipif(
    shutil.which("promtool") is None, reason="promtool: run hack/setup.sh"
)

STARTED = "holon_operator_upgrade_phase_started_timestamp_seconds"
ENDED = "holon_operator_upgrades_ended_total"


def _series(name: str, values: str, **labels: str) -> dict[str, str]:
    """One input series of a module of namespace plant, scraped from operator Pod op-0."""
    labels = {"namespace": "plant", "module": "batch", "pod": "op-0", **labels}
    inner = ", ".join(f'{k}="{v}"' for k, v in labels.items())
    return {"series": f"{name}{{{inner}}}", "values": values}


def _alert(name: str, eval_time: str, *expected: dict[str, str]) -> dict[str, Any]:
    return {
        "eval_time": eval_time,
        "alertname": name,
        "exp_alerts": [{"exp_labels": labels} for labels in expected],
    }


def _promtool_test(tmp_path: Path, tests: list[dict[str, Any]]) -> subprocess.CompletedProcess[str]:
    rules = yaml.safe_load(RULES.read_text())
    for group in rules["groups"]:
        for rule in group["rules"]:
            rule.pop("annotations", None)
    (tmp_path / "rules.yaml").write_text(yaml.safe_dump(rules))
    spec = {"rule_files": ["rules.yaml"], "evaluation_interval": "1m", "tests": tests}
    (tmp_path / "test.yaml").write_text(yaml.safe_dump(spec))
    promtool = shutil.which("promtool")
    assert promtool is not None
    return subprocess.run(
        [promtool, "test", "rules", "test.yaml"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
    )


def test_an_upgrade_stuck_in_a_phase_for_an_hour_fires(tmp_path: Path) -> None:
    """Phase started at t=0 (the gauge holds the Unix time): quiet at 30 min, firing after
    an hour and the 5 minutes of ``for``; SafePoint (its own alert) and Observe (as long as
    the module says) never, nor a paused upgrade; two operator replicas are one alert (``pod``
    aggregated away)."""
    stuck = {
        "severity": "warning",
        "namespace": "plant",
        "module": "batch",
        "phase": "VerifiedBackup",
    }
    series = [
        _series(STARTED, "0x80", phase="VerifiedBackup"),
        _series(STARTED, "0x80", phase="VerifiedBackup", pod="op-1"),
        _series(STARTED, "0x80", phase="SafePoint", module="ebr"),
        _series(STARTED, "0x80", phase="Observe", module="rbe"),
        _series(STARTED, "0x80", phase="DeployGreen", module="paused"),
        _series("holon_operator_upgrade_paused", "1x80", module="paused"),
        _series("holon_operator_upgrade_paused", "0x80"),
    ]
    result = _promtool_test(
        tmp_path,
        [
            {
                "interval": "1m",
                "input_series": series,
                "alert_rule_test": [
                    _alert("HolonUpgradeStuck", "30m"),
                    _alert("HolonUpgradeStuck", "62m"),  # over the hour, not yet for 5 min
                    _alert("HolonUpgradeStuck", "70m", stuck),
                ],
            }
        ],
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_a_hold_a_rollback_and_a_failure_fire_their_alerts(tmp_path: Path) -> None:
    series = [
        _series("holon_operator_upgrade_held", "0 0 1 1 1 0 0"),
        _series(ENDED, "0 0 0 1 1 1", outcome="rolled_back"),
        _series(ENDED, "0 0 0 0 0 1", outcome="failed"),
        _series(ENDED, "0 1 1 1 1 1", outcome="qualified"),
    ]
    module = {"namespace": "plant", "module": "batch"}
    result = _promtool_test(
        tmp_path,
        [
            {
                "interval": "1m",
                "input_series": series,
                "alert_rule_test": [
                    _alert("HolonUpgradeHeld", "1m"),
                    _alert("HolonUpgradeHeld", "3m", {"severity": "warning", **module}),
                    _alert("HolonUpgradeHeld", "6m"),  # resumed
                    _alert("HolonUpgradeRolledBack", "2m"),  # a qualified one is no alert
                    _alert("HolonUpgradeRolledBack", "4m", {"severity": "warning", **module}),
                    _alert("HolonUpgradeFailed", "4m"),
                    _alert("HolonUpgradeFailed", "5m", {"severity": "critical", **module}),
                ],
            }
        ],
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_a_wrong_expectation_fails(tmp_path: Path) -> None:
    """The harness can fail: a hold that is not there is not reported."""
    result = _promtool_test(
        tmp_path,
        [
            {
                "interval": "1m",
                "input_series": [_series("holon_operator_upgrade_held", "0 0 0")],
                "alert_rule_test": [
                    _alert("HolonUpgradeHeld", "2m", {"severity": "warning", "module": "batch"})
                ],
            }
        ],
    )
    assert result.returncode != 0
