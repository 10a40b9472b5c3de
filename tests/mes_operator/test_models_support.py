"""No CRD field without behaviour: a value Holon does not implement yet is refused, naming
the field and "not supported yet", by the model and by a CEL rule of the CRD on disk; the
module kind decides which feature flags may be switched on."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from mes_operator.builders import ModuleContext
from mes_operator.models import MESModuleSpec
from mes_operator.models.mesmodule import FEATURE_NAMES
from mes_operator.models.support import KIND_FEATURES, NOT_YET, cel_rules
from pydantic import ValidationError

ROOT = Path(__file__).resolve().parents[2]


def spec(**fields: Any) -> dict[str, Any]:
    return {"module": "batch-execution", "version": "1.0.0", **fields}


def _crd_rules() -> list[dict[str, str]]:
    crd = yaml.safe_load((ROOT / "crds" / "mesmodules.yaml").read_text())
    schema = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]
    rules: list[dict[str, str]] = schema["x-kubernetes-validations"]
    return rules


NOT_SUPPORTED = {
    "equipment-logbook": ({"module": "equipment-logbook"}, "spec.module"),
    "simulator": ({"features": {"equipmentSimulator": True}}, "spec.features.equipmentSimulator"),
    "equipment": ({"equipment": [{"name": "reactor"}]}, "spec.equipment"),
    "recreate": ({"upgradeStrategy": {"type": "Recreate"}}, "spec.upgradeStrategy"),
    "observe": ({"upgradeStrategy": {"observeSeconds": 60}}, "spec.upgradeStrategy"),
    "no-rollback": ({"upgradeStrategy": {"autoRollback": False}}, "spec.upgradeStrategy"),
}


@pytest.mark.parametrize(("fields", "field"), NOT_SUPPORTED.values(), ids=NOT_SUPPORTED.keys())
def test_a_value_without_behaviour_is_refused_naming_the_field(
    fields: dict[str, Any], field: str
) -> None:
    with pytest.raises(ValidationError, match=re.escape(f"{field}: not supported yet")):
        MESModuleSpec.model_validate(spec(**fields))


def test_the_defaults_spelt_out_are_accepted() -> None:
    accepted = MESModuleSpec.model_validate(
        spec(
            equipment=[],
            upgradeStrategy={"type": "BlueGreen", "observeSeconds": 300, "autoRollback": True},
            qualification={"required": True, "autoApproveCategories": []},
            features={"equipmentSimulator": False},
        )
    )
    assert accepted.equipment == []  # spelt out or left out, the same spec


def test_every_refusal_is_a_cel_rule_of_the_crd_on_disk() -> None:
    on_disk = _crd_rules()
    for rule in cel_rules(FEATURE_NAMES):
        assert rule in on_disk, rule["message"]
    messages = [rule["message"] for rule in on_disk]
    for refusal in NOT_YET:
        assert refusal.message in messages
        assert "not supported yet" in refusal.message


def test_an_operator_finds_a_spec_an_older_crd_admitted_invalid() -> None:
    body = {
        "metadata": {"name": "m", "namespace": "n", "uid": "u", "generation": 1},
        "spec": spec(upgradeStrategy={"type": "Recreate"}),
    }
    with pytest.raises(ValidationError, match=re.escape("spec.upgradeStrategy: not supported yet")):
        ModuleContext.from_body(body)


@pytest.mark.parametrize(
    ("kind", "flag"),
    [("ebr", "ui"), ("ebr", "electronicSignatures"), ("review-by-exception", "ui")],
)
def test_a_flag_the_kind_does_not_serve_is_refused(kind: str, flag: str) -> None:
    with pytest.raises(
        ValidationError,
        match=re.escape(f"spec.features.{flag}: a module of kind {kind} does not serve it"),
    ):
        MESModuleSpec.model_validate(spec(module=kind, features={flag: True}))


@pytest.mark.parametrize("kind", sorted(KIND_FEATURES))
def test_a_kind_takes_every_flag_it_serves(kind: str) -> None:
    features = dict.fromkeys(KIND_FEATURES[kind], True)
    parsed = MESModuleSpec.model_validate(spec(module=kind, features=features))
    assert parsed.features.model_dump(by_alias=True) == {
        flag: flag in KIND_FEATURES[kind] for flag in FEATURE_NAMES
    }


ORCHESTRATED = {
    "database": {"engine": "postgresql", "credentialsSecretRef": {"name": "db"}},
    "backup": {"storeSecret": "store"},
}
TIMEOUTS = {
    "greenReadyTimeoutSeconds": 600,
    "checksTimeoutSeconds": 900,
    "safePointTimeoutSeconds": 3600,
}


@pytest.mark.parametrize(("field", "default"), TIMEOUTS.items())
def test_an_upgrade_timeout_is_taken_only_with_orchestrated(field: str, default: int) -> None:
    with pytest.raises(
        ValidationError,
        match=re.escape(f"spec.upgradeStrategy.{field} is used only by an orchestrated upgrade"),
    ):
        MESModuleSpec.model_validate(spec(upgradeStrategy={field: default + 1}))
    plain = MESModuleSpec.model_validate(spec(upgradeStrategy={field: default}))
    assert plain.upgrade_strategy.model_dump(by_alias=True)[field] == default
    taken = MESModuleSpec.model_validate(
        spec(**ORCHESTRATED, upgradeStrategy={"orchestrated": True, field: 7})
    )
    assert taken.upgrade_strategy.model_dump(by_alias=True)[field] == 7
    rule = f"self.upgradeStrategy.orchestrated || self.upgradeStrategy.{field} == {default}"
    (on_disk,) = [r for r in _crd_rules() if r["rule"] == rule]
    assert on_disk["fieldPath"] == f".upgradeStrategy.{field}"
    assert f"spec.upgradeStrategy.{field}" in on_disk["message"]


def test_a_stopping_pod_s_safe_point_wait_is_its_own_field_for_every_strategy() -> None:
    """The Pods' wait is taken without orchestrated, from 0 to what a termination grace
    period may cover, and is not the switch's timeout (which rolls no Pod)."""
    field = "podSafePointWaitSeconds"
    assert MESModuleSpec.model_validate(spec()).upgrade_strategy.pod_safe_point_wait_seconds == 300
    for taken in (0, 120, 3600):
        plain = MESModuleSpec.model_validate(spec(upgradeStrategy={field: taken}))
        assert plain.upgrade_strategy.pod_safe_point_wait_seconds == taken
        assert plain.upgrade_strategy.safe_point_timeout_seconds == 3600
    for refused, bound in ((3601, "less than or equal to 3600"), (-1, "greater than or equal")):
        with pytest.raises(ValidationError, match=bound):
            MESModuleSpec.model_validate(spec(upgradeStrategy={field: refused}))
    week = {"orchestrated": True, "safePointTimeoutSeconds": 604800}
    switch = MESModuleSpec.model_validate(spec(**ORCHESTRATED, upgradeStrategy=week))
    assert switch.upgrade_strategy.pod_safe_point_wait_seconds == 300
    assert not [r for r in _crd_rules() if field in r["rule"]]


def test_the_upgrade_timeouts_default_to_the_machine_s_and_are_bounded() -> None:
    crd = yaml.safe_load((ROOT / "crds" / "mesmodules.yaml").read_text())
    schema = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]
    strategy = schema["properties"]["upgradeStrategy"]["properties"]
    for field, default in TIMEOUTS.items():
        assert strategy[field]["default"] == default
        assert strategy[field]["minimum"] == 1
        assert strategy[field]["description"]
        with pytest.raises(ValidationError):
            MESModuleSpec.model_validate(
                spec(**ORCHESTRATED, upgradeStrategy={"orchestrated": True, field: 0})
            )
