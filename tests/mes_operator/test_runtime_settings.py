"""Which runtime settings a slot gets: each field of ``RuntimeSettings`` names the runtime
release that introduced it, and a slot at version V is rendered without the settings
introduced after V (``builders/runtime_settings.py``); what that leaves out of a spec's
wishes is a Warning Event. Pure: no cluster. The previous release's own ``Settings``
parses what is rendered for it in ``tests/test_settings_contract.py``."""

from __future__ import annotations

from typing import Any

import pytest
from mes_operator import __version__
from mes_operator.builders import ModuleContext, config_data
from mes_operator.builders.configmap import config_hash, left_out_settings, runtime_settings
from mes_operator.builders.deployment import CONFIG_HASH_ANNOTATION
from mes_operator.builders.runtime_settings import (
    FIRST_RELEASE,
    INTRODUCED,
    LeftOut,
    RuntimeSettings,
    Since,
    release,
    runtime_has,
)
from mes_operator.builders.upgrade import build_new_slot
from mes_operator.models import Colour
from mes_operator.reconcile.module import SETTING_NOT_SUPPORTED, left_out_events

PG = {"engine": "postgresql", "credentialsSecretRef": {"name": "db"}}


def ctx(version: str = "0.2.0", **spec: Any) -> ModuleContext:
    return ModuleContext.from_body(
        {
            "apiVersion": "mes.holon.dev/v1alpha1",
            "kind": "MESModule",
            "metadata": {"name": "batch", "namespace": "plant-a", "uid": "u", "generation": 4},
            "spec": {"module": "batch-execution", "version": version, "database": PG, **spec},
        }
    )


class Later(RuntimeSettings):
    """This operator's settings and two a later runtime learnt (only in these tests)."""

    feature_telepathy: bool = False
    lease_seconds: int | None = None


@pytest.fixture
def later(monkeypatch: pytest.MonkeyPatch) -> type[Later]:
    monkeypatch.setitem(INTRODUCED, "feature_telepathy", Since("0.3.0", absent_means=False))
    monkeypatch.setitem(INTRODUCED, "lease_seconds", Since("0.3.0"))
    return Later


def settings(cls: type[RuntimeSettings] = RuntimeSettings, **changes: Any) -> RuntimeSettings:
    return cls(**runtime_settings(ctx()).model_dump() | changes)


def test_every_field_says_which_runtime_release_introduced_it() -> None:
    """Fails the day a field is added to RuntimeSettings without an INTRODUCED entry."""
    assert set(INTRODUCED) == set(RuntimeSettings.model_fields)


def test_a_field_without_an_introduction_is_never_rendered_silently() -> None:
    with pytest.raises(KeyError, match="feature_telepathy"):
        settings(Later, feature_telepathy=True).environment("0.2.0")


def test_introductions_are_releases_up_to_this_operators_own() -> None:
    """An introduction is a release ``X.Y.Z`` (no pre-release), from the first release on,
    never one after this operator's (which renders what its own runtime knows)."""
    operator, first = release(__version__), release(FIRST_RELEASE)
    assert operator is not None
    assert first is not None
    for name, since in INTRODUCED.items():
        introduced = release(since.version)
        assert introduced is not None, name
        assert not introduced[3], f"{name}: a pre-release"
        assert first[:3] <= introduced[:3] <= operator[:3], name
        if name.startswith("feature_"):
            assert since.absent_means is False, f"{name}: off is what an older runtime does"


@pytest.mark.parametrize(
    ("version", "parsed"),
    [
        ("0.1.0", (0, 1, 0, False)),
        ("0.2.3", (0, 2, 3, False)),
        ("10.20.30", (10, 20, 30, False)),
        ("0.3.0-rc.1", (0, 3, 0, True)),
        ("1.0.0-alpha-2.x", (1, 0, 0, True)),
        ("latest", None),
        ("0.2", None),
        ("v0.2.0", None),
        ("01.2.3", None),
        ("0.2.0+build.7", None),
        ("sha256-4f1d2c3b9a8e7f60", None),
        ("", None),
    ],
)
def test_release_reads_semantic_versions_only(
    version: str, parsed: tuple[int, int, int, bool] | None
) -> None:
    assert release(version) == parsed


@pytest.mark.parametrize(
    ("version", "knows"),
    [
        ("0.2.9", False),
        ("0.2.99", False),  # numbers, not text: 99 > 9 but 0.2 < 0.3
        ("0.3.0-rc.1", False),  # a pre-release precedes its release
        ("0.3.0", True),
        ("0.3.1", True),
        ("0.10.0", True),
        ("1.0.0", True),
        ("1.0.0-rc.1", True),  # a pre-release of a later release
    ],
)
def test_a_runtime_knows_the_settings_of_its_release_and_before(version: str, knows: bool) -> None:
    assert runtime_has(version, "0.3.0") is knows


@pytest.mark.parametrize("version", ["0.0.1", "0.1.0-rc.1", "0.1.0", "latest"])
def test_the_first_releases_settings_are_every_versions(version: str) -> None:
    assert runtime_has(version, FIRST_RELEASE)


@pytest.mark.parametrize("version", ["latest", "0.2", "sha256-4f1d2c3b9a8e7f60", "main"])
def test_an_unparseable_version_is_taken_as_this_operators_own(version: str) -> None:
    """Everything this operator's release knows is rendered; a later one would not be."""
    assert runtime_has(version, __version__)
    later = release(__version__)
    assert later is not None
    after = f"{later[0]}.{later[1] + 1}.0"
    assert runtime_has(version, after) is runtime_has(__version__, after) is False


@pytest.mark.parametrize("since", ["0.3.0-rc.1", "latest", "0.3"])
def test_an_introduction_must_be_a_release(since: str) -> None:
    with pytest.raises(ValueError, match="introduced in a release"):
        runtime_has("0.3.0", since)


def test_a_later_setting_is_left_out_for_an_older_runtime(later: type[Later]) -> None:
    rendered = settings(later, feature_telepathy=True, lease_seconds=9)
    assert "HOLON_FEATURE_TELEPATHY" not in rendered.environment("0.2.0")
    assert "HOLON_LEASE_SECONDS" not in rendered.environment("0.3.0-rc.1")
    assert rendered.environment("0.3.0")["HOLON_FEATURE_TELEPATHY"] == "true"
    assert rendered.environment()["HOLON_LEASE_SECONDS"] == "9"
    # everything else is the same for both versions
    older, newer = rendered.environment("0.2.0"), rendered.environment("0.3.0")
    assert newer == older | {"HOLON_FEATURE_TELEPATHY": "true", "HOLON_LEASE_SECONDS": "9"}


def test_only_what_an_older_runtime_cannot_honour_is_reported(later: type[Later]) -> None:
    assert settings(later).left_out("0.2.0") == []  # off is what 0.2.0 does anyway
    on = settings(later, feature_telepathy=True, lease_seconds=9)
    assert on.left_out("0.2.0") == [
        LeftOut(name="feature_telepathy", value=True, since="0.3.0"),
        LeftOut(name="lease_seconds", value=9, since="0.3.0"),  # no inert value declared
    ]
    assert on.left_out("0.3.0") == []
    assert on.left_out("latest") == on.left_out(__version__)


@pytest.fixture
def metrics_from_0_3(monkeypatch: pytest.MonkeyPatch) -> None:
    """As if the runtime had learnt ``feature_metrics`` in 0.3.0."""
    monkeypatch.setitem(INTRODUCED, "feature_metrics", Since("0.3.0", absent_means=False))


@pytest.mark.usefixtures("metrics_from_0_3")
def test_each_slot_is_rendered_for_its_own_version() -> None:
    """Blue at 0.2.0 and green at 0.3.0 side by side: each ConfigMap has the settings its
    runtime knows, and each Deployment's config hash is its own ConfigMap's."""
    module = ctx(features={"metrics": True})
    blue = build_new_slot(module, Colour.BLUE, "0.2.0")
    green = build_new_slot(module, Colour.GREEN, "0.3.0")
    assert "HOLON_FEATURE_METRICS" not in blue[0]["data"]
    assert green[0]["data"]["HOLON_FEATURE_METRICS"] == "true"
    for config, deployment in (blue, green):
        annotations = deployment["spec"]["template"]["metadata"]["annotations"]
        assert annotations[CONFIG_HASH_ANNOTATION] == config_hash(config["data"])
    assert blue[0]["data"] == config_data(module)  # spec.version 0.2.0: the same rendering
    assert [left.name for left in left_out_settings(module)] == ["feature_metrics"]


@pytest.mark.usefixtures("metrics_from_0_3")
def test_a_wish_the_runtime_cannot_honour_is_a_warning_once_per_generation() -> None:
    module = ctx(features={"metrics": True})
    (warning,) = left_out_events({"observedGeneration": 3}, module)
    assert (warning.type, warning.reason) == ("Warning", SETTING_NOT_SUPPORTED)
    assert "HOLON_FEATURE_METRICS=true" in warning.message
    assert "runtime 0.2.0 does not know it (a setting since 0.3.0)" in warning.message
    assert left_out_events({}, module) == [warning]  # the first reconcile
    assert left_out_events({"observedGeneration": 4}, module) == []  # said already
    assert left_out_events({"observedGeneration": 3}, ctx(features={"metrics": False})) == []
    assert (
        left_out_events({"observedGeneration": 3}, ctx("0.3.0", features={"metrics": True})) == []
    )


def test_only_the_safe_point_wait_is_left_out_for_the_first_release() -> None:
    """Every setting but one is the first release's; the wait for a safe point at shutdown
    (0.2.0) is left out for 0.1.0 - which hands over at once, as without it - and
    reported, since the spec asks for a wait that release does not make."""
    everything = ctx(features={"ui": True, "metrics": True})
    for version in ("0.1.0", "0.1.0-rc.1"):
        first = config_data(ctx(version, features={"ui": True, "metrics": True}))
        assert first == {
            **{
                k: v
                for k, v in config_data(everything).items()
                if k != "HOLON_SAFE_POINT_WAIT_SECONDS"
            },
            "HOLON_MODULE_VERSION": version,
        }
        (left,) = left_out_settings(ctx(version, features={"ui": True}))
        assert (left.name, left.value, left.since) == ("safe_point_wait_seconds", 300, "0.2.0")
    for version in (__version__, "9.9.9"):
        assert config_data(ctx(version, features={"ui": True, "metrics": True})) == {
            **config_data(everything),
            "HOLON_MODULE_VERSION": version,
        }
        assert left_out_settings(ctx(version, features={"ui": True})) == []
