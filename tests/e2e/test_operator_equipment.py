"""Equipment resources against the project's MTP simulator, running on the host.

The simulator (``mes_runtime simulate``) runs as a subprocess in both node-id layouts,
string (CODESYS-like) and numeric (ids in a vendor namespace): the operator verifies both
the same way, which shows its check browses for services rather than knowing node ids.

With ``spec.manifest`` the operator reads the manifest the simulator publishes (in the
structure vendors' tools export) from a ConfigMap, as the chart's ServiceAccount, and
reads every node it declares: a node id the server does not serve is named in the status.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from e2e_cluster import Cluster
from operator_support import (  # noqa: F401
    OperatorFactory,
    condition,
    holon,
    operators,
)

from holon_testing.net import free_port
from holon_testing.simulator_process import SimulatedModule, simulated_module

pytestmark = pytest.mark.e2e

LAYOUTS = ("string", "numeric")
TANK = "TK-201"  # services Charge, Mix, AdjustPH; Cultivate is BR-101's
DECLARED = ["Charge", "Mix", "AdjustPH"]  # in the manifest's order
KEY = f"{TANK}.aml"
# a node id per layout that the simulator does not serve, in the namespace it does serve
UNSERVED = {"string": "|var|TK201.Application.MTP.Services.Mix.StateGone", "numeric": "987654"}


def equipment(name: str, endpoint: str, services: list[str]) -> dict[str, Any]:
    return {
        "apiVersion": "mes.holon.dev/v1alpha1",
        "kind": "Equipment",
        "metadata": {"name": name},
        "spec": {"endpoint": endpoint, "requiredServices": services, "timeoutSeconds": 2},
    }


def with_manifest(
    name: str, endpoint: str, config_map: str, *, interval: int = 60
) -> dict[str, Any]:
    """An Equipment that names its manifest and requires no service (so: every declared)."""
    obj = equipment(name, endpoint, [])
    obj["spec"]["manifest"] = {"configMapRef": {"name": config_map, "key": KEY}}
    obj["spec"]["checkIntervalSeconds"] = interval
    return obj


@pytest.fixture
def simulated(tmp_path: Path) -> Iterator[dict[str, SimulatedModule]]:
    """TK-201 per layout, each served by its own simulator subprocess (with its manifest)."""
    with simulated_module(TANK, LAYOUTS, tmp_path) as modules:
        yield modules


@pytest.fixture
def simulators(simulated: dict[str, SimulatedModule]) -> dict[str, str]:
    """TK-201's endpoint per layout."""
    return {layout: module.endpoint for layout, module in simulated.items()}


def moved(aml: str, variable: str, identifier: str) -> str:
    """The manifest text with ``variable``'s OPC UA item pointed at ``identifier`` - a
    vendor's export out of step with the PLC program (exactly one item changed)."""
    item = re.compile(
        rf'(<ExternalInterface Name="{re.escape(variable)}"[^>]*>\s*'
        r'<Attribute Name="Identifier"[^>]*>\s*<Value>)[^<]*(</Value>)'
    )
    text, count = item.subn(rf"\g<1>{identifier}\g<2>", aml)
    assert count == 1, f"{variable} is not one OPC UA item of the manifest"
    return text


def create_config_map(cluster: Cluster, namespace: str, name: str, manifest: Path) -> None:
    """The manifest file as a ConfigMap key, as a platform team would load it."""
    cluster.kubectl("create", "configmap", name, "-n", namespace, f"--from-file={KEY}={manifest}")


def get_equipment(cluster: Cluster, namespace: str, name: str) -> dict[str, Any]:
    out = cluster.kubectl("get", "equipment", name, "-n", namespace, "-o", "json").stdout
    obj: dict[str, Any] = json.loads(out)
    return obj


def test_verified_dead_and_missing_service(
    cluster: Cluster,
    namespace: str,
    operators: OperatorFactory,  # noqa: F811
    simulators: dict[str, str],
) -> None:
    operators.start(priority=100)
    dead = f"opc.tcp://127.0.0.1:{free_port()}/"
    cluster.apply(
        *(equipment(f"tank-{layout}", simulators[layout], ["Charge", "Mix", "AdjustPH"])
          for layout in LAYOUTS),
        *(equipment(f"lacking-{layout}", simulators[layout], ["Charge", "Cultivate"])
          for layout in LAYOUTS),
        # TK-201 has a process value named Temperature: a node, but not a service
        *(equipment(f"value-{layout}", simulators[layout], ["Temperature"])
          for layout in LAYOUTS),
        equipment("dead", dead, ["Charge"]),
        namespace=namespace,
    )  # fmt: skip

    def get(name: str) -> dict[str, Any]:
        return get_equipment(cluster, namespace, name)

    names = [f"{kind}-{layout}" for kind in ("tank", "lacking", "value") for layout in LAYOUTS]
    for name in (*names, "dead"):
        cluster.eventually(
            f"{name} checked", lambda n=name: bool(condition(get(n), "Verified")), 60
        )

    for layout in LAYOUTS:
        tank = get(f"tank-{layout}")
        assert condition(tank, "Connected")["status"] == "True", (layout, tank["status"])
        verified = condition(tank, "Verified")
        assert (verified["status"], verified["reason"]) == ("True", "AllServicesPresent"), (
            layout,
            verified,
        )
        assert tank["status"]["foundServices"] == ["Charge", "Mix", "AdjustPH"]
        assert tank["status"]["missingServices"] == []
        assert tank["status"]["checkDurationSeconds"] > 0

        lacking = get(f"lacking-{layout}")
        assert condition(lacking, "Connected")["status"] == "True", (layout, lacking["status"])
        verified = condition(lacking, "Verified")
        assert (verified["status"], verified["reason"]) == ("False", "ServiceMissing"), (
            layout,
            verified,
        )
        assert "lacks required MTP service(s): Cultivate" in verified["message"]
        assert lacking["status"]["foundServices"] == ["Charge"]
        assert lacking["status"]["missingServices"] == ["Cultivate"]

        value = get(f"value-{layout}")
        verified = condition(value, "Verified")
        assert (verified["status"], verified["reason"]) == ("False", "ServiceMissing"), (
            layout,
            verified,
        )
        assert value["status"]["missingServices"] == ["Temperature"]

    dead_obj = get("dead")
    connected = condition(dead_obj, "Connected")
    assert (connected["status"], connected["reason"]) == ("False", "Unreachable")
    assert dead in connected["message"]
    assert condition(dead_obj, "Verified")["status"] == "False"

    cluster.kubectl(
        "wait", "--for=condition=Verified", "equipment/tank-string", "equipment/tank-numeric",
        "-n", namespace, "--timeout=10s",
    )  # fmt: skip
    listed = cluster.kubectl("get", "mes", "-n", namespace).stdout
    assert "equipment.mes.holon.dev/tank-numeric" in listed


def test_manifest_verified_and_a_node_it_declares_missing(
    cluster: Cluster,
    namespace: str,
    operators: OperatorFactory,  # noqa: F811
    simulated: dict[str, SimulatedModule],
    tmp_path: Path,
) -> None:
    """The simulator's own manifest verifies; the same manifest with Mix.StateCur pointing
    at an id the server does not serve is NodesMissing, that node named, Mix out."""
    operators.start(priority=100)
    names = []
    for layout, module in simulated.items():
        published = module.manifest_path.read_text()
        broken = tmp_path / f"broken-{layout}" / KEY
        broken.parent.mkdir()
        broken.write_text(moved(published, "Mix.StateCur", UNSERVED[layout]))
        create_config_map(cluster, namespace, f"tk-{layout}-mtp", module.manifest_path)
        create_config_map(cluster, namespace, f"broken-{layout}-mtp", broken)
        cluster.apply(
            with_manifest(f"tk-{layout}", module.endpoint, f"tk-{layout}-mtp"),
            with_manifest(f"broken-{layout}", module.endpoint, f"broken-{layout}-mtp"),
            namespace=namespace,
        )
        names += [f"tk-{layout}", f"broken-{layout}"]
    for name in names:
        cluster.eventually(
            f"{name} checked",
            lambda n=name: bool(condition(get_equipment(cluster, namespace, n), "Verified")),
            60,
        )

    for layout, module in simulated.items():
        declared = len(module.manifest.nodes())
        tank = get_equipment(cluster, namespace, f"tk-{layout}")
        verified = condition(tank, "Verified")
        assert (verified["status"], verified["reason"]) == ("True", "AllServicesPresent"), (
            layout,
            tank["status"],
        )
        assert f"serves all {declared} node(s) of manifest '{TANK}'" in verified["message"]
        assert tank["status"]["foundServices"] == DECLARED == list(module.manifest.services)
        assert (tank["status"]["missingServices"], tank["status"]["missingNodes"]) == ([], [])

        broken = get_equipment(cluster, namespace, f"broken-{layout}")
        assert condition(broken, "Connected")["status"] == "True", (layout, broken["status"])
        verified = condition(broken, "Verified")
        assert (verified["status"], verified["reason"]) == ("False", "NodesMissing"), (
            layout,
            verified,
        )
        [node] = broken["status"]["missingNodes"]
        assert (node["variable"], node["status"]) == ("Mix.StateCur", "BadNodeIdUnknown"), node
        assert node["nodeId"].endswith(UNSERVED[layout]), node
        assert node["nodeId"] in verified["message"]
        assert "Mix.StateCur" in verified["message"]
        assert broken["status"]["foundServices"] == ["Charge", "AdjustPH"]
        assert broken["status"]["missingServices"] == ["Mix"]


def test_manifest_config_map_missing_then_created(
    cluster: Cluster,
    namespace: str,
    operators: OperatorFactory,  # noqa: F811
    simulated: dict[str, SimulatedModule],
) -> None:
    """A missing ConfigMap is ManifestNotFound, naming it; created, it is read at the next
    check. The operator does not watch ConfigMaps (the chart lets it read them by name
    only): the check interval, here the minimum 10 s, is what notices."""
    operators.start(priority=100)
    module = simulated["string"]
    cluster.apply(
        with_manifest("late", module.endpoint, "late-mtp", interval=10), namespace=namespace
    )

    def verified() -> dict[str, Any]:
        return condition(get_equipment(cluster, namespace, "late"), "Verified")

    cluster.eventually("late checked", lambda: bool(verified()), 60)
    missing = verified()
    assert (missing["status"], missing["reason"]) == ("False", "ManifestNotFound"), missing
    assert (
        f"ConfigMap {namespace}/late-mtp named by spec.manifest not found" in (missing["message"])
    )
    assert condition(get_equipment(cluster, namespace, "late"), "Connected")["status"] == "True"

    create_config_map(cluster, namespace, "late-mtp", module.manifest_path)
    # a check every 10 s (a 2 s timer) and a check of well under a second: 30 s is room
    cluster.eventually(
        "late verified from its new ConfigMap", lambda: verified()["status"] == "True", 30
    )
    late = get_equipment(cluster, namespace, "late")
    assert condition(late, "Verified")["reason"] == "AllServicesPresent"
    assert late["status"]["foundServices"] == DECLARED
