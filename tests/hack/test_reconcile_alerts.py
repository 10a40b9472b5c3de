"""``HolonOperatorNotReconciling`` fires when no replica of a release reconciles although
modules exist, and never for a standby's flat series (``promtool test rules`` on the
shipped rules)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.hack.test_upgrade_alerts import _alert, _promtool_test

pytestmark = pytest.mark.skipif(
    shutil.which("promtool") is None, reason="promtool: run hack/setup.sh"
)

ALERT = "HolonOperatorNotReconciling"
LAST = "holon_operator_module_reconcile_timestamp_seconds"
MODULES = "holon_operator_modules_reconciled"


def _replica(release: str, pod: str, last: str, modules: str) -> list[dict[str, str]]:
    """One operator replica's two heartbeat series, as the ServiceMonitor scrapes them (the
    gauge's value is Unix time; promtool's clock starts at 0, so ``0+60xN`` beats each
    minute)."""
    labels = f'namespace="holon-system", job="{release}", instance="{pod}:8082", pod="{pod}"'
    return [
        {"series": f"{LAST}{{{labels}}}", "values": last},
        {"series": f"{MODULES}{{{labels}}}", "values": modules},
    ]


def _quiet(*evals: str) -> list[dict[str, object]]:
    return [_alert(ALERT, at) for at in evals]


def test_a_standby_that_stays_flat_while_the_active_reconciles_is_no_alert(
    tmp_path: Path,
) -> None:
    """Release ``holon``: the active replica beats every minute, the standby (active once,
    at t=0, with three modules) stays flat for two hours. Release ``empty``: its modules
    were all deleted at 10 minutes (the deletion is the last beat, the count 0 since).
    Release ``fresh``: never reconciled (no modules): no series at all."""
    series = [
        *_replica("holon", "op-a", "0+60x120", "3x120"),
        *_replica("holon", "op-b", "0x120", "3x120"),
        *_replica("empty", "op-c", "0+60x10 600x110", "2x9 0x111"),
    ]
    result = _promtool_test(
        tmp_path,
        [{"interval": "1m", "input_series": series, "alert_rule_test": _quiet("30m", "2h")}],
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_no_replica_reconciling_although_modules_exist_fires(tmp_path: Path) -> None:
    """Release ``stalled``: the active replica stops beating at 20 minutes and keeps
    running (a stalled loop; its standby stays flat). Release ``gone``: the active Pod's
    series end at 20 minutes (killed; a standby that was never active exports none). Both
    fire after 10 minutes without a beat and the 5 minutes of ``for``, one alert per
    release, not per Pod."""
    series = [
        *_replica("stalled", "op-a", "0+60x20 1200x100", "3x120"),
        *_replica("stalled", "op-b", "0x120", "3x120"),
        *_replica("gone", "op-c", "0+60x20", "1x20"),
    ]
    firing = [
        {"severity": "critical", "namespace": "holon-system", "job": release}
        for release in ("stalled", "gone")
    ]
    result = _promtool_test(
        tmp_path,
        [
            {
                "interval": "1m",
                "input_series": series,
                "alert_rule_test": [
                    *_quiet("25m", "34m"),  # 10 minutes without a beat at 30, pending after
                    _alert(ALERT, "40m", *firing),
                    _alert(ALERT, "85m", *firing[:1]),  # an hour after the dead Pod's last scrape
                ],
            }
        ],
    )
    assert result.returncode == 0, result.stdout + result.stderr
