"""``mes-runtime simulate`` as a real subprocess: prints endpoints and manifest paths."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

from holon_testing.net import free_port
from mes_runtime.mtp.manifest import load_manifest


def test_simulate_prints_endpoints_and_writes_manifests(tmp_path: Path) -> None:
    port = free_port()
    command = [
        sys.executable,
        "-m",
        "mes_runtime",
        "simulate",
        "--module",
        "CH-301",
        "--base-port",
        str(port),
        "--time-factor",
        "3600",
        "--layout",
        "numeric",
        "--manifest-dir",
        str(tmp_path),
    ]
    with subprocess.Popen(command, stdout=subprocess.PIPE, text=True) as process:
        try:
            assert process.stdout is not None
            line = process.stdout.readline().strip()
        finally:
            process.send_signal(signal.SIGINT)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()  # never hang the run; the failure says what happened
                process.wait()
                raise AssertionError("the simulator did not stop within 30 s of SIGINT") from None
    name, endpoint, manifest_path = line.split("\t")
    assert (name, endpoint) == ("CH-301", f"opc.tcp://127.0.0.1:{port}")
    manifest = load_manifest(Path(manifest_path))
    assert manifest.endpoint == endpoint
    assert process.returncode == 0
