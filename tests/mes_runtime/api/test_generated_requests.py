"""Requests generated from the OpenAPI document (schemathesis) against a real runtime.

The runtime is a real ``mes-runtime serve`` process (uvicorn over TCP) on SQLite, with the
simulator's three modules imported and connected, the template library imported, the demo
recipe approved and a batch started, set up as ``make demo`` does. For each role
(anonymous, operator, supervisor, qa, admin), every operation of the document gets
generated requests, valid ones and ones that break the schema, ``GENERATED_API_CASES``
per role in all (default 1,000: what CI runs). Path parameters are often the real objects'
names and ids, so that the routes behind a 404 run too.

It fails on any 5xx (but a documented 503) and on any status the document does not list
for that operation; every failure found is reported, not just the first.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import status_code_conformance

from holon_testing.features import EVERY_FEATURE_ENV
from holon_testing.net import free_port
from mes_runtime.demo import DEMO_RECIPE, Demo

CASES_PER_ROLE = int(os.environ.get("GENERATED_API_CASES", "1000"))
ROLES = ("anonymous", "operator", "supervisor", "qa", "admin")
#: Operations not generated: one would end the role's run (its own token revoked), one never ends.
SKIPPED = {
    ("DELETE", "/api/v1/auth/token"),
    # a stream that stays open (for the real batch): tests/mes_runtime/test_live_replicas.py
    ("GET", "/api/v1/events"),
}
#: Operations whose cases cost ~1 s each on a busy 2-core machine: a whole master recipe
#: to generate and check, or an argon2 verification (by design) to answer. A few cases
#: each, the other operations make up the count.
COSTLY = {
    "POST /api/v1/recipes": 2,
    "POST /api/v1/recipes/validate": 2,
    "POST /api/v1/auth/token": 3,
    "POST /api/v1/auth/password": 3,
}
#: Print each operation's time as it ends (GENERATED_API_PROGRESS=1), to see where it goes.
PROGRESS = os.environ.get("GENERATED_API_PROGRESS") == "1"
#: Headers that frame the HTTP message itself. A generated value (``content-length: AQx4``)
#: is refused by the HTTP server (uvicorn's 400 "Invalid HTTP request received") before any
#: route runs: that is the protocol's answer, not the API's, so they are not generated.
FRAMING_HEADERS = frozenset(
    {"content-length", "transfer-encoding", "host", "connection", "expect", "te", "upgrade"}
)


@dataclass
class Plant:
    base: str
    headers: dict[str, dict[str, str]]
    ids: dict[str, list[Any]]
    timings: dict[str, float] = field(default_factory=dict)


@pytest.fixture(scope="module")
def plant(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Plant]:
    workdir = tmp_path_factory.mktemp("generated-requests")
    demo = Demo(workdir=workdir, port=free_port(), time_factor=3600)
    demo.env.update(EVERY_FEATURE_ENV)
    try:
        manifests = demo.start_simulator()
        demo.start_runtime()
        admin_password = demo.create_admin()
        people = demo.prepare(admin_password, manifests)
        supervisor = demo.enrol("supervisor", "supervisor")
        demo.wait_for_equipment(people["operator"]["headers"])  # an idle batch
        operator = people["operator"]["headers"]
        started = demo.http.post(
            f"/api/v1/batches/{demo.batch_id}/commands",
            json={"command": "start", "path": "procedure"},
            headers=operator,
        )
        assert started.status_code == 200, started.text
        headers = {
            "anonymous": {},
            "operator": operator,
            "qa": people["qa"]["headers"],
            "supervisor": demo.login("supervisor", supervisor),
            "admin": demo.login("admin", admin_password),
        }
        batch = demo.http.get(f"/api/v1/batches/{demo.batch_id}", headers=operator).json()
        ids: dict[str, list[Any]] = {
            "batch_id": [demo.batch_id],
            "username": ["operator", "qa", "supervisor"],
            "equipment": sorted(manifests),
            "recipe": [DEMO_RECIPE],
            "version": [1],
            "element": [e["path"] for e in batch["elements"]],
        }
        yield Plant(base=demo.base, headers=headers, ids=ids)
    finally:
        demo.stop()


def _with_real(schema: dict[str, Any], values: list[Any]) -> dict[str, Any]:
    """``schema`` or one of ``values`` (the real objects): generated values mostly miss."""
    return {"anyOf": [{"enum": values}, schema]}


def _document(plant: Plant) -> dict[str, Any]:
    """The runtime's own document, its path parameters offered the plant's real ids."""
    document: dict[str, Any] = httpx.get(f"{plant.base}/openapi.json", timeout=30).json()
    for path, operations in document["paths"].items():
        for operation in operations.values():
            for parameter in operation.get("parameters", []):
                if parameter["in"] != "path":
                    continue
                name = parameter["name"]
                key = name
                if name == "name":
                    key = "equipment" if path.startswith("/api/v1/equipment") else "recipe"
                if key in plant.ids:
                    parameter["schema"] = _with_real(parameter["schema"], plant.ids[key])
    return document


def _ends_the_path(case: schemathesis.Case) -> bool:
    """A path parameter of the wrong type (negative generation: a list, say) is written into
    the path by ``str()``, unquoted, so a ``?`` or ``#`` in it ends the path there: POST
    ``/review/[['x?y']]/evaluate`` became POST ``/review/[['x`` (a GET-only route, 405)."""
    return any(
        not isinstance(value, str) and any(mark in str(value) for mark in "?#")
        for value in (case.path_parameters or {}).values()
    )


@dataclass
class Tally:
    cases: int = 0
    statuses: dict[int, int] = field(default_factory=dict)
    failures: list[str] = field(default_factory=list)
    seconds: dict[str, float] = field(default_factory=dict)


def _run_operation(
    operation: schemathesis.APIOperation,
    plant: Plant,
    headers: dict[str, str],
    examples: int,
    tally: Tally,
    http: requests.Session,
) -> None:
    checks = [not_a_server_error, status_code_conformance]
    strategy = operation.as_strategy(schemathesis.GenerationMode.POSITIVE) | operation.as_strategy(
        schemathesis.GenerationMode.NEGATIVE
    )

    @settings(
        max_examples=examples,
        deadline=None,
        database=None,
        derandomize=False,
        phases=[Phase.explicit, Phase.generate],  # a failure is reported as found
        suppress_health_check=list(HealthCheck),
    )
    @given(case=strategy)
    def run(case: schemathesis.Case) -> None:
        if _ends_the_path(case):
            return  # the request addresses another URL, not this operation
        for name in [n for n in case.headers or {} if n.lower() in FRAMING_HEADERS]:
            del case.headers[name]
        response = case.call(base_url=plant.base, headers=headers, session=http, timeout=120)
        tally.cases += 1
        tally.statuses[response.status_code] = tally.statuses.get(response.status_code, 0) + 1
        case.validate_response(response, checks=checks)

    started = time.monotonic()
    try:
        run()
    except KeyboardInterrupt:
        raise
    except BaseException as exc:  # its report names the request (curl) and the answer
        found = exc.exceptions if isinstance(exc, BaseExceptionGroup) else ()
        details = "\n".join(f"  {type(e).__name__}: {e}"[:2000] for e in found)
        tally.failures.append(f"{operation.label}: {exc}\n{details}"[:5000])
    finally:
        spent = time.monotonic() - started
        tally.seconds[operation.label] = tally.seconds.get(operation.label, 0) + spent
        if PROGRESS:
            print(f"{operation.label}: {spent:.1f} s, {tally.cases} cases", flush=True)


@pytest.mark.timeout(900)
def test_generated_requests_get_only_documented_answers_and_no_server_error(
    plant: Plant,
) -> None:
    schema = schemathesis.openapi.from_dict(_document(plant))
    operations = [
        result.ok()
        for result in schema.get_all_operations()
        if (result.ok().method.upper(), result.ok().path) not in SKIPPED
    ]
    cheap = len(operations) - len(COSTLY)
    # a tenth more: operations with few possible inputs (GET /healthz) end early
    examples = math.ceil(1.1 * (CASES_PER_ROLE - sum(COSTLY.values())) / cheap)
    report: dict[str, Tally] = {}
    for role in ROLES:
        tally = report[role] = Tally()
        started = time.monotonic()
        with requests.Session() as http:
            while tally.cases < CASES_PER_ROLE:  # an operation with few inputs ends early
                for operation in operations:
                    n = COSTLY.get(operation.label, examples)
                    _run_operation(operation, plant, plant.headers[role], n, tally, http)
                if tally.failures:
                    break
        plant.timings[role] = time.monotonic() - started
    summary = "\n".join(
        f"{role}: {t.cases} cases in {plant.timings[role]:.0f} s, "
        f"statuses {sorted(t.statuses.items())}"
        for role, t in report.items()
    )
    print(summary)
    slowest = sorted(report["admin"].seconds.items(), key=lambda item: -item[1])[:8]
    print("slowest operations (admin):", [(label, round(s, 1)) for label, s in slowest])
    failures = [f"[{role}] {f}" for role, t in report.items() for f in t.failures]
    assert not failures, summary + "\n\n" + "\n\n".join(failures)
    assert all(t.cases >= CASES_PER_ROLE for t in report.values()), summary
