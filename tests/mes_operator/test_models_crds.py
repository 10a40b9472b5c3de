"""The CRDs on disk against the typed models: drift, descriptions, rules, defaults."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from mes_operator.crdgen import drift
from mes_operator.models import KINDS, EquipmentSpec, Kind, MESModuleSpec
from mes_operator.models.crds import CATEGORY, GROUP
from pydantic import BaseModel, ValidationError

ROOT = Path(__file__).resolve().parents[2]
ALLOWED_REASONS = {"FieldValueInvalid", "FieldValueForbidden", "FieldValueRequired"}


def _load(kind: Kind) -> dict[str, Any]:
    crd: dict[str, Any] = yaml.safe_load((ROOT / "crds" / f"{kind.plural}.yaml").read_text())
    return crd


def _schema(kind: Kind) -> dict[str, Any]:
    schema: dict[str, Any] = _load(kind)["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    return schema


def _nodes(schema: dict[str, Any], path: str = "") -> Iterator[tuple[str, dict[str, Any]]]:
    yield path, schema
    for name, sub in (schema.get("properties") or {}).items():
        yield from _nodes(sub, f"{path}.{name}")
    if "items" in schema:
        yield from _nodes(schema["items"], f"{path}[]")


def _model_paths(model: type[BaseModel], prefix: str) -> set[str]:
    """Every field path of a model, by its camelCase alias, recursing into sub-models."""
    paths: set[str] = set()
    for name, field in model.model_fields.items():
        path = f"{prefix}.{field.alias or name}"
        paths.add(path)
        for sub in _submodels(field.annotation):
            item = "[]" if _is_list(field.annotation) else ""
            paths |= _model_paths(sub, path + item)
    return paths


def _submodels(annotation: Any) -> list[type[BaseModel]]:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    return [m for arg in getattr(annotation, "__args__", ()) for m in _submodels(arg)]


def _is_list(annotation: Any) -> bool:
    if getattr(annotation, "__origin__", None) is list:
        return True
    return any(_is_list(a) for a in getattr(annotation, "__args__", ()))


def _schema_paths(schema: dict[str, Any], prefix: str) -> set[str]:
    return {path for path, _ in _nodes(schema, prefix) if path != prefix and path[-2:] != "[]"}


def test_crds_on_disk_match_the_models() -> None:
    assert drift(ROOT) == [], "run `make crds`"


@pytest.mark.parametrize("kind", KINDS, ids=lambda k: k.kind)
def test_every_model_field_is_in_the_crd_and_back(kind: Kind) -> None:
    schema = _schema(kind)["properties"]
    for part, model in (("spec", kind.spec), ("status", kind.status)):
        assert _model_paths(model, part) == _schema_paths(schema[part], part)


@pytest.mark.parametrize("kind", KINDS, ids=lambda k: k.kind)
def test_every_field_has_a_description_and_a_type(kind: Kind) -> None:
    for path, node in _nodes(_schema(kind)):
        if path == ".metadata":
            continue  # the API server forbids anything but the type here
        if path.endswith("[]"):
            assert "type" in node, path
            continue
        assert node.get("description"), f"{kind.kind}{path} has no description"
        assert "type" in node, f"{kind.kind}{path} has no type"
        assert not {"$ref", "anyOf", "allOf", "title"} & node.keys(), path


@pytest.mark.parametrize("kind", KINDS, ids=lambda k: k.kind)
def test_names_category_and_status_subresource(kind: Kind) -> None:
    crd = _load(kind)
    assert crd["metadata"]["name"] == f"{kind.plural}.{GROUP}"
    assert crd["spec"]["names"]["categories"] == [CATEGORY]
    assert crd["spec"]["names"]["shortNames"]
    version = crd["spec"]["versions"][0]
    assert version["name"] == "v1alpha1"
    assert version["subresources"] == {"status": {}}


@pytest.mark.parametrize(
    ("kind", "columns"),
    [
        (KINDS[0], ["Version", "Phase", "Ready", "Qualified", "Age"]),
        (KINDS[1], ["Endpoint", "Connected", "Verified"]),
    ],
    ids=["MESModule", "Equipment"],
)
def test_printer_columns(kind: Kind, columns: list[str]) -> None:
    names = [c["name"] for c in _load(kind)["spec"]["versions"][0]["additionalPrinterColumns"]]
    for column in columns:
        assert column in names


@pytest.mark.parametrize("kind", KINDS, ids=lambda k: k.kind)
def test_conditions_have_the_standard_shape(kind: Kind) -> None:
    conditions = _schema(kind)["properties"]["status"]["properties"]["conditions"]
    assert conditions["x-kubernetes-list-type"] == "map"
    assert conditions["x-kubernetes-list-map-keys"] == ["type"]
    item = conditions["items"]
    assert set(item["properties"]) == {
        "type",
        "status",
        "reason",
        "message",
        "lastTransitionTime",
        "observedGeneration",
    }
    assert set(item["required"]) >= {"type", "status", "reason", "lastTransitionTime"}


def _rules(schema: dict[str, Any]) -> list[tuple[str, dict[str, Any], dict[str, Any]]]:
    return [
        (path, node, rule)
        for path, node in _nodes(schema)
        for rule in node.get("x-kubernetes-validations", [])
    ]


@pytest.mark.parametrize("kind", KINDS, ids=lambda k: k.kind)
def test_every_cel_rule_explains_itself(kind: Kind) -> None:
    for path, node, rule in _rules(_schema(kind)):
        text = rule.get("message") or rule.get("messageExpression")
        assert text, f"{path}: rule {rule['rule']} has no message"
        assert rule.get("reason", "FieldValueInvalid") in ALLOWED_REASONS
        field_path = rule.get("fieldPath")
        if field_path:
            first = field_path.lstrip(".").split(".")[0]
            assert first in node["properties"], f"{path}: fieldPath {field_path} is not a field"
        assert "{{" not in rule["rule"] + text  # would break the Helm template


def test_mesmodule_cross_field_rules_are_all_present() -> None:
    rules = {r["rule"] for _, _, r in _rules(_schema(KINDS[0]))}
    assert "self.database.engine != 'sqlite' || self.replicas == 1" in rules
    assert "self.engine != 'postgresql' || has(self.credentialsSecretRef)" in rules
    assert "self.engine != 'sqlite' || !has(self.credentialsSecretRef)" in rules
    assert any("matches" in r and "@" in r for r in rules)  # image carries no tag
    assert any("metadata.name" in r for r in rules)


def test_toleration_rules_mirror_the_pod_validation() -> None:
    placement = _schema(KINDS[0])["properties"]["spec"]["properties"]["placement"]
    item = placement["properties"]["tolerations"]["items"]
    rules = {r["fieldPath"]: r for r in item["x-kubernetes-validations"]}
    assert rules[".value"]["rule"] == "!(self.operator == 'Exists' && has(self.value))"
    assert rules[".value"]["reason"] == "FieldValueForbidden"
    assert rules[".operator"]["rule"] == "has(self.key) || self.operator == 'Exists'"
    assert "self.effect == 'NoExecute'" in rules[".tolerationSeconds"]["rule"]
    assert item["properties"]["operator"]["default"] == "Equal"  # the rules rely on it
    assert item["properties"]["operator"]["enum"] == ["Exists", "Equal"]
    assert item["properties"]["effect"]["enum"] == ["NoSchedule", "PreferNoSchedule", "NoExecute"]
    assert placement["properties"]["tolerations"]["x-kubernetes-list-type"] == "atomic"
    assert placement["properties"]["nodeSelector"]["additionalProperties"]["type"] == "string"


def test_a_valid_placement_parses_to_the_kubernetes_shape() -> None:
    spec = MESModuleSpec.model_validate(
        {
            "module": "ebr",
            "version": "1.0.0",
            "placement": {
                "nodeSelector": {"holon.dev/gmp": "true", "empty": ""},
                "tolerations": [
                    {"key": "holon.dev/gmp", "value": "true", "effect": "NoSchedule"},
                    {"operator": "Exists"},
                ],
            },
        }
    )
    assert spec.placement is not None
    assert spec.placement.model_dump(by_alias=True, exclude_none=True, mode="json") == {
        "nodeSelector": {"holon.dev/gmp": "true", "empty": ""},
        "tolerations": [
            {"key": "holon.dev/gmp", "operator": "Equal", "value": "true", "effect": "NoSchedule"},
            {"operator": "Exists"},
        ],
    }


def test_qualification_spec_is_immutable() -> None:
    spec = _schema(KINDS[2])["properties"]["spec"]
    assert {"rule": "self == oldSelf"}.items() <= spec["x-kubernetes-validations"][0].items()


def _apply_defaults(schema: dict[str, Any], obj: Any) -> Any:
    """What the API server's structural defaulting does, for objects and lists."""
    if schema.get("type") == "object" and isinstance(obj, dict):
        for name, sub in (schema.get("properties") or {}).items():
            if name not in obj and "default" in sub:
                obj[name] = sub["default"]
            if name in obj:
                obj[name] = _apply_defaults(sub, obj[name])
    if schema.get("type") == "array" and isinstance(obj, list):
        return [_apply_defaults(schema["items"], item) for item in obj]
    return obj


@pytest.mark.parametrize(
    ("kind", "model", "minimal"),
    [
        (KINDS[0], MESModuleSpec, {"module": "ebr", "version": "1.0.0"}),
        (KINDS[1], EquipmentSpec, {"endpoint": "opc.tcp://reactor:4840/"}),
    ],
    ids=["MESModule", "Equipment"],
)
def test_crd_defaults_equal_model_defaults(
    kind: Kind, model: type[BaseModel], minimal: dict[str, Any]
) -> None:
    defaulted = _apply_defaults(_schema(kind)["properties"]["spec"], dict(minimal))
    expected = model.model_validate(minimal).model_dump(by_alias=True, exclude_none=True)
    assert defaulted == expected


def test_default_features_are_all_disabled() -> None:
    features = MESModuleSpec.model_validate({"module": "ebr", "version": "1.0.0"}).features
    assert not any(features.model_dump().values())


@pytest.mark.parametrize(
    "bad",
    [
        {"version": "1.2"},
        {"module": "erp"},
        {"replicas": 0},
        {"replicas": 11},
        {"upgradeStrategy": {"observeSeconds": 86401}},
        {"equipment": [{"name": "Bad_Name"}]},
        {"resources": {"memory": "lots"}},
        {"colour": "blue"},
        {"placement": {"nodeSelector": {"holon.dev/gmp": "not a label value"}}},
        {"placement": {"nodeSelector": {f"k{i}": "v" for i in range(33)}}},
        {"placement": {"tolerations": [{"key": "bad key"}]}},
        {"placement": {"tolerations": [{"key": "k", "operator": "Sometimes"}]}},
        {"placement": {"tolerations": [{"key": "k", "effect": "NoRun"}]}},
        {
            "placement": {
                "tolerations": [{"key": "k", "effect": "NoExecute", "tolerationSeconds": -1}]
            }
        },
        {"placement": {"tolerations": [{"operator": "Exists"}] * 33}},
        {"placement": {"affinity": {}}},
    ],
    ids=repr,
)
def test_models_reject_what_the_openapi_schema_rejects(bad: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        MESModuleSpec.model_validate({"module": "ebr", "version": "1.0.0", **bad})
