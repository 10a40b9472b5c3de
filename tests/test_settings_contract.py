"""The operator -> runtime settings contract: every ``HOLON_*`` key the operator writes for
a runtime Pod (its ConfigMap and the Deployment's env) is a setting the runtime declares,
with a value it accepts; and the runtime refuses a key it does not know, naming it.

The operator and the runtime never import each other (``make lint``), so the contract is
held here, where a test may import both: the operator's typed ``RuntimeSettings`` is held
field by field to the runtime's ``Settings``, and what the operator admits (module kinds,
feature flags) to what the runtime serves (``mes_runtime.api.features``). The operator also
runs older releases (the blue slot of an upgrade, a pinned module, a rollback): what it
renders for the recorded previous release is parsed by that release's own ``Settings``,
imported from its source tree (``holon_testing.releases``) in a subprocess.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tomllib
from enum import Enum
from pathlib import Path
from typing import Any, get_args

import pytest
from mes_operator.builders import ModuleContext
from mes_operator.builders.configmap import config_data, runtime_settings
from mes_operator.builders.deployment import build_deployment
from mes_operator.builders.runtime_settings import (
    INTRODUCED,
    RuntimeSettings,
    Since,
    feature_setting,
)
from mes_operator.models.mesmodule import FEATURE_NAMES, Features, MESModuleSpec, ModuleKind
from mes_operator.models.support import KIND_FEATURES
from pydantic import TypeAdapter, ValidationError

from holon_testing.releases import previous_release, release_env
from mes_runtime.api.features import FLAGS, KINDS, FeatureError, served
from mes_runtime.settings import ModuleKind as RuntimeModuleKind
from mes_runtime.settings import Settings, setting_keys, unknown_keys

PG = {"engine": "postgresql", "credentialsSecretRef": {"name": "db"}}
#: Every flag a batch-execution module may switch on (all that are implemented).
ALL_FEATURES = dict.fromkeys(KIND_FEATURES["batch-execution"], True)


def context(**spec: Any) -> ModuleContext:
    return ModuleContext.from_body(
        {
            "apiVersion": "mes.holon.dev/v1alpha1",
            "kind": "MESModule",
            "metadata": {"name": "m", "namespace": "n", "uid": "u", "generation": 1},
            "spec": {"module": "batch-execution", "version": "1.2.3", **spec},
        }
    )


SPECS = {
    "defaults": {},
    "all-features-sqlite": {"features": ALL_FEATURES},
    "postgresql": {"database": PG, "features": {"ui": True}},
    "orchestrated": {
        "database": PG,
        "upgradeStrategy": {"orchestrated": True},
        "backup": {"storeSecret": "store"},
    },
    **{
        f"{kind}-all-its-features": {
            "module": kind,
            "database": PG,
            "features": dict.fromkeys(flags, True),
        }
        for kind, flags in KIND_FEATURES.items()
        if kind != "batch-execution"
    },
}


def runtime_environment(ctx: ModuleContext) -> dict[str, str]:
    """What a runtime container sees: the ConfigMap (envFrom) and the container's env,
    a secret's value standing in for a secretKeyRef."""
    env = dict(config_data(ctx))
    pod = build_deployment(ctx)["spec"]["template"]["spec"]
    (container,) = (c for c in pod["containers"] if c["name"] == "runtime")
    for var in container.get("env", []):
        env[var["name"]] = var.get("value", "postgresql+psycopg://holon:Kx8-w3q@db:5432/holon")
    return env


@pytest.fixture
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for key in list(os.environ):
        if key.upper().startswith("HOLON_"):
            monkeypatch.delenv(key)
    return monkeypatch


@pytest.mark.parametrize("spec", SPECS.values(), ids=SPECS.keys())
def test_every_key_the_operator_writes_is_a_runtime_setting(
    spec: dict[str, Any], clean_environment: pytest.MonkeyPatch
) -> None:
    env = runtime_environment(context(**spec))
    assert unknown_keys(env) == []
    for key, value in env.items():
        clean_environment.setenv(key, value)
    settings = Settings()
    assert settings.module == spec.get("module", "batch-execution")
    assert settings.module_version == "1.2.3"
    enabled = {key for key, value in env.items() if value == "true"}
    for key in enabled:
        assert getattr(settings, key.removeprefix("HOLON_").lower()) is True, key
    served(settings)  # the runtime serves what the operator admitted (FeatureError if not)
    # an orchestrated module's Jobs migrate, never its Pods (the runtime's default: migrate)
    orchestrated = bool(spec.get("upgradeStrategy", {}).get("orchestrated"))
    assert settings.migrate_on_start is not orchestrated


def test_every_feature_flag_of_the_crd_has_a_runtime_setting() -> None:
    written = {k for k in config_data(context(features=ALL_FEATURES)) if "FEATURE" in k}
    declared = {k for k in setting_keys() if k.startswith("HOLON_FEATURE_")}
    assert written == declared
    assert len(written) == len(Features.model_fields)


def test_the_operators_settings_are_runtime_settings_of_the_same_type() -> None:
    """Field for field, every value the operator's type can hold is one the runtime's
    setting of that name accepts (each enum member, both booleans, each built value)."""
    built = [context(**spec) for spec in SPECS.values()]
    for name, field in RuntimeSettings.model_fields.items():
        assert name in Settings.model_fields, f"{name}: not a setting of the runtime"
        runtime_type = TypeAdapter(Settings.model_fields[name].annotation)
        values: list[Any] = [getattr(runtime_settings(ctx), name) for ctx in built]
        if field.annotation in {bool, bool | None}:
            values += [True, False]
        if isinstance(field.annotation, type) and issubclass(field.annotation, Enum):
            values += [member.value for member in field.annotation]
        for value in values:
            if value is not None:
                runtime_type.validate_python(value)


def test_module_kinds_are_the_same_on_both_sides() -> None:
    assert set(get_args(RuntimeModuleKind)) == {kind.value for kind in ModuleKind}


def test_a_kind_admits_the_flags_its_runtime_serves() -> None:
    """``models.support.KIND_FEATURES`` (admission) is ``api.features.KINDS`` (runtime)."""
    assert set(KIND_FEATURES) == set(KINDS)
    for kind, capabilities in KINDS.items():
        runtime = {FLAGS[c] for c in capabilities.core | capabilities.optional if c in FLAGS}
        assert {feature_setting(flag) for flag in KIND_FEATURES[kind]} == runtime, kind


@pytest.mark.parametrize("kind", [kind.value for kind in ModuleKind])
@pytest.mark.parametrize("flag", sorted(FEATURE_NAMES))
def test_admission_and_the_runtime_agree_on_every_kind_and_flag(kind: str, flag: str) -> None:
    """A spec the operator admits starts a runtime that serves it; one it refuses would
    be refused by the runtime too (so an older CRD's object fails loudly, never silently)."""
    try:
        MESModuleSpec.model_validate({"module": kind, "version": "1.0.0", "features": {flag: True}})
        admitted = True
    except ValidationError:
        admitted = False
    settings = Settings(module=kind, **{feature_setting(flag): True})  # type: ignore[arg-type]
    try:
        served(settings)
        starts = True
    except FeatureError:
        starts = False
    assert admitted == starts


def test_an_unknown_holon_key_is_refused_by_name(clean_environment: pytest.MonkeyPatch) -> None:
    clean_environment.setenv("HOLON_FEATURE_TELEPATHY", "true")
    with pytest.raises(ValidationError, match="HOLON_FEATURE_TELEPATHY: not a setting"):
        Settings()


def test_other_programs_keys_are_left_alone(clean_environment: pytest.MonkeyPatch) -> None:
    clean_environment.setenv("HOLON_OPERATOR_RECONCILE_INTERVAL", "5")
    clean_environment.setenv("HOLON_CACHE", "/tmp/cache")  # noqa: S108 - never used as a path
    assert Settings().port == 8080


# --- the previous release's own Settings parses what the operator renders for it ---

#: Run in the previous release's tree: its ``Settings`` read from the environment.
PARSE = """
import json, mes_runtime.settings as settings
parsed = settings.Settings()
print(json.dumps({"module": settings.__file__, "settings": parsed.model_dump(mode="json")}))
"""


@pytest.fixture(scope="module")
def previous() -> tuple[Path, str]:
    """The previous release's source tree and its version (its pyproject.toml's)."""
    tree = previous_release()
    version = tomllib.loads((tree / "pyproject.toml").read_text())["project"]["version"]
    return tree, str(version)


def parse_with(tree: Path, env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    """Start ``tree``'s ``Settings`` with ``env`` (and no other ``HOLON_*``)."""
    return subprocess.run(
        [sys.executable, "-c", PARSE],
        env=release_env(tree) | env,
        cwd=cwd,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )


@pytest.mark.parametrize("spec", SPECS.values(), ids=SPECS.keys())
def test_the_previous_release_starts_with_what_is_rendered_for_it(
    spec: dict[str, Any], previous: tuple[Path, str], tmp_path: Path
) -> None:
    tree, version = previous
    env = runtime_environment(context(**spec, version=version))
    parsed = parse_with(tree, env, tmp_path)
    assert parsed.returncode == 0, parsed.stderr
    result = json.loads(parsed.stdout)
    assert Path(result["module"]).is_relative_to(tree)  # that release's class, not this one's
    settings = result["settings"]
    assert settings["module_version"] == version
    for key, value in env.items():
        if value in {"true", "false"}:
            assert settings[key.removeprefix("HOLON_").lower()] is (value == "true"), key


def test_a_setting_after_the_previous_release_is_left_out_for_it(
    previous: tuple[Path, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A setting the next release learnt (made up here) is refused by the previous one;
    rendered for the previous release's version, it is left out (and reported), and the
    previous release starts."""
    tree, version = previous
    major, minor, patch = (int(part) for part in version.split("-")[0].split("."))
    after = f"{major}.{minor}.{patch + 1}"

    class Next(RuntimeSettings):
        feature_telepathy: bool

    monkeypatch.setitem(INTRODUCED, "feature_telepathy", Since(after, absent_means=False))
    ctx = context(version=version, features={"ui": True})
    settings = Next(**runtime_settings(ctx).model_dump(), feature_telepathy=True)

    unfiltered = parse_with(tree, settings.environment(), tmp_path)
    assert unfiltered.returncode != 0
    assert "HOLON_FEATURE_TELEPATHY" in unfiltered.stderr
    assert "not a setting" in unfiltered.stderr

    rendered = settings.environment(version)
    assert "HOLON_FEATURE_TELEPATHY" not in rendered
    filtered = parse_with(tree, rendered, tmp_path)
    assert filtered.returncode == 0, filtered.stderr
    assert json.loads(filtered.stdout)["settings"]["feature_ui"] is True
    already = [left.name for left in runtime_settings(ctx).left_out(version)]
    assert [left.name for left in settings.left_out(version)] == [*already, "feature_telepathy"]
    assert settings.environment(after)["HOLON_FEATURE_TELEPATHY"] == "true"
