"""Turn a pydantic model's JSON Schema into a Kubernetes structural OpenAPI v3 schema.

The API server wants a *structural* schema: every node typed, no ``$ref``, no
``anyOf`` with null, no titles. Generating it from the models keeps the CRDs and the
Python types from drifting apart; a unit test regenerates and compares.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

JsonSchema = dict[str, Any]

_DROPPED = {"title", "$defs"}


def structural_schema(model: type[BaseModel]) -> JsonSchema:
    """The structural schema of ``model`` (camelCase, validation-mode defaults)."""
    raw = model.model_json_schema(by_alias=True, mode="validation")
    defs: dict[str, JsonSchema] = raw.get("$defs", {})
    return _convert(raw, defs)


def _resolve(node: JsonSchema, defs: dict[str, JsonSchema]) -> JsonSchema:
    """Inline a ``$ref`` (or single-element ``allOf``), letting the field's keys win."""
    if "allOf" in node and len(node["allOf"]) == 1:
        merged = {k: v for k, v in node.items() if k != "allOf"}
        return _resolve({**node["allOf"][0], **merged}, defs)
    if "$ref" in node:
        target = defs[node["$ref"].rsplit("/", 1)[-1]]
        rest = {k: v for k, v in node.items() if k != "$ref"}
        return _resolve({**target, **rest}, defs)
    return node


def _strip_null(node: JsonSchema) -> JsonSchema:
    """``X | None`` becomes ``X``: absent fields are how Kubernetes says None."""
    options = node.get("anyOf")
    if options is None:
        return node
    non_null = [o for o in options if o.get("type") != "null"]
    if len(non_null) != 1:
        raise ValueError(f"unions are not structural: {options!r}")
    rest = {k: v for k, v in node.items() if k != "anyOf"}
    if rest.get("default", ...) is None:
        del rest["default"]
    return {**non_null[0], **rest}


def _convert(node: JsonSchema, defs: dict[str, JsonSchema]) -> JsonSchema:
    node = _strip_null(_resolve(node, defs))
    node = _resolve(node, defs)
    out: JsonSchema = {}
    for key, value in node.items():
        if key in _DROPPED:
            continue
        if key == "const":
            out["enum"] = [value]
        elif key == "properties":
            out[key] = {name: _convert(sub, defs) for name, sub in value.items()}
        elif key == "items":
            # Field extras may add constraints on items next to the generated ones.
            out[key] = {**_convert(value, defs), **out.get(key, {})}
        elif key == "additionalProperties":
            # ``false`` (extra="forbid") is the API server's pruning already, and
            # structural schemas forbid it next to ``properties``.
            if isinstance(value, dict):
                out[key] = _convert(value, defs)
        else:
            out[key] = value
    if "enum" in out and "type" not in out:
        out["type"] = "string"
    if "properties" in out:
        out.setdefault("type", "object")
    return out
