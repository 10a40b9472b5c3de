"""The opt-in that hands a module's version change to the upgrade machine, its spec fields
(spec.upgradeStrategy.orchestrated, accountSecret, spec.backup.storeSecret) and how the
plain reconcile takes the new slot over once the upgrade is done (pure parts; the I/O is
tested against a real API server in tests/e2e/test_operator_upgrade_io.py)."""

from __future__ import annotations

from typing import Any

import pytest
from mes_operator.builders import ModuleContext, build_children
from mes_operator.builders.upgrade import build_new_slot
from mes_operator.models import MESModuleSpec
from mes_operator.models.mesmodule import Colour
from mes_operator.upgrade.drive import in_flight, orchestrating
from mes_operator.upgrade.runtime import account_secret_name
from pydantic import ValidationError

PG = {"engine": "postgresql", "credentialsSecretRef": {"name": "db"}}
ON = {"orchestrated": True}


def spec(version: str = "1.1.0", **fields: Any) -> MESModuleSpec:
    base = {"module": "batch-execution", "version": version, "database": PG}
    return MESModuleSpec.model_validate(base | fields)


def upgrade(phase: str) -> dict[str, Any]:
    return {
        "phase": phase,
        "fromVersion": "1.0.0",
        "toVersion": "1.1.0",
        "startedAt": "2026-11-30T12:00:00Z",
    }


ORCHESTRATED = spec(upgradeStrategy=ON, backup={"storeSecret": "store"})


@pytest.mark.parametrize(
    ("the_spec", "status", "expected"),
    [
        # today's modules: never, whatever the status says
        (spec(), {"currentVersion": "1.0.0"}, False),
        (spec(), {"currentVersion": "1.0.0", "upgrade": upgrade("SafePoint")}, False),
        # opted in: a version to reach, or an upgrade in flight
        (ORCHESTRATED, {"currentVersion": "1.0.0"}, True),
        (ORCHESTRATED, {"currentVersion": "1.1.0"}, False),
        (ORCHESTRATED, {}, False),  # never installed: the plain reconcile installs it
        (ORCHESTRATED, {"currentVersion": "1.1.0", "upgrade": upgrade("Observe")}, True),
        (ORCHESTRATED, {"currentVersion": "1.1.0", "upgrade": upgrade("Qualified")}, False),
        # rolled back at this version: the machine keeps the old slot until a retry
        (ORCHESTRATED, {"currentVersion": "1.0.0", "upgrade": upgrade("RolledBack")}, True),
    ],
)
def test_the_machine_owns_the_slots_only_when_opted_in_and_upgrading(
    the_spec: MESModuleSpec, status: dict[str, Any], expected: bool
) -> None:
    assert orchestrating(the_spec, status) is expected


def test_in_flight_means_started_and_not_ended() -> None:
    assert not in_flight({})
    assert in_flight({"upgrade": upgrade("RollingBack")})
    for end in ("Qualified", "RolledBack", "Failed"):
        assert not in_flight({"upgrade": upgrade(end)})


def test_a_postgresql_module_that_opts_in_needs_a_store_secret() -> None:
    with pytest.raises(ValidationError, match=r"spec\.backup\.storeSecret is required"):
        spec(upgradeStrategy=ON)
    assert spec(upgradeStrategy=ON, backup={"storeSecret": "store"}).backup is not None
    # the upgrade machine's own settings are accepted once it is opted in, not before
    assert spec(upgradeStrategy=ON | {"observeSeconds": 30}, backup={"storeSecret": "s"})
    with pytest.raises(ValidationError, match=r"spec\.upgradeStrategy: not supported yet"):
        spec(upgradeStrategy={"observeSeconds": 30})


def test_only_a_postgresql_module_may_opt_in() -> None:
    with pytest.raises(ValidationError, match=r"orchestrated needs spec\.database\.engine"):
        MESModuleSpec.model_validate(
            {"module": "batch-execution", "version": "1.0.0", "upgradeStrategy": ON}
        )


def test_the_machine_account_secret_defaults_to_the_module_name() -> None:
    body = {"metadata": {"name": "batch", "namespace": "plant", "uid": "u"}}
    default = ModuleContext.from_body(body | {"spec": ORCHESTRATED.model_dump(by_alias=True)})
    assert account_secret_name(default) == "batch-upgrade-account"
    named = ORCHESTRATED.model_dump(by_alias=True)
    named["upgradeStrategy"]["accountSecret"] = "upgrader"
    assert account_secret_name(ModuleContext.from_body(body | {"spec": named})) == "upgrader"


@pytest.mark.parametrize("colour", list(Colour))
def test_the_plain_reconcile_takes_over_the_slot_an_upgrade_left(colour: Colour) -> None:
    """After an upgrade to ``colour``, the plain reconcile applies exactly what the machine
    applied for that slot: the upgraded Pods are not restarted by the hand-over."""
    body = {
        "metadata": {"name": "batch", "namespace": "plant", "uid": "u", "generation": 3},
        "spec": ORCHESTRATED.model_dump(by_alias=True),
        "status": {"activeColour": colour.value, "currentVersion": "1.1.0"},
    }
    ctx = ModuleContext.from_body(body)
    children = {(c["kind"], c["metadata"]["name"]): c for c in build_children(ctx)}
    config, deployment = build_new_slot(ctx, colour, "1.1.0")
    assert children[("ConfigMap", config["metadata"]["name"])] == config
    assert children[("Deployment", f"batch-{colour.value}")] == deployment
    service = children[("Service", "batch")]
    assert service["spec"]["selector"]["mes.holon.dev/colour"] == colour.value


def test_a_blue_module_keeps_the_children_it_always_had() -> None:
    body = {
        "metadata": {"name": "batch", "namespace": "plant", "uid": "u", "generation": 1},
        "spec": spec(version="1.0.0").model_dump(by_alias=True),
    }
    names = [
        (c["kind"], c["metadata"]["name"]) for c in build_children(ModuleContext.from_body(body))
    ]
    assert ("ConfigMap", "batch-config") in names
    assert ("Deployment", "batch-blue") in names
