"""Equipment resources against the project's MTP simulator, running on the host.

The simulator (``mes_runtime simulate``) runs as a subprocess in both node-id layouts,
string (CODESYS-like) and numeric (ids in a vendor namespace): the operator verifies both
the same way, which shows its check browses for services rather than knowing node ids.
"""

from __future__ import annotations

import json
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
from holon_testing.simulator_process import simulated_module

pytestmark = pytest.mark.e2e

LAYOUTS = ("string", "numeric")
TANK = "TK-201"  # services Charge, Mix, AdjustPH; Cultivate is BR-101's


def equipment(name: str, endpoint: str, services: list[str]) -> dict[str, Any]:
    return {
        "apiVersion": "mes.holon.dev/v1alpha1",
        "kind": "Equipment",
        "metadata": {"name": name},
        "spec": {"endpoint": endpoint, "requiredServices": services, "timeoutSeconds": 2},
    }


@pytest.fixture
def simulators(tmp_path: Path) -> Iterator[dict[str, str]]:
    """TK-201's endpoint per layout, each served by its own simulator subprocess."""
    with simulated_module(TANK, LAYOUTS, tmp_path) as modules:
        yield {layout: module.endpoint for layout, module in modules.items()}


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
        out = cluster.kubectl("get", "equipment", name, "-n", namespace, "-o", "json").stdout
        obj: dict[str, Any] = json.loads(out)
        return obj

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
