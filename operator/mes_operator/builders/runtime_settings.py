"""The operator -> runtime contract: the runtime settings a MESModule's Pods receive, typed.

The runtime reads ``HOLON_*`` variables into one ``Settings`` class and refuses a key it
does not know. :class:`RuntimeSettings` is the part of that class the operator writes,
field for field under the same names and types; the ConfigMap and the Deployment's env
are rendered from it (:meth:`RuntimeSettings.environment`), never from loose strings.
The operator and the runtime never import each other, so ``tests/test_settings_contract.py``
holds this class to the runtime's: every field here is a runtime setting of the same type,
and every environment the operator renders is one the runtime starts with.
"""

from __future__ import annotations

import re
from enum import Enum
from typing import Any

from pydantic import BaseModel, ConfigDict

from mes_operator.models.mesmodule import DatabaseEngine, Features, ModuleKind

__all__ = ["ENV_PREFIX", "RuntimeSettings", "feature_setting"]

ENV_PREFIX = "HOLON_"


def feature_setting(flag: str) -> str:
    """The runtime setting of a ``spec.features`` flag: ``reviewByException`` ->
    ``feature_review_by_exception``."""
    return "feature_" + re.sub(r"(?<!^)(?=[A-Z])", "_", flag).lower()


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

    def environment(self) -> dict[str, str]:
        """The settings as ``HOLON_*`` variables: booleans ``"true"``/``"false"`` (plain in
        ``kubectl describe``), unset ones left out."""
        return {
            ENV_PREFIX + name.upper(): _text(value)
            for name, value in self.model_dump().items()
            if value is not None
        }


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Enum):
        return str(value.value)
    return str(value)
