"""A real Prometheus server (Debian's ``prometheus`` package, which ``make setup``
installs for ``promtool``) scraping given targets, for tests that check metrics as a
platform team's monitoring would see them."""

from __future__ import annotations

import json
import shutil
import subprocess
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

from holon_testing.net import free_port

__all__ = ["Prometheus", "running_prometheus"]


@dataclass(frozen=True)
class Prometheus:
    url: str

    def value(self, query: str) -> float | None:
        """The value of an instant query that yields at most one sample (``None``: none)."""
        answer = httpx.get(f"{self.url}/api/v1/query", params={"query": query}, timeout=10)
        answer.raise_for_status()
        result = answer.json()["data"]["result"]
        if not result:
            return None
        if len(result) > 1:
            raise AssertionError(f"{query} gave {len(result)} series; aggregate it")
        return float(result[0]["value"][1])

    def families(self, job: str) -> set[str]:
        """The metric families ``job``'s targets expose, as Prometheus recorded them from
        their ``# TYPE`` lines (a counter's name without its samples' ``_total``;
        prometheus-client's ``_created`` companions left out)."""
        answer = httpx.get(
            f"{self.url}/api/v1/targets/metadata",
            params={"match_target": f'{{job="{job}"}}'},
            timeout=10,
        )
        answer.raise_for_status()
        return {
            entry["metric"]
            for entry in answer.json()["data"]
            if not entry["metric"].endswith("_created")
        }


@contextmanager
def running_prometheus(
    targets: Mapping[str, Sequence[str]], workdir: Path, *, interval: str = "1s"
) -> Iterator[Prometheus]:
    """Prometheus scraping ``targets`` (job name -> ``host:port`` list) every ``interval``."""
    binary = shutil.which("prometheus")
    if binary is None:
        raise RuntimeError("prometheus not found: run make setup (Debian package prometheus)")
    workdir.mkdir(parents=True, exist_ok=True)
    config = workdir / "prometheus.yml"
    config.write_text(  # JSON is YAML
        json.dumps(
            {
                "global": {"scrape_interval": interval, "scrape_timeout": interval},
                "scrape_configs": [
                    {"job_name": job, "static_configs": [{"targets": list(hosts)}]}
                    for job, hosts in targets.items()
                ],
            }
        )
    )
    port = free_port()
    log = (workdir / "prometheus.log").open("w")
    process = subprocess.Popen(
        [
            binary,
            f"--config.file={config}",
            f"--storage.tsdb.path={workdir / 'tsdb'}",
            f"--web.listen-address=127.0.0.1:{port}",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60  # a wait, not a timing assertion
        while True:
            try:
                if httpx.get(f"{url}/-/ready", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(
                    f"prometheus did not start:\n{(workdir / 'prometheus.log').read_text()[-2000:]}"
                )
            time.sleep(0.2)
        yield Prometheus(url)
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
        log.close()
