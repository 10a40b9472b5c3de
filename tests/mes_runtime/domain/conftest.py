"""A small, valid master recipe as plain data; tests copy and break it on purpose."""

from __future__ import annotations

from typing import Any

import pytest


def _recipe() -> dict[str, Any]:
    return {
        "header": {"name": "mini", "version": 1, "product": "P", "author": "tester"},
        "formula": [
            {
                "name": "CultTemp",
                "value": 36.5,
                "unit": "degC",
                "low": 35.5,
                "high": 37.5,
                "criticality": "critical",
            },
            {"name": "Duration", "value": 2, "unit": "h", "low": 1, "high": 4},
        ],
        "equipment": [
            {
                "unit": "BR",
                "capabilities": [
                    {
                        "service": "Prepare",
                        "procedure": "Fill",
                        "parameters": [{"name": "Volume", "unit": "L", "low": 0, "high": 2000}],
                    },
                    {
                        "service": "Cultivate",
                        "procedure": "FedBatch",
                        "parameters": [
                            {"name": "TemperatureSP", "unit": "degC", "low": 30, "high": 40},
                            {"name": "Duration", "unit": "h", "low": 0, "high": 400},
                        ],
                    },
                ],
                "process_values": [{"name": "Temperature", "unit": "degC"}],
            }
        ],
        "procedure": {
            "initial": ["BR-UP"],
            "steps": [
                {
                    "id": "BR-UP",
                    "unit": "BR",
                    "initial": ["cultivation"],
                    "steps": [
                        {
                            "id": "cultivation",
                            "initial": ["fill"],
                            "steps": [
                                {
                                    "id": "fill",
                                    "service": "Prepare",
                                    "procedure": "Fill",
                                    "parameters": {"Volume": {"value": 100, "unit": "L"}},
                                },
                                {
                                    "id": "run-fedbatch",
                                    "service": "Cultivate",
                                    "procedure": "FedBatch",
                                    "parameters": {
                                        "TemperatureSP": {"formula": "CultTemp"},
                                        "Duration": {"formula": "Duration"},
                                    },
                                    "monitor": [
                                        {
                                            "name": "Temperature",
                                            "unit": "degC",
                                            "low": 35.5,
                                            "high": 37.5,
                                            "criticality": "critical",
                                        }
                                    ],
                                },
                            ],
                            "transitions": [
                                {
                                    "id": "filled",
                                    "from": ["fill"],
                                    "to": ["run-fedbatch"],
                                    "condition": "BR.Temperature >= 35.5",
                                },
                                {"id": "done", "from": ["run-fedbatch"], "to": []},
                            ],
                        }
                    ],
                    "transitions": [{"id": "done", "from": ["cultivation"], "to": []}],
                }
            ],
            "transitions": [{"id": "done", "from": ["BR-UP"], "to": []}],
        },
    }


@pytest.fixture
def recipe_data() -> dict[str, Any]:
    """A fresh copy of the small valid recipe (BR: fill -> fed-batch)."""
    return _recipe()
