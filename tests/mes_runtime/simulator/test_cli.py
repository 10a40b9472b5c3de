"""``mes-runtime simulate`` as a real subprocess: prints endpoints and manifest paths."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

import pytest

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


def _ignore_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)


@pytest.mark.parametrize("stop", [signal.SIGINT, signal.SIGTERM])
def test_simulate_stops_on_sigint_and_sigterm_even_if_sigint_was_inherited_ignored(
    tmp_path: Path, stop: signal.Signals
) -> None:
    command = [sys.executable, "-m", "mes_runtime", "simulate", "--module", "CH-301"]
    command += ["--base-port", str(free_port()), "--manifest-dir", str(tmp_path)]
    with subprocess.Popen(
        command, stdout=subprocess.PIPE, text=True, preexec_fn=_ignore_sigint
    ) as process:
        assert process.stdout is not None
        assert process.stdout.readline().startswith("CH-301\t")
        process.send_signal(stop)
        try:
            returncode = process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
            raise AssertionError(f"the simulator ignored {stop.name}") from None
    assert returncode == 0
