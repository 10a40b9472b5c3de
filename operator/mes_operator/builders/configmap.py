"""The runtime's ConfigMap: ``HOLON_*`` settings derived from the spec.

The runtime reads its settings from ``HOLON_*`` variables (one Settings class); feature
flags are plain ``"true"``/``"false"`` strings so they are obvious in ``kubectl describe``.
The graceful-shutdown timing comes from ``builders.shutdown``, which also sizes the Pod's
termination grace period.

Every key here is a setting the runtime declares (``mes_runtime.settings.Settings``, which
refuses an unknown ``HOLON_*`` key at start); ``tests/test_settings_contract.py`` holds the
two to each other, since the operator does not import the runtime.
"""

from __future__ import annotations

import hashlib
import json
import re
from typing import Any

from mes_operator.builders.context import HTTP_PORT, ModuleContext, config_map_name, metadata
from mes_operator.builders.shutdown import shutdown_settings
from mes_operator.models.mesmodule import DatabaseEngine

DATA_DIR = "/var/lib/holon"


def _env_name(field: str) -> str:
    return "HOLON_FEATURE_" + re.sub(r"(?<!^)(?=[A-Z])", "_", field).upper()


def config_data(ctx: ModuleContext) -> dict[str, str]:
    """The settings the runtime receives, as environment variable values."""
    data = {
        "HOLON_HOST": "0.0.0.0",  # noqa: S104 - a Pod must listen on its own IP
        "HOLON_PORT": str(HTTP_PORT),
        "HOLON_DATA_DIR": DATA_DIR,
        "HOLON_MODULE": ctx.spec.module.value,
        "HOLON_MODULE_VERSION": ctx.spec.version,
        "HOLON_DATABASE_ENGINE": ctx.spec.database.engine.value,
        **shutdown_settings(),
    }
    if ctx.spec.database.engine is DatabaseEngine.SQLITE:
        data["HOLON_DATABASE_URL"] = f"sqlite+aiosqlite:///{DATA_DIR}/holon.db"
    features = ctx.spec.features.model_dump(by_alias=True)
    for field, enabled in sorted(features.items()):
        data[_env_name(field)] = "true" if enabled else "false"
    return data


def config_hash(data: dict[str, str]) -> str:
    """Digest of the configuration; a change rolls the Pods (pod template annotation)."""
    canonical = json.dumps(data, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()[:16]


def build_config_map(ctx: ModuleContext) -> dict[str, Any]:
    """The ConfigMap the runtime Pods read their settings from."""
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": metadata(ctx, config_map_name(ctx)),
        "data": config_data(ctx),
    }
