"""Benchmark: importing a large vendor-structured MTP manifest (reader time per manifest).

The manifest is built in the structure vendors export (manifest 1.1.0: CAEX 3.0,
services in their own hierarchy behind an ``AspectRef``, ``IDLinkAttributeType`` links,
shared ``RefID`` values; see ``holon_testing.vendor_mtp``): by default 12 services of
two procedures with three parameters each and 40 indicators - well over 150 OPC UA
items and 10 services. ``load_manifest`` (safe parse + reader, what the API's import and
every replica's registry sync run) is timed against the XML parse alone on the same
bytes, the in-run baseline: the ratio is what following links, classes and
identifiers costs on top of reading the file.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from bench.progress import Progress
from bench.results import Goal, Row, median
from holon_testing.vendor_mtp import (
    VendorModule,
    VendorParameter,
    VendorProcedure,
    VendorService,
    VendorView,
    build,
    to_bytes,
)
from mes_runtime.mtp.manifest import load_manifest, parse_document

__all__ = ["NAME", "large_module", "run"]

NAME = "manifest-import"
#: An import is an interactive action: 250 ms leaves room for a module many times larger.
GOAL_MS = 250.0


def large_module(services: int, views: int) -> VendorModule:
    parameters = (
        VendorParameter("Setpoint", 1001, 0.0, 120.0),
        VendorParameter("Speed", 1083, 0.0, 1500.0),
        VendorParameter("Time", 1054, 0.0, 86_400.0),
    )
    return VendorModule(
        name="PEA-LARGE",
        endpoint="opc.tcp://127.0.0.1:4840",
        namespace_uri="urn:vendor:bench:plc",
        services=tuple(
            VendorService(
                f"Service{index:02d}",
                (
                    VendorProcedure("Batch", 1, True, parameters),
                    VendorProcedure("Continuous", 2, False, parameters),
                ),
            )
            for index in range(services)
        ),
        views=tuple(VendorView(f"TI{index:03d}", 1001, 20.0) for index in range(views)),
        id_style="numeric",
    )


def _time(action: Callable[[], object], repeats: int) -> float:
    """Median milliseconds of ``action`` over ``repeats`` runs."""
    samples = []
    for _ in range(repeats):
        started = time.perf_counter()
        action()
        samples.append((time.perf_counter() - started) * 1000.0)
    return median(samples)


async def run(*, quick: bool = False, progress: Progress | None = None) -> list[Row]:
    say = progress or Progress(NAME, enabled=False)
    services, views, repeats = (10, 10, 3) if quick else (12, 40, 15)
    data = to_bytes(build(large_module(services, views)))
    manifest = load_manifest(data)
    items = len(manifest.nodes())
    procedures = sum(len(s.procedures) for s in manifest.services.values())
    say(f"{len(data):,} bytes, {len(manifest.services)} services, {items} OPC UA items")
    baseline = _time(lambda: parse_document(data), repeats)
    value = _time(lambda: load_manifest(data), repeats)
    return [
        Row(
            NAME,
            f"load_manifest, vendor 1.1.0, {len(manifest.services)} services, {items} items",
            value,
            "ms",
            goal=Goal(GOAL_MS, higher_is_better=False),
            baseline=baseline,
            baseline_label="safe XML parse of the same bytes alone (parse_document)",
            counts={
                "bytes": len(data),
                "services": len(manifest.services),
                "procedures": procedures,
                "process_values": len(manifest.process_values),
                "items": items,
                "warnings": len(manifest.issues),
                "runs": repeats,
            },
        )
    ]
