"""``make demo`` end to end: separate simulator and runtime processes, driven over HTTP."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path


def test_demo_runs_the_batch_to_complete_and_verifies_the_journal(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "mes_runtime.demo", "--exit", "--workdir", str(tmp_path / "demo")],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    out = result.stdout
    assert result.returncode == 0, out + result.stderr
    assert "admin password (shown once): " in out
    assert "QA approved mab-fedbatch-demo v1 (e-signature)" in out
    assert "/ui/" in out
    assert "batch complete after" in out
    assert "'ok': True" in out
    assert "[7/7] OK: batch complete, journal verified" in out
    # Every phase of the demo recipe was seen completing.
    completed = [line for line in out.splitlines() if line.rstrip().endswith(" complete")]
    assert len(completed) == 10, out
