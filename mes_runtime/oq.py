"""``mes-runtime oq``: the runtime's operational qualification suite, run from its own image.

The operator runs it as a Job with the new version's image before an upgrade switches
traffic (and after an install); its rows go into the evidence package, each naming the user
requirement (URS id, ``operator/mes_operator/evidence/requirements.yaml``) it tests.

It exercises this version's code end to end in a scratch installation of its own, never the
plant's database (OQ writes test batches; they belong in no production record): the
equipment simulator and ``mes-runtime serve`` on a fresh SQLite database, in subprocesses, as
``make demo`` runs them (:class:`mes_runtime.demo.Demo`), then over HTTP:

- URS-OQ-01 sign-in: a wrong password is refused, the right one signs in; roles: an operator
  cannot approve a recipe;
- URS-OQ-02 recipe validation: a recipe with a broken transition is refused naming it; the
  valid one is accepted;
- URS-OQ-03 electronic signature: approval with a wrong password is refused; with the right
  one it is recorded with its meaning and the signer;
- URS-OQ-04 a recipe runs to completion on the simulated units (the short buffer
  preparation in the smoke scope, the full mAb demo batch in the full scope);
- URS-OQ-05 the journal's hash chain verifies.

Scope (GAMP 5 / FDA CSA): ``full`` for a change that touches batch execution, ``smoke``
otherwise; the reason is recorded in every row's note. The result is one JSON document on
stdout (progress goes to stderr): ``{"format", "version", "scope", "reason", "rows",
"evidence"}``, ``evidence`` mapping file names to their text. Exit 0 when every row passed.
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import json
import os
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

import mes_runtime
from mes_runtime.demo import DEMO_RECIPE, Demo, _free_port
from mes_runtime.library import load_template

__all__ = ["FORMAT", "Suite", "main", "run_suite"]

FORMAT = "holon.dev/oq/v1"
SMOKE_RECIPE = "buffer-prep-only"
ENDED = {"complete", "stopped", "aborted"}


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _exchange(response: httpx.Response) -> dict[str, Any]:
    """What a request and its answer were, for the evidence (never a header: tokens)."""
    try:
        body: Any = response.json()
    except ValueError:
        body = response.text[:2000]
    return {
        "request": f"{response.request.method} {response.request.url.path}",
        "status": response.status_code,
        "body": body,
    }


@dataclass
class Suite:
    """The rows recorded so far and their evidence files."""

    scope: str
    reason: str
    rows: list[dict[str, Any]] = field(default_factory=list)
    evidence: dict[str, str] = field(default_factory=dict)

    def row(
        self,
        requirement: str,
        *,
        expected: Any,
        actual: Any,
        ok: bool,
        evidence: str,
        content: Any,
    ) -> bool:
        path = f"evidence/oq/{evidence}"
        self.evidence[path] = json.dumps(content, indent=2, sort_keys=True, default=str) + "\n"
        self.rows.append(
            {
                "id": f"OQ-{len(self.rows) + 1:02d}",
                "requirement": requirement,
                "expected": expected,
                "actual": actual,
                "result": "pass" if ok else "fail",
                "timestamp": _now(),
                "evidence": path,
                "scope": self.scope,
                "note": self.reason,
            }
        )
        return ok

    def document(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "version": mes_runtime.__version__,
            "scope": self.scope,
            "reason": self.reason,
            "rows": self.rows,
            "evidence": self.evidence,
        }


def _sign_in(demo: Demo, suite: Suite, admin_password: str) -> dict[str, str]:
    wrong = demo.http.post(
        "/api/v1/auth/token", json={"username": "admin", "password": "not-the-password"}
    )
    right = demo.http.post(
        "/api/v1/auth/token", json={"username": "admin", "password": admin_password}
    )
    suite.row(
        "URS-OQ-01",
        expected="a wrong password refused (401), the right one signs in (200)",
        actual=f"wrong: {wrong.status_code}, right: {right.status_code}",
        ok=wrong.status_code == 401 and right.status_code == 200,
        evidence="sign-in.json",
        content={"wrong_password": _exchange(wrong), "right_password": right.status_code},
    )
    return {"Authorization": f"Bearer {right.json().get('access_token', '')}"}


def _recipes(demo: Demo, suite: Suite, admin: dict[str, str], recipe: str) -> str:
    valid = load_template(recipe).to_canonical_data()
    broken = copy.deepcopy(valid)
    operation = broken["procedure"]["steps"][0]["steps"][0]
    operation["transitions"][-1]["from"] = ["no-such-step"]
    refused = demo.http.post("/api/v1/recipes", json=broken, headers=admin)
    accepted = demo.http.post("/api/v1/recipes", json=valid, headers=admin)
    named = "no-such-step" in refused.text
    suite.row(
        "URS-OQ-02",
        expected="the broken recipe refused (422) naming no-such-step; the valid one accepted",
        actual=f"broken: {refused.status_code} (names it: {named}), valid: {accepted.status_code}",
        ok=refused.status_code == 422 and named and accepted.status_code == 201,
        evidence="recipe-validation.json",
        content={"broken": _exchange(refused), "valid": _exchange(accepted)},
    )
    return str(load_template(recipe).header.version)


def _roles_and_signature(
    demo: Demo, suite: Suite, people: dict[str, Any], recipe: str, version: str
) -> bool:
    url = f"/api/v1/recipes/{recipe}/{version}/approve"
    operator = demo.http.post(
        url,
        json={"password": people["operator"]["password"], "meaning": "approved"},
        headers=people["operator"]["headers"],
    )
    suite.row(
        "URS-OQ-01",
        expected="an operator may not approve a recipe (403)",
        actual=operator.status_code,
        ok=operator.status_code == 403,
        evidence="roles.json",
        content={"operator_approves": _exchange(operator)},
    )
    qa = people["qa"]
    wrong = demo.http.post(
        url, json={"password": "not-my-password", "meaning": "approved"}, headers=qa["headers"]
    )
    signed = demo.http.post(
        url, json={"password": qa["password"], "meaning": "approved"}, headers=qa["headers"]
    )
    record = signed.json() if signed.status_code == 200 else {}
    signature = record.get("signature") or {}
    ok = (
        wrong.status_code == 403
        and signed.status_code == 200
        and record.get("approved_by") == "qa"
        and signature.get("meaning") == "approved"
    )
    suite.row(
        "URS-OQ-03",
        expected="a wrong password refused (403); the right one records qa's signature, "
        "meaning approved",
        actual={"wrong": wrong.status_code, "signed": signed.status_code,
                "by": record.get("approved_by"), "meaning": signature.get("meaning")},
        ok=ok,
        evidence="e-signature.json",
        content={"wrong_password": _exchange(wrong), "signed": _exchange(signed)},
    )  # fmt: skip
    return ok


def _run_batch(demo: Demo, suite: Suite, people: dict[str, Any], recipe: str, limit: float) -> None:
    operator = people["operator"]["headers"]
    deadline = time.monotonic() + 30
    created = demo.http.post(
        "/api/v1/batches", json={"recipe": recipe, "start": True}, headers=operator
    )
    while created.status_code == 422 and time.monotonic() < deadline:  # units connecting
        time.sleep(0.5)
        created = demo.http.post(
            "/api/v1/batches", json={"recipe": recipe, "start": True}, headers=operator
        )
    state = f"not created: {created.status_code}"
    batch: dict[str, Any] = {}
    started = time.monotonic()
    if created.status_code == 201:
        batch_id = created.json()["id"]
        while time.monotonic() - started < limit:
            batch = demo.http.get(f"/api/v1/batches/{batch_id}", headers=operator).json()
            state = str(batch.get("state"))
            if state in ENDED:
                break
            time.sleep(0.5)
    suite.row(
        "URS-OQ-04",
        expected=f"a batch of {recipe} completes on the simulated units",
        actual=f"{state} after {time.monotonic() - started:.1f} s",
        ok=state == "complete",
        evidence="batch.json",
        content={"created": _exchange(created), "batch": batch},
    )


def _journal(demo: Demo, suite: Suite, people: dict[str, Any]) -> None:
    verified = demo.http.get("/api/v1/journal/verify", headers=people["qa"]["headers"])
    result = verified.json() if verified.status_code == 200 else {}
    suite.row(
        "URS-OQ-05",
        expected="the journal's hash chain verifies",
        actual=result or verified.status_code,
        ok=bool(result.get("ok")),
        evidence="journal.json",
        content=_exchange(verified),
    )


@contextlib.contextmanager
def _scratch(workdir: Path | None, time_factor: float) -> Iterator[Demo]:
    with contextlib.ExitStack() as stack:
        root = workdir or Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="oq-")))
        root.mkdir(parents=True, exist_ok=True)
        demo = Demo(workdir=root, port=_free_port(), time_factor=time_factor)
        stack.callback(demo.stop)
        yield demo


def run_suite(
    *,
    scope: str,
    reason: str,
    time_factor: float = 3600.0,
    batch_limit: float = 300.0,
    workdir: Path | None = None,
    say: Callable[[str], None] = lambda _: None,
) -> Suite:
    """Run the suite in a scratch installation; the rows (failures included, never raised)."""
    suite = Suite(scope=scope, reason=reason)
    recipe = DEMO_RECIPE if scope == "full" else SMOKE_RECIPE
    # the demo's own printing names the scratch users' passwords: never into a Job's log
    with (
        Path(os.devnull).open("w") as quiet,
        _scratch(workdir, time_factor) as demo,
        contextlib.redirect_stdout(quiet),
    ):
        say("scratch installation: simulator and runtime on SQLite")
        manifests = demo.start_simulator()
        demo.start_runtime()
        admin_password = demo.create_admin()
        admin = _sign_in(demo, suite, admin_password)
        people: dict[str, Any] = {}
        for username in ("operator", "qa"):
            password = demo.enrol(username, username)
            people[username] = {"password": password, "headers": demo.login(username, password)}
        for path in sorted(manifests.values()):
            demo.http.post(
                "/api/v1/equipment",
                content=path.read_bytes(),
                headers={**admin, "Content-Type": "application/xml"},
            ).raise_for_status()
        say("recipes, roles and the electronic signature")
        version = _recipes(demo, suite, admin, recipe)
        if _roles_and_signature(demo, suite, people, recipe, version):
            say(f"a batch of {recipe}")
            _run_batch(demo, suite, people, recipe, batch_limit)
        else:
            suite.row(
                "URS-OQ-04",
                expected=f"a batch of {recipe} completes on the simulated units",
                actual="not run: the recipe could not be approved",
                ok=False,
                evidence="batch.json",
                content={},
            )
        _journal(demo, suite, people)
    return suite


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="mes-runtime oq", description=__doc__)
    parser.add_argument("--scope", choices=("smoke", "full"), default="full")
    parser.add_argument("--reason", default="full set: a new version of batch execution")
    parser.add_argument("--time-factor", type=float, default=3600.0)
    parser.add_argument("--out", type=Path, default=None, help="write the JSON here too")
    args = parser.parse_args(argv)
    suite = run_suite(
        scope=args.scope,
        reason=args.reason,
        time_factor=args.time_factor,
        say=lambda text: print(f"oq: {text}", file=sys.stderr, flush=True),
    )
    text = json.dumps(suite.document(), sort_keys=True)
    if args.out is not None:
        args.out.write_text(text + "\n")
    print(text, flush=True)
    return 0 if all(row["result"] == "pass" for row in suite.rows) else 1
