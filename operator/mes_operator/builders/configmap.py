"""The runtime's ConfigMap: ``HOLON_*`` settings derived from the spec.

The runtime reads its settings from ``HOLON_*`` variables (one Settings class); feature
flags are plain ``"true"``/``"false"`` strings so they are obvious in ``kubectl describe``.
The graceful-shutdown timing (the drain, the wait for a safe point before the hand-over,
the in-flight requests' time) comes from ``builders.shutdown``, which also sizes the Pod's
termination grace period.

Every key here is a field of :class:`~mes_operator.builders.runtime_settings.RuntimeSettings`,
the typed operator -> runtime contract that ``tests/test_settings_contract.py`` holds to the
runtime's ``Settings`` (which refuses an unknown ``HOLON_*`` key at start). A slot is
rendered for its own version (``spec.version``, which ``builders.upgrade.at_version`` sets
per slot): without the settings its runtime release does not know yet
(:data:`~mes_operator.builders.runtime_settings.INTRODUCED`), so an older release starts.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from mes_operator.builders.context import HTTP_PORT, ModuleContext, config_map_name, metadata
from mes_operator.builders.runtime_settings import LeftOut, RuntimeSettings
from mes_operator.builders.shutdown import (
    DRAIN_SECONDS,
    SHUTDOWN_TIMEOUT_SECONDS,
    safe_point_wait_seconds,
)
from mes_operator.models.mesmodule import DatabaseEngine

DATA_DIR = "/var/lib/holon"


def runtime_settings(ctx: ModuleContext) -> RuntimeSettings:
    """The settings the runtime receives through the ConfigMap (typed).

    An orchestrated module's Pods never migrate (``HOLON_MIGRATE_ON_START=false``, every
    slot): its Jobs do, the first install's schema included (``reconcile/schema.py``). A
    green Pod that migrated at start would apply the new version's *contract* revisions
    while blue still serves."""
    sqlite = ctx.spec.database.engine is DatabaseEngine.SQLITE
    return RuntimeSettings(
        host="0.0.0.0",  # noqa: S104 - a Pod must listen on its own IP
        port=HTTP_PORT,
        data_dir=DATA_DIR,
        module=ctx.spec.module,
        module_version=ctx.spec.version,
        database_engine=ctx.spec.database.engine,
        database_url=f"sqlite+aiosqlite:///{DATA_DIR}/holon.db" if sqlite else None,
        drain_seconds=DRAIN_SECONDS,
        shutdown_timeout_seconds=SHUTDOWN_TIMEOUT_SECONDS,
        safe_point_wait_seconds=safe_point_wait_seconds(ctx.spec),
        migrate_on_start=False if ctx.spec.upgrade_strategy.orchestrated else None,
        **RuntimeSettings.feature_flags(ctx.spec.features),
    )


def config_data(ctx: ModuleContext) -> dict[str, str]:
    """The settings the runtime at ``spec.version`` receives, as environment variable
    values (those it does not know left out)."""
    return runtime_settings(ctx).environment(ctx.spec.version)


def left_out_settings(ctx: ModuleContext) -> list[LeftOut]:
    """What :func:`config_data` leaves out that the spec asks the runtime to honour."""
    return runtime_settings(ctx).left_out(ctx.spec.version)


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
