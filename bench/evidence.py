"""Benchmark: generating an install's evidence package.

From what the operator observed of a module (its children, two Pods, the CRDs as shipped,
an Equipment and the runtime's answer: ``holon_testing.evidence``), the IQ rows, the
canonical ``package.json``, its HTML and PDF renderings, the manifest and the ed25519/DSSE
signature, as :func:`mes_operator.evidence.assemble.assemble` makes them in the operator.
Goal (issue #11): <= 5 s per package. Baseline, same run: only hashing the same evidence
files and canonicalising the same document (what any package format costs), so the ratio
is what the renderings and the signature add.

Not measured here: install -> Ready -> Qualified (provisional) on the cluster, which needs
the real node (its e2e test shows it works; its timing is a later benchmark).
"""

from __future__ import annotations

import statistics
import time

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from mes_operator.evidence.assemble import assemble
from mes_operator.evidence.canonical import canonical, sha256_hex
from mes_operator.evidence.iq import installation_qualification
from mes_operator.evidence.package import Package

from bench.progress import Progress
from bench.results import Goal, Row, median
from holon_testing.evidence import install_package, observed

__all__ = ["FULL", "QUICK", "run"]

FULL = 20
QUICK = 3
GOAL_SECONDS = 5.0


def _package() -> tuple[Package, dict[str, bytes]]:
    iq = installation_qualification(observed(), event="Install", baseline_facts=None)
    return install_package(iq), iq.evidence


async def run(*, quick: bool = False, progress: Progress | None = None) -> list[Row]:
    say = progress or Progress("evidence", enabled=False)
    key = Ed25519PrivateKey.generate()
    rounds = QUICK if quick else FULL
    full: list[float] = []
    base: list[float] = []
    size = files = 0
    for i in range(rounds):
        started = time.perf_counter()
        package, evidence = _package()
        assembled = assemble(package, evidence, key)
        full.append(time.perf_counter() - started)
        size = sum(len(v) for v in assembled.files.values())
        files = len(assembled.files)

        started = time.perf_counter()
        package, evidence = _package()
        for data in evidence.values():
            sha256_hex(data)
        canonical(package.to_json())
        base.append(time.perf_counter() - started)
        if i % 5 == 0:
            say(f"round {i + 1}/{rounds}: {full[-1] * 1000:.0f} ms")
    return [
        Row(
            benchmark="evidence",
            metric="install package generated (IQ rows, JSON, HTML, PDF, manifest, signature)",
            value=median(full),
            unit="s",
            goal=Goal(GOAL_SECONDS, higher_is_better=False),
            baseline=median(base),
            baseline_label="IQ rows + hashing + canonical JSON only",
            counts={"rounds": rounds, "files": files, "bytes": size},
            note=f"max {max(full):.3f} s, stdev {statistics.pstdev(full):.3f} s",
        )
    ]
