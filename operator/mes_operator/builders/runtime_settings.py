"""The operator -> runtime contract: the runtime settings a MESModule's Pods receive, typed.

The runtime reads ``HOLON_*`` variables into one ``Settings`` class and refuses a key it
does not know. :class:`RuntimeSettings` is the part of that class the operator writes,
field for field under the same names and types; the ConfigMap and the Deployment's env
are rendered from it (:meth:`RuntimeSettings.environment`), never from loose strings.
The operator and the runtime never import each other, so ``tests/test_settings_contract.py``
holds this class to the runtime's: every field here is a runtime setting of the same type,
and every environment the operator renders is one the runtime starts with.

One operator runs every version of the runtime: both slots of a blue-green upgrade (the
old release beside the new one), a module pinned at an older ``spec.version``, a rollback.
So every field is declared in :data:`INTRODUCED` with the runtime release that first knows
it, and a slot at version V is rendered without the settings introduced after V
(:meth:`RuntimeSettings.environment`): an older runtime starts instead of refusing a key
it cannot know. A left-out setting whose value asks for something the older runtime does
not do anyway (a feature flag switched on) is reported (:meth:`RuntimeSettings.left_out`;
a ``SettingNotSupported`` Warning Event on the MESModule) rather than dropped in silence.
A version that is not a semantic version (``X.Y.Z`` with an optional ``-pre.release``)
cannot be placed, and is rendered with every setting, as for this operator's own release
(:func:`runtime_has`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import Enum
from typing import Any

from pydantic import BaseModel, ConfigDict

from mes_operator import __version__
from mes_operator.models.mesmodule import SEMVER, DatabaseEngine, Features, ModuleKind

__all__ = [
    "ENV_PREFIX",
    "FIRST_RELEASE",
    "INTRODUCED",
    "LeftOut",
    "RuntimeSettings",
    "Since",
    "feature_setting",
    "release",
    "runtime_has",
]

ENV_PREFIX = "HOLON_"
FIRST_RELEASE = "0.1.0"
"""The runtime's first release: its settings are the baseline every version is rendered
with (there is no older runtime to leave them out for, and a runtime without ``host`` or
``port`` would not serve at all)."""
#: Settings are plain values: what the runtime would read from a variable.
Value = bool | int | str


def feature_setting(flag: str) -> str:
    """The runtime setting of a ``spec.features`` flag: ``reviewByException`` ->
    ``feature_review_by_exception``."""
    return "feature_" + re.sub(r"(?<!^)(?=[A-Z])", "_", flag).lower()


def release(version: str) -> tuple[int, int, int, bool] | None:
    """``(major, minor, patch, pre_release)`` of a semantic version (``spec.version``'s
    pattern: ``0.2.3``, ``0.3.0-rc.1``); None for anything else (``latest``, ``0.2``, a
    digest-like re-tag)."""
    found = re.match(SEMVER, version)
    if found is None:
        return None
    major, minor, patch = (int(part) for part in found.groups()[:3])
    return major, minor, patch, found.group(4) is not None


def runtime_has(version: str, since: str) -> bool:
    """Whether the runtime at ``version`` knows a setting introduced in release ``since``.

    A setting of :data:`FIRST_RELEASE` is known to every version. A pre-release of
    ``since`` (``0.3.0-rc.1``) precedes it, as semantic versioning orders them, so it does
    not know it: it may have been built before the setting landed, and leaving a setting
    out costs a reported feature, while rendering one too many costs a Pod that does not
    start. A version that is not a semantic version cannot be placed: it is taken as this
    operator's own release (``mes_operator.__version__``), so every setting is rendered,
    since an unknown tag is most likely a build of the current source, and rendering only
    the oldest settings would quietly switch off what the spec asks of a runtime that
    probably has it; an older runtime still refuses the key by name at start, loudly."""
    introduced = release(since)
    if introduced is None or introduced[3]:
        raise ValueError(f"a setting is introduced in a release X.Y.Z, not {since!r}")
    if since == FIRST_RELEASE:
        return True
    running = release(version) or release(__version__)
    if running is None:  # not even this operator's version is one: render everything
        return True
    return running[:3] > introduced[:3] or (running[:3] == introduced[:3] and not running[3])


@dataclass(frozen=True)
class Since:
    """When the runtime learnt a setting, and what a runtime without it does anyway."""

    version: str
    """The first runtime release that knows the setting (``X.Y.Z``)."""
    absent_means: Value | None = None
    """The value an older runtime behaves as (``False`` for a feature flag): leaving the
    setting out for it loses nothing. Any other value left out is reported; None: every
    value is (the operator cannot tell what an older runtime does)."""


#: The runtime release that introduced each field of :class:`RuntimeSettings` (every
#: field has one; ``tests/mes_operator/test_runtime_settings.py`` fails otherwise). The
#: settings of the first release say :data:`FIRST_RELEASE`; a new one names the release it
#: ships in (this operator's, ``mes_operator.__version__``) and, for a feature flag,
#: ``absent_means=False``.
INTRODUCED: dict[str, Since] = {
    "host": Since("0.1.0"),
    "port": Since("0.1.0"),
    "data_dir": Since("0.1.0"),
    "module": Since("0.1.0"),
    "module_version": Since("0.1.0"),
    "database_engine": Since("0.1.0"),
    "database_url": Since("0.1.0"),
    "drain_seconds": Since("0.1.0"),
    "shutdown_timeout_seconds": Since("0.1.0"),
    # a runtime before it hands its batches over at SIGTERM without waiting
    "safe_point_wait_seconds": Since("0.2.0", absent_means=0),
    "migrate_on_start": Since("0.1.0"),
    "feature_ui": Since("0.1.0", absent_means=False),
    "feature_equipment_simulator": Since("0.1.0", absent_means=False),
    "feature_review_by_exception": Since("0.1.0", absent_means=False),
    "feature_electronic_signatures": Since("0.1.0", absent_means=False),
    "feature_metrics": Since("0.1.0", absent_means=False),
}


@dataclass(frozen=True)
class LeftOut:
    """A setting a slot's runtime does not know, whose value it therefore cannot honour."""

    name: str
    value: Value
    since: str

    def sentence(self, version: str) -> str:
        """``kubectl describe``'s words for it."""
        return (
            f"{ENV_PREFIX}{self.name.upper()}={_text(self.value)} left out: runtime "
            f"{version} does not know it (a setting since {self.since}), so it starts "
            "without it and does not honour it"
        )


class RuntimeSettings(BaseModel):
    """What the operator sets of the runtime's ``Settings`` (``mes_runtime.settings``)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    host: str
    port: int
    data_dir: str
    module: ModuleKind
    module_version: str
    database_engine: DatabaseEngine
    database_url: str | None = None
    drain_seconds: int  # whole seconds (the runtime takes a float)
    shutdown_timeout_seconds: int
    safe_point_wait_seconds: int  # whole seconds (the runtime takes a float)
    migrate_on_start: bool | None = None
    """False for an orchestrated module (its Jobs migrate, never its Pods); unset otherwise,
    so the runtime's default (migrate at start) holds and no other module's ConfigMap, hence
    none of its Pods, changes."""
    feature_ui: bool
    feature_equipment_simulator: bool
    feature_review_by_exception: bool
    feature_electronic_signatures: bool
    feature_metrics: bool

    @classmethod
    def feature_flags(cls, features: Features) -> dict[str, bool]:
        """The ``feature_*`` settings of ``spec.features`` (a flag without a setting here
        is a TypeError at once)."""
        flags = features.model_dump(by_alias=True)
        return {feature_setting(flag): bool(on) for flag, on in flags.items()}

    def environment(self, version: str | None = None) -> dict[str, str]:
        """The settings as ``HOLON_*`` variables: booleans ``"true"``/``"false"`` (plain in
        ``kubectl describe``), unset ones left out, and so are those the runtime at
        ``version`` does not know (:data:`INTRODUCED`; None: every setting)."""
        return {
            ENV_PREFIX + name.upper(): _text(value)
            for name, value in self._set().items()
            if version is None or runtime_has(version, INTRODUCED[name].version)
        }

    def left_out(self, version: str) -> list[LeftOut]:
        """The settings :meth:`environment` leaves out for ``version`` whose value the
        runtime at ``version`` does not behave as without them (a flag switched on)."""
        return [
            LeftOut(name=name, value=value, since=since.version)
            for name, value in self._set().items()
            if not runtime_has(version, (since := INTRODUCED[name]).version)
            and value != since.absent_means
        ]

    def _set(self) -> dict[str, Value]:
        return {k: v for k, v in self.model_dump().items() if v is not None}


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Enum):
        return str(value.value)
    return str(value)
