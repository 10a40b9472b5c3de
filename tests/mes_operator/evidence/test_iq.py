"""IQ rows from what the operator reads: each row passes on a module as installed and
fails, naming what differs, when the live system is not what was released and rendered;
differences from the baseline are explained by the change or deviations; the rows make a
package that verifies, its traceability naming every IQ requirement."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from mes_operator.builders import ModuleContext, build_children
from mes_operator.evidence.assemble import assemble
from mes_operator.evidence.iq import (
    FACTS,
    Observed,
    differences,
    installation_qualification,
    load_requirements,
)
from mes_operator.evidence.package import Result
from mes_operator.evidence.verify import verify_package

from holon_testing.evidence import (
    DIGEST,
    INSTALLATION,
    MODULE,
    NOW,
    install_package,
    live_copy,
    observed,
    pod,
)


def _row(result: Any, requirement: str) -> Any:
    return next(r for r in result.rows if r.requirement == requirement)


def test_a_module_as_installed_passes_every_row_and_makes_a_verifiable_package() -> None:
    result = installation_qualification(observed(), event="Install", baseline_facts=None)
    assert [r.requirement for r in result.rows] == [f"URS-IQ-{i:02d}" for i in range(1, 11)]
    failed = [(r.requirement, r.actual) for r in result.rows if r.result is not Result.PASS]
    assert failed == []
    assert result.deviations == []
    assert result.facts["image"]["digests"] == [DIGEST]
    assert json.loads(result.evidence[FACTS]) == result.facts
    for row in result.rows:
        assert row.evidence in result.evidence
        assert row.timestamp == NOW

    key = Ed25519PrivateKey.generate()
    package = install_package(result)
    assembled = assemble(package, result.evidence, key)
    assert verify_package(assembled.files, key.public_key()).problems == []
    matrix = {t["requirement"]: t["result"] for t in assembled.document["traceability"]}
    assert all(matrix[f"URS-IQ-{i:02d}"] == "pass" for i in range(1, 11))
    assert matrix["URS-OQ-04"] == "not tested"


def _deployment(obs: Observed) -> dict[str, Any]:
    return next(v for (k, _), v in obs.live.items() if k == "Deployment")  # type: ignore[return-value]


def _hand_edited_image(obs: Observed) -> Observed:
    live = copy.deepcopy(dict(obs.live))
    name = _deployment(obs)["metadata"]["name"]
    live[("Deployment", name)]["spec"]["template"]["spec"]["containers"][0]["image"] = "evil:1"
    return observed(live=live)


def _extra_secret(obs: Observed) -> Observed:
    live = copy.deepcopy(dict(obs.live))
    name = _deployment(obs)["metadata"]["name"]
    container = live[("Deployment", name)]["spec"]["template"]["spec"]["containers"][0]
    container.setdefault("envFrom", []).append({"secretRef": {"name": "stolen"}})
    return observed(live=live)


def _crd_edited(obs: Observed) -> Observed:
    live = copy.deepcopy(dict(obs.crds_live))
    name = sorted(live)[0]
    live[name]["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["type"] = "string"
    return observed(crds_live=live)


CASES: list[tuple[str, Callable[[Observed], Observed], str]] = [
    (
        "URS-IQ-01",
        lambda o: observed(pods=[*o.pods[:1], pod("p3", "x:1", "sha256:other")]),
        "sha256:other",
    ),
    ("URS-IQ-01", lambda o: observed(pods=[]), '"pods": 0'),
    ("URS-IQ-02", lambda o: observed(installation={**INSTALLATION, "version": "1.4.1"}), "1.4.1"),
    (
        "URS-IQ-02",
        lambda o: observed(installation=None, installation_error="HTTP 503"),
        "HTTP 503",
    ),
    (
        "URS-IQ-03",
        lambda o: observed(
            installation={
                **INSTALLATION,
                "schema": {
                    "current": ["a0"],
                    "heads": ["a1"],
                    "atHeads": False,
                    "dialect": "sqlite",
                },
            }
        ),
        "a0",
    ),
    ("URS-IQ-04", _crd_edited, "openAPIV3Schema.type"),
    ("URS-IQ-04", lambda o: observed(crds_live={}), "not installed"),
    (
        "URS-IQ-05",
        lambda o: observed(
            role_bindings=[
                {
                    "metadata": {"name": "grant"},
                    "roleRef": {"name": "edit"},
                    "subjects": [{"kind": "ServiceAccount", "name": "batch"}],
                }
            ]
        ),
        "grant",
    ),
    ("URS-IQ-06", _hand_edited_image, "spec.template.spec.containers[0].image"),
    ("URS-IQ-07", _extra_secret, "stolen/*"),
    (
        "URS-IQ-08",
        lambda o: observed(installation={**INSTALLATION, "settingsDigest": None}),
        "not reported",
    ),
    (
        "URS-IQ-09",
        lambda o: observed(
            equipment=[
                {
                    "metadata": {"name": "br-102"},
                    "spec": {},
                    "status": {"conditions": [{"type": "Verified", "status": "False"}]},
                }
            ]
        ),
        "br-102",
    ),
    ("URS-IQ-10", lambda o: observed(pods=[pod("p", "x", ready=False)]), "0"),
]


@pytest.mark.parametrize(("requirement", "change", "named"), CASES)
def test_a_live_system_unlike_the_release_fails_its_row_naming_what_differs(
    requirement: str, change: Callable[[Observed], Observed], named: str
) -> None:
    result = installation_qualification(change(observed()), event="Install", baseline_facts=None)
    row = _row(result, requirement)
    assert row.result is Result.FAIL
    assert named in json.dumps(row.actual) + (row.note or ""), row.actual


def test_differences_from_the_baseline_are_explained_by_an_upgrade_and_deviations_in_drift() -> (
    None
):
    baseline = installation_qualification(observed(), event="Install", baseline_facts=None).facts
    after = copy.deepcopy(baseline)
    after["image"]["digests"] = ["sha256:" + "3a" * 32]
    after["version"] = "1.5.0"
    after["equipment"] = {"br-101": "sha256:" + "4b" * 32}

    upgrade = {d.subject: d for d in differences(baseline, after, event="Upgrade")}
    assert set(upgrade) == {"image", "version", "equipment"}
    assert upgrade["image"].explained
    assert upgrade["version"].explained
    assert not upgrade["equipment"].explained
    assert "does not change the equipment" in upgrade["equipment"].explanation

    drift = differences(baseline, after, event="Drift")
    assert [d.explained for d in drift] == [False, False, False]
    assert differences(baseline, copy.deepcopy(baseline), event="Drift") == []


def test_the_baseline_comparison_lands_in_the_result() -> None:
    baseline = installation_qualification(observed(), event="Install", baseline_facts=None).facts
    upgraded = observed(
        installation={**INSTALLATION, "version": "1.4.2", "settingsDigest": "sha256:" + "5c" * 32}
    )
    result = installation_qualification(upgraded, event="Upgrade", baseline_facts=baseline)
    assert [(d.subject, d.explained) for d in result.deviations] == [("settings", True)]


def test_no_secret_value_is_in_the_evidence() -> None:
    """The workload's database credentials are a secretKeyRef: its name and key appear,
    and the observed objects hold no value to leak (the operator never reads Secrets here)."""
    module = copy.deepcopy(MODULE)
    module["spec"]["database"] = {
        "engine": "postgresql",
        "credentialsSecretRef": {"name": "db-credentials", "key": "password"},
    }
    desired = build_children(ModuleContext.from_body(module))
    obs = observed(
        module=module,
        desired=desired,
        live={(d["kind"], d["metadata"]["name"]): live_copy(d) for d in desired},
    )
    result = installation_qualification(obs, event="Install", baseline_facts=None)
    row = _row(result, "URS-IQ-07")
    assert row.result is Result.PASS
    assert "db-credentials/password" in row.actual
    text = b"".join(result.evidence.values()).decode()
    assert "secretKeyRef" in text  # the reference is recorded ...
    assert '"kind": "Secret"' not in text  # ... and no Secret object is


def test_the_urs_file_names_every_requirement_once() -> None:
    requirements = load_requirements()
    ids = [r.id for r in requirements]
    assert len(ids) == len(set(ids))
    assert {r.risk for r in requirements} <= {"high", "medium", "low"}
    assert {f"URS-IQ-{i:02d}" for i in range(1, 11)} <= set(ids)
