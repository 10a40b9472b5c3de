"""The chart's values: every value documented, in the schema, and used consistently.

Helm itself is exercised by the e2e tests; this catches a value added to values.yaml
without a comment or a schema entry, or a template reading a value that does not exist.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import yaml

CHART = Path(__file__).resolve().parents[2] / "charts" / "holon"


def _paths(values: dict[str, Any], prefix: str = "") -> set[str]:
    paths: set[str] = set()
    for key, value in values.items():
        path = f"{prefix}.{key}" if prefix else key
        paths.add(path)
        if isinstance(value, dict) and value and key not in {"resources"}:
            paths |= _paths(value, path)
    return paths


def _schema_has(schema: dict[str, Any], path: str) -> bool:
    node = schema
    for part in path.split("."):
        props = node.get("properties") or {}
        if part not in props:
            return False
        node = props[part]
    return bool(node.get("description"))


def test_every_value_is_in_the_schema_with_a_description() -> None:
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    schema = json.loads((CHART / "values.schema.json").read_text())
    missing = sorted(p for p in _paths(values) if not _schema_has(schema, p))
    assert missing == []
    assert set(schema["required"]) <= set(values)


def test_every_value_has_a_comment() -> None:
    lines = (CHART / "values.yaml").read_text().splitlines()
    top = ""
    for index, line in enumerate(lines):
        match = re.match(r"^(\s*)([A-Za-z][A-Za-z0-9]*):(.*)$", line)
        if not match:
            continue
        indent, key, rest = match.groups()
        if not indent:
            top = key
        if top == "resources" and indent:
            continue  # a Kubernetes resources block, documented as a whole
        if not indent and not rest.strip():
            continue  # a section: documented by its values
        assert lines[index - 1].strip().startswith("#"), f"undocumented value: {line.strip()}"


def test_templates_read_only_existing_values() -> None:
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    known = _paths(values) | {"resources"}
    used: set[str] = set()
    for template in (CHART / "templates").rglob("*"):
        if template.is_file():
            used |= set(re.findall(r"\.Values\.([A-Za-z0-9_.]+)", template.read_text()))
    unknown = sorted(u for u in used if u not in known)
    assert unknown == []
    assert "crds.enabled" in used
    assert "crds.keep" in used
