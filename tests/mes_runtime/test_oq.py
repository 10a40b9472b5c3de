"""``mes-runtime oq`` as the operator's OQ Job runs it: every row passes on this version in
its scratch installation, each names a user requirement the operator's URS file lists, its
evidence is there, and no password reaches the output; a batch that does not complete in
time is a failed row (and a failed exit), not an exception."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import yaml

from mes_runtime.oq import FORMAT, run_suite

REPO = Path(__file__).resolve().parents[2]
URS = REPO / "operator" / "mes_operator" / "evidence" / "requirements.yaml"


def test_the_smoke_suite_passes_names_known_requirements_and_leaks_no_password(
    tmp_path: Path,
) -> None:
    out = tmp_path / "oq.json"
    run = subprocess.run(
        [sys.executable, "-m", "mes_runtime", "oq", "--scope", "smoke",
         "--reason", "smoke: nothing in batch execution changed", "--out", str(out)],
        capture_output=True, text=True, timeout=400, check=False,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr[-3000:]
    document = json.loads(run.stdout)
    assert document == json.loads(out.read_text())
    assert document["format"] == FORMAT
    assert document["scope"] == "smoke"
    rows = document["rows"]
    assert [r["result"] for r in rows] == ["pass"] * len(rows), rows
    known = {r["id"] for r in yaml.safe_load(URS.read_text())}
    assert {r["requirement"] for r in rows} == {f"URS-OQ-0{i}" for i in range(1, 6)}
    assert {r["requirement"] for r in rows} <= known
    for row in rows:
        assert row["evidence"] in document["evidence"]
        assert row["note"] == "smoke: nothing in batch execution changed"
    assert "complete" in next(r for r in rows if r["requirement"] == "URS-OQ-04")["actual"]
    assert "password" not in run.stderr.lower()
    assert "shown once" not in run.stdout + run.stderr


def test_a_batch_that_does_not_complete_is_a_failed_row(tmp_path: Path) -> None:
    suite = run_suite(
        scope="smoke", reason="test", time_factor=1.0, batch_limit=2.0, workdir=tmp_path
    )
    batch = next(r for r in suite.rows if r["requirement"] == "URS-OQ-04")
    assert batch["result"] == "fail"
    assert "after" in batch["actual"]
    assert "complete" not in batch["actual"]
    others = [r["result"] for r in suite.rows if r is not batch]
    assert others == ["pass"] * len(others)
