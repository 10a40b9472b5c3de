"""The operator does not load the OPC UA client until an Equipment is checked: asyncua's
import alone is ~85 MB of resident memory, more than everything else the operator holds
for 500 modules (issue #18)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def _loaded_after(statement: str) -> set[str]:
    probe = f"{statement}\nimport sys\nprint(' '.join(sorted(sys.modules)))"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO / "operator"), str(REPO)])}
    out = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, env=env, check=True,
        timeout=120,
    ).stdout  # fmt: skip
    return set(out.split())


def test_the_handlers_import_without_the_opc_ua_client() -> None:
    loaded = _loaded_after("import mes_operator.handlers")
    assert "mes_operator.reconcile.equipment" in loaded  # the Equipment handlers are there
    assert "asyncua" not in loaded


def test_the_check_itself_brings_it() -> None:
    assert "asyncua" in _loaded_after("import mes_operator.equipment.check")
