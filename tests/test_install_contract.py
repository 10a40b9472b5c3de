"""An orchestrated module's first install, operator and runtime together on a real
PostgreSQL: the ConfigMap the operator renders keeps the runtime from migrating, so a Pod
refuses a fresh database; the operator's schema Job (its container's command and env, run
here as the container would run it) makes the schema; then the same settings serve.

Like ``test_settings_contract.py``, this is where a test may import both sides (they never
import each other): it holds the install Job to the runtime's CLI and schema check.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest
from mes_operator.builders import ModuleContext, config_data
from mes_operator.builders.upgrade import build_install_job

from holon_testing.runtime_process import serving

pytestmark = pytest.mark.postgres


def _orchestrated() -> ModuleContext:
    return ModuleContext.from_body(
        {
            "metadata": {"name": "batch", "namespace": "plant", "uid": "u-1", "generation": 1},
            "spec": {
                "module": "batch-execution",
                "version": "1.0.0",
                "database": {"engine": "postgresql", "credentialsSecretRef": {"name": "db"}},
                "upgradeStrategy": {"orchestrated": True},
                "backup": {"storeSecret": "store"},
            },
        }
    )


def _environment(variables: dict[str, str]) -> dict[str, str]:
    """This process's environment without any ``HOLON_*`` of its own, plus ``variables``."""
    kept = {k: v for k, v in os.environ.items() if not k.startswith("HOLON_")}
    return {**kept, **variables}


def _pod_settings(ctx: ModuleContext, database_url: str, data_dir: Path) -> dict[str, str]:
    """The Pod's settings: its ConfigMap, and the Secret's URL its env adds (host paths)."""
    settings = {k.removeprefix("HOLON_").lower(): v for k, v in config_data(ctx).items()}
    return {**settings, "database_url": database_url, "data_dir": str(data_dir)}


def test_the_install_job_makes_the_schema_a_pod_of_the_module_needs(
    empty_pg_url: str, tmp_path: Path
) -> None:
    ctx = _orchestrated()
    pod = _pod_settings(ctx, empty_pg_url, tmp_path)
    assert pod["migrate_on_start"] == "false"

    # no Job yet: the Pod refuses the fresh database (and migrates nothing itself)
    refused = subprocess.run(
        [sys.executable, "-m", "mes_runtime", "serve", "--port", "0"],
        env=_environment({f"HOLON_{k.upper()}": v for k, v in pod.items()}),
        capture_output=True, text=True, timeout=120, cwd=tmp_path,
    )  # fmt: skip
    assert refused.returncode == 2, refused.stderr
    assert "refusing to start: schema too old" in refused.stderr

    # the schema Job's container: its args, with only the env the Job gives it
    job: dict[str, Any] = build_install_job(ctx)
    (container,) = job["spec"]["template"]["spec"]["containers"]
    assert [e["name"] for e in container["env"]] == ["HOLON_DATABASE_URL"]
    made = subprocess.run(
        [sys.executable, "-m", "mes_runtime", *container["args"]],
        env=_environment({"HOLON_DATABASE_URL": empty_pg_url}),
        capture_output=True, text=True, timeout=300, cwd=tmp_path,
    )  # fmt: skip
    assert made.returncode == 0, made.stderr
    assert "database at: " in made.stdout

    # the same Pod settings now serve, without migrating
    with serving(tmp_path, **pod) as runtime:
        ready = httpx.get(f"{runtime.url}/readyz", timeout=30)
        assert ready.status_code == 200, ready.text
        assert "migrating the database" not in runtime.log.read_text()
