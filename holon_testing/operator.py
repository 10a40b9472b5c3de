"""The operator as a host process (``python -m mes_operator.cli run``), for e2e tests and
the operator benchmark.

Pods do not run anything on the simulated nodes, so tests and benchmarks run the operator
on the host, authenticated with a token of the chart's ServiceAccount
(:func:`holon_testing.kube.write_token_kubeconfig`), watching one namespace.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from holon_testing.net import free_port

__all__ = ["REPO", "OperatorProcess"]

REPO = Path(__file__).resolve().parents[1]


@dataclass
class OperatorProcess:
    """One operator replica running on the host; its output goes to ``log``."""

    proc: subprocess.Popen[bytes]
    log: Path
    priority: int = 0
    peak_sampled_kb: int = 0
    metrics_port: int = 0

    @classmethod
    def spawn(
        cls,
        *,
        kubeconfig: Path,
        namespace: str,
        log: Path,
        settings: Mapping[str, str] = {},
        priority: int = 0,
    ) -> OperatorProcess:
        """Start ``mes-operator run --namespace`` from this checkout with ``settings``
        (``HOLON_OPERATOR_*``) and free health and metrics ports."""
        env = {
            **os.environ,
            "KUBECONFIG": str(kubeconfig),
            "PYTHONPATH": os.pathsep.join([str(REPO / "operator"), str(REPO)]),
            "HOLON_OPERATOR_HEALTH_PORT": str(free_port()),
            "HOLON_OPERATOR_METRICS_PORT": str(free_port()),
            **settings,
        }
        with log.open("wb") as out:
            proc = subprocess.Popen(
                [sys.executable, "-m", "mes_operator.cli", "run", "--namespace", namespace],
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                cwd=REPO,
            )
        metrics_port = int(env["HOLON_OPERATOR_METRICS_PORT"])
        return cls(proc=proc, log=log, priority=priority, metrics_port=metrics_port)

    def alive(self) -> bool:
        return self.proc.poll() is None

    def kill(self) -> None:
        """SIGKILL: no cleanup, no goodbye to the peers."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(timeout=30)

    def stop(self) -> None:
        """SIGTERM, then SIGKILL if it has not exited within 20 s."""
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.kill()

    def output(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def log_tail(self, lines: int = 20) -> str:
        return "\n".join(self.output().splitlines()[-lines:])

    def count_in_log(self, mark: str) -> int:
        """How many lines of the log contain ``mark``."""
        if not self.log.exists():
            return 0
        with self.log.open(errors="replace") as lines:
            return sum(1 for line in lines if mark in line)

    def status_kb(self, field_name: str) -> int:
        """``VmRSS``/``VmHWM`` of the operator from /proc, 0 once it is gone."""
        try:
            text = Path(f"/proc/{self.proc.pid}/status").read_text()
        except OSError:
            return 0
        for line in text.splitlines():
            if line.startswith(f"{field_name}:"):
                return int(line.split()[1])
        return 0

    def sample(self) -> None:
        self.peak_sampled_kb = max(self.peak_sampled_kb, self.status_kb("VmRSS"))

    def peak_kb(self) -> int:
        """The kernel's high-water mark, or the sampled peak if that is higher (never)."""
        return max(self.status_kb("VmHWM"), self.peak_sampled_kb)
