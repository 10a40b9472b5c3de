"""Reading a runtime's metrics back over HTTP from its metrics port, as Prometheus does."""

from __future__ import annotations

import httpx
from fastapi import FastAPI
from prometheus_client.parser import text_string_to_metric_families

__all__ = ["Samples", "scrape", "value"]

#: (sample name, its labels) -> value
Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


async def scrape(app: FastAPI) -> Samples:
    async with httpx.AsyncClient() as http:
        response = await http.get(f"http://127.0.0.1:{app.state.metrics_port}/metrics")
    assert response.status_code == 200
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)
