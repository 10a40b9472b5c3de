"""The operator -> runtime settings contract: every ``HOLON_*`` key the operator writes for
a runtime Pod (its ConfigMap and the Deployment's env) is a setting the runtime declares,
with a value it accepts; and the runtime refuses a key it does not know, naming it.

The operator and the runtime never import each other (``make lint``), so the contract is
held here, where a test may import both: the runtime's ``Settings`` is the typed contract,
the operator's builders are tested against it.
"""

from __future__ import annotations

import os
from typing import Any

import pytest
from mes_operator.builders import ModuleContext
from mes_operator.builders.configmap import config_data
from mes_operator.builders.deployment import build_deployment
from mes_operator.models.mesmodule import Features
from pydantic import ValidationError

from mes_runtime.settings import Settings, setting_keys, unknown_keys

PG = {"engine": "postgresql", "credentialsSecretRef": {"name": "db"}}
ALL_FEATURES = {field.alias or name: True for name, field in Features.model_fields.items()}


def context(**spec: Any) -> ModuleContext:
    return ModuleContext.from_body(
        {
            "apiVersion": "mes.holon.dev/v1alpha1",
            "kind": "MESModule",
            "metadata": {"name": "m", "namespace": "n", "uid": "u", "generation": 1},
            "spec": {"module": "batch-execution", "version": "1.2.3", **spec},
        }
    )


SPECS = {
    "defaults": {},
    "all-features-sqlite": {"features": ALL_FEATURES},
    "postgresql": {"database": PG, "features": {"ui": True}},
}


def runtime_environment(ctx: ModuleContext) -> dict[str, str]:
    """What a runtime container sees: the ConfigMap (envFrom) and the container's env,
    a secret's value standing in for a secretKeyRef."""
    env = dict(config_data(ctx))
    pod = build_deployment(ctx)["spec"]["template"]["spec"]
    (container,) = (c for c in pod["containers"] if c["name"] == "runtime")
    for var in container.get("env", []):
        env[var["name"]] = var.get("value", "postgresql+psycopg://holon:Kx8-w3q@db:5432/holon")
    return env


@pytest.fixture
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for key in list(os.environ):
        if key.upper().startswith("HOLON_"):
            monkeypatch.delenv(key)
    return monkeypatch


@pytest.mark.parametrize("spec", SPECS.values(), ids=SPECS.keys())
def test_every_key_the_operator_writes_is_a_runtime_setting(
    spec: dict[str, Any], clean_environment: pytest.MonkeyPatch
) -> None:
    env = runtime_environment(context(**spec))
    assert unknown_keys(env) == []
    for key, value in env.items():
        clean_environment.setenv(key, value)
    settings = Settings()
    assert settings.module == "batch-execution"
    assert settings.module_version == "1.2.3"
    enabled = {key for key, value in env.items() if value == "true"}
    for key in enabled:
        assert getattr(settings, key.removeprefix("HOLON_").lower()) is True, key


def test_every_feature_flag_of_the_crd_has_a_runtime_setting() -> None:
    written = {k for k in config_data(context(features=ALL_FEATURES)) if "FEATURE" in k}
    declared = {k for k in setting_keys() if k.startswith("HOLON_FEATURE_")}
    assert written == declared
    assert len(written) == len(Features.model_fields)


def test_an_unknown_holon_key_is_refused_by_name(clean_environment: pytest.MonkeyPatch) -> None:
    clean_environment.setenv("HOLON_FEATURE_TELEPATHY", "true")
    with pytest.raises(ValidationError, match="HOLON_FEATURE_TELEPATHY: not a setting"):
        Settings()


def test_other_programs_keys_are_left_alone(clean_environment: pytest.MonkeyPatch) -> None:
    clean_environment.setenv("HOLON_OPERATOR_RECONCILE_INTERVAL", "5")
    clean_environment.setenv("HOLON_CACHE", "/tmp/cache")  # noqa: S108 - never used as a path
    assert Settings().port == 8080
