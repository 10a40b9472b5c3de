"""Operator settings: from the environment, onto a real kopf OperatorSettings."""

from __future__ import annotations

import kopf
from mes_operator.settings import FINALIZER, OperatorConfig, configure


def test_env_overrides_defaults() -> None:
    config = OperatorConfig.from_env(
        {"HOLON_OPERATOR_RECONCILE_INTERVAL": "5", "HOLON_OPERATOR_PEERING": "false"}
    )
    assert config.reconcile_interval == 5.0
    assert config.peering is False
    assert OperatorConfig.from_env({}) == OperatorConfig()


def test_configure_sets_finalizer_watch_timeouts_and_peering() -> None:
    settings = kopf.OperatorSettings()
    configure(settings, OperatorConfig(priority=7))
    assert settings.persistence.finalizer == FINALIZER == "mes.holon.dev/finalizer"
    assert settings.watching.server_timeout == 270
    assert settings.watching.client_timeout == 300
    assert settings.peering.name == "holon"
    assert settings.peering.priority == 7
    assert settings.peering.clusterwide is True
    assert settings.peering.mandatory is True
    assert settings.queueing.worker_limit == 50


def test_worker_limit_comes_from_the_environment() -> None:
    config = OperatorConfig.from_env({"HOLON_OPERATOR_WORKER_LIMIT": "5"})
    settings = kopf.OperatorSettings()
    configure(settings, config)
    assert settings.queueing.worker_limit == 5


def test_unset_priority_is_random_and_nonzero() -> None:
    priorities = {OperatorConfig().effective_priority() for _ in range(20)}
    assert 0 not in priorities
    assert len(priorities) > 1
