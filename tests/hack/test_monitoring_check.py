"""The chart's alert rules and dashboard query only metrics that exist, and say why."""

from __future__ import annotations

import json
import shutil
from typing import Any

import pytest
import yaml

from hack.monitoring_check import (
    DASHBOARD,
    RULES,
    dashboard_problems,
    exported_names,
    promtool,
    rule_problems,
)


@pytest.fixture(scope="module")
def known() -> set[str]:
    return exported_names()


def test_the_shipped_rules_and_dashboard_have_no_problem(known: set[str]) -> None:
    assert list(rule_problems(yaml.safe_load(RULES.read_text()), known)) == []
    assert list(dashboard_problems(json.loads(DASHBOARD.read_text()), known)) == []


def test_a_query_of_a_metric_nobody_exports_is_a_problem(known: set[str]) -> None:
    rules: dict[str, Any] = {
        "groups": [{"name": "g", "rules": [{"alert": "A", "expr": "holon_batchez_total > 0"}]}]
    }
    problems = list(rule_problems(rules, known))
    assert "rule A: queries holon_batchez_total, which nothing exports" in problems
    assert "alert A: no runbook annotation" in problems
    dashboard = json.loads(DASHBOARD.read_text())
    dashboard["panels"][1]["id"] = dashboard["panels"][0]["id"]
    dashboard["panels"][2]["targets"] = []
    found = list(dashboard_problems(dashboard, known))
    assert any("duplicate id" in p for p in found)
    assert any(p.endswith("no query") for p in found)


def test_every_metric_family_is_known(known: set[str]) -> None:
    assert {
        "holon_batches_started_total",
        "holon_batches_finished_total",
        "holon_element_state_changes_total",
        "holon_process_values_ingested_total",
        "holon_equipment_command_seconds_bucket",
        "holon_equipment_connected",
        "holon_journal_appends_total",
        "holon_journal_verifications_total",
        "holon_auth_failures_total",
        "holon_auth_lockouts_total",
        "holon_operator_reconciles_total",
        "holon_operator_drift_corrections_total",
        "holon_http_requests_total",
        "holon_http_request_duration_seconds_bucket",
        "holon_db_pool_connections_in_use",
        "holon_db_pool_size",
        "holon_db_query_duration_seconds_bucket",
        "holon_opcua_subscription_lag_seconds_bucket",
        "holon_batches_handed_over_total",
        "holon_operator_equipment_checks_total",
        "holon_operator_equipment_check_duration_seconds_bucket",
        "holon_operator_upgrades_started_total",
        "holon_operator_upgrades_ended_total",
        "holon_operator_upgrade_rollbacks_total",
        "holon_operator_upgrade_phase_duration_seconds_bucket",
        "holon_operator_upgrade_phase_started_timestamp_seconds",
        "holon_operator_upgrade_held",
        "holon_operator_upgrade_paused",
        "holon_operator_module_reconcile_timestamp_seconds",
        "holon_operator_modules_reconciled",
    } <= known


@pytest.mark.skipif(shutil.which("promtool") is None, reason="promtool: run hack/setup.sh")
def test_promtool_accepts_the_rules_and_refuses_a_broken_one() -> None:
    assert promtool(yaml.safe_load(RULES.read_text())) == []
    broken = {"groups": [{"name": "g", "rules": [{"alert": "A", "expr": "sum(("}]}]}
    assert promtool(broken) != []
