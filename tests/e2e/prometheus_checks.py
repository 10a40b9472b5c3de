"""One Prometheus query per metric family of the runtime and the operator, and what it must
give once the real-node module has run its batch through a rolling update, a journal
verification and a failed login (``test_real_node.py``).

Every family Prometheus records for the two jobs must have a check here, so a new metric
cannot ship unqueried; the upgrade machine's families appear only while and after an
orchestrated upgrade, which ``test_real_node_upgrade.py`` and ``test_operator_metrics.py``
check on the operator's own exposition.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from mes_runtime.domain.exceptions import Category
from mes_runtime.engine.ports import Severity

__all__ = ["UPGRADE_FAMILIES", "Check", "failing", "operator_checks", "runtime_checks", "unchecked"]


@dataclass(frozen=True)
class Check:
    family: str  # a counter with its ``_total``, as its samples are named
    query: str  # PromQL giving one sample
    expected: str  # in words, for the failure message
    holds: Callable[[float | None], bool]  # None: the query gave no sample


def _positive(value: float | None) -> bool:
    return value is not None and value > 0


def _equals(expected: float) -> Callable[[float | None], bool]:
    return lambda value: value == expected


def _at_least(expected: float) -> Callable[[float | None], bool]:
    return lambda value: value is not None and value >= expected


def runtime_checks(replicas: int) -> tuple[Check, ...]:
    """The runtime's families, scraped from each of ``replicas`` Pods."""
    each = float(replicas)
    exceptions = len(Category) * len(Severity)
    return (
        Check("holon_http_requests_total", "sum(holon_http_requests_total)", "> 0", _positive),
        Check(
            "holon_http_request_duration_seconds",
            "sum(holon_http_request_duration_seconds_count)",
            "> 0",
            _positive,
        ),
        Check(
            "holon_batches_started_total",
            "count(holon_batches_started_total)",
            f"a series on each of the {replicas} replicas",
            _equals(each),
        ),
        Check(
            "holon_batches_finished_total",
            'sum(holon_batches_finished_total{result="complete"})',
            "1: the batch, counted once across the replicas",
            _equals(1),
        ),
        Check(
            "holon_batches_taken_over_total",
            "sum(holon_batches_taken_over_total)",
            ">= 1: a replica of the new version took the batch over",
            _at_least(1),
        ),
        Check(
            "holon_batches_handed_over_total",
            "count(holon_batches_handed_over_total)",
            f"a series on each of the {replicas} replicas",
            _equals(each),
        ),
        Check(
            "holon_batches_running",
            "sum(holon_batches_running)",
            "0 on every replica: the batch completed",
            _equals(0),
        ),
        Check(
            "holon_batches_in_state",
            "sum(holon_batches_in_state)",
            "0 (the owner's series of the states it saw): the batch completed",
            _equals(0),
        ),
        Check(
            "holon_element_state_changes_total",
            "sum(holon_element_state_changes_total)",
            "> 0",
            _positive,
        ),
        Check(
            "holon_process_values_ingested_total",
            "sum(holon_process_values_ingested_total)",
            "> 0",
            _positive,
        ),
        Check(
            "holon_equipment_commands_total",
            "sum(holon_equipment_commands_total)",
            "> 0: the new owner commanded the equipment",
            _positive,
        ),
        Check(
            "holon_equipment_command_seconds",
            "sum(holon_equipment_command_seconds_count)",
            "> 0",
            _positive,
        ),
        Check(
            "holon_equipment_connected",
            "max(holon_equipment_connected)",
            "1: the simulator is connected",
            _equals(1),
        ),
        Check(
            "holon_opcua_subscription_lag_seconds",
            "sum(holon_opcua_subscription_lag_seconds_count)",
            "> 0",
            _positive,
        ),
        Check("holon_journal_appends_total", "sum(holon_journal_appends_total)", "> 0", _positive),
        Check(
            "holon_journal_verifications_total",
            'sum(holon_journal_verifications_total{result="failed"})',
            "0: the series exists and no verification failed",
            _equals(0),
        ),
        Check(
            "holon_batch_exceptions_total",
            "count(holon_batch_exceptions_total)",
            f"{exceptions} series (category x severity) on each replica",
            _equals(exceptions * each),
        ),
        Check(
            "holon_auth_failures_total",
            'sum(holon_auth_failures_total{via="login"})',
            ">= 1: the test's login with a wrong password",
            _at_least(1),
        ),
        Check(
            "holon_auth_lockouts_total",
            "sum(holon_auth_lockouts_total)",
            "0: the series exist and no account was locked",
            _equals(0),
        ),
        Check(
            "holon_db_pool_size",
            "count(holon_db_pool_size > 0)",
            f"a pool on each of the {replicas} replicas",
            _equals(each),
        ),
        Check(
            "holon_db_pool_connections_in_use",
            "count(holon_db_pool_connections_in_use)",
            f"a series on each of the {replicas} replicas",
            _equals(each),
        ),
        Check(
            "holon_db_query_duration_seconds",
            "sum(holon_db_query_duration_seconds_count)",
            "> 0",
            _positive,
        ),
    )


def operator_checks() -> tuple[Check, ...]:
    """The operator's families outside an upgrade (its one active replica is scraped)."""
    return (
        Check(
            "holon_operator_reconciles_total",
            'sum(holon_operator_reconciles_total{kind="MESModule",result="ok"})',
            "> 0",
            _positive,
        ),
        Check(
            "holon_operator_reconcile_duration_seconds",
            'sum(holon_operator_reconcile_duration_seconds_count{kind="MESModule"})',
            "> 0",
            _positive,
        ),
        Check(
            "holon_operator_drift_corrections_total",
            "count(holon_operator_drift_corrections_total)",
            "a series for each of the 5 child kinds (the rise is checked after a drift)",
            _equals(5),
        ),
        Check(
            "holon_operator_equipment_checks_total",
            'sum(holon_operator_equipment_checks_total{result="AllServicesPresent"})',
            ">= 1: br-101 verified",
            _at_least(1),
        ),
        Check(
            "holon_operator_equipment_check_duration_seconds",
            'sum(holon_operator_equipment_check_duration_seconds_count{result="AllServicesPresent"})',
            ">= 1",
            _at_least(1),
        ),
        Check(
            "holon_operator_module_reconcile_timestamp_seconds",
            "max(holon_operator_module_reconcile_timestamp_seconds)",
            "a reconcile in the last 10 minutes",
            lambda value: value is not None and time.time() - value < 600,
        ),
        Check(
            "holon_operator_modules_reconciled",
            "max(holon_operator_modules_reconciled)",
            ">= 1",
            _at_least(1),
        ),
    )


#: Present only while and after an orchestrated upgrade (checked on the operator's
#: exposition by the upgrade tests).
UPGRADE_FAMILIES = frozenset(
    {
        "holon_operator_upgrades_started_total",
        "holon_operator_upgrades_ended_total",
        "holon_operator_upgrade_rollbacks_total",
        "holon_operator_upgrade_phase_duration_seconds",
        "holon_operator_upgrade_phase_started_timestamp_seconds",
        "holon_operator_upgrade_held",
        "holon_operator_upgrade_paused",
    }
)


def _family(name: str) -> str:
    """A counter's family without its ``_total``: Prometheus records the family's name so
    in its metadata, the exposition's samples carry the suffix."""
    return name.removesuffix("_total")


def unchecked(recorded: Iterable[str], checks: Iterable[Check]) -> set[str]:
    """Holon's families Prometheus recorded that no check queries (upgrade ones aside)."""
    known = {_family(name) for name in (*(check.family for check in checks), *UPGRADE_FAMILIES)}
    return {
        name for name in map(_family, recorded) if name.startswith("holon_") and name not in known
    }


def failing(value_of: Callable[[str], float | None], checks: Iterable[Check]) -> list[str]:
    """Each check whose query does not give what it expects, with what it gave."""
    misses = []
    for check in checks:
        value = value_of(check.query)
        print(f"[prometheus] {check.query} = {value}", flush=True)
        if not check.holds(value):
            misses.append(f"{check.query} gave {value}, expected {check.expected}")
    return misses
