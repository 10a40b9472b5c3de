"""``GET /api/v1/upgrade/installation``: what only the runtime knows of its installation.

The operator builds the Installation Qualification rows of a ``Qualification`` (DESIGN §7)
from the live system; the runtime's part comes from here, over HTTP (the operator never
imports the runtime): its version, the schema revisions the database is at against the
heads this version ships, the settings that matter for qualification with their digest,
the capabilities it serves and the digest of each equipment manifest it has imported.

Which settings: those that change what is recorded, who may do what, how durable the
records are, how batches survive a hand-over, and what is served (:data:`QUALIFIED`, each
with why). The rest are left out with their reason (:data:`LEFT_OUT`): network binding,
logging, local paths, the blue-green slot (it differs between the two colours of one
version), and every secret or value that may carry one (URLs: a credential or a webhook
token can sit in them). ``tests/mes_runtime/api/test_installation.py`` holds every setting
to one of the two, so a new setting is placed on purpose, never published by default.

``settingsDigest`` is ``sha256:`` of the RFC 8785 canonical JSON of ``settings``, so the
operator (or a validation lead's own script) can recompute it from the answer and compare
installations by one value.

Who may read it: the operator's machine account (``upgrade.manage``, as the write side of
the other upgrade routes). Admins may not: ``api.deps.require`` takes one permission and
``auth.permissions`` is the one place that grants it; letting admins read this would be a
permission of its own there (``upgrade.manage`` would also let them move batch ownership).
The facts reach people in the evidence package.

Served by every module kind (the operator qualifies each), hence its own router: the other
``/api/v1/upgrade`` routes are served only where batches are (``api.app.ROUTERS`` lists
this router first, so their not-served answer does not shadow it).
"""

from __future__ import annotations

import hashlib
from typing import Annotated, Literal

import rfc8785
from fastapi import APIRouter, Request
from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel
from sqlalchemy import Connection

import mes_runtime
from mes_runtime.api.deps import EngineDep, SessionDep, SettingsDep, require
from mes_runtime.api.features import Capability
from mes_runtime.auth.permissions import Permission
from mes_runtime.db.compat import problem_with
from mes_runtime.db.migrate import (
    applied_revisions,
    current_revisions_of,
    head_revisions,
    known_revisions,
)
from mes_runtime.db.models import User
from mes_runtime.services.equipment import list_equipment
from mes_runtime.settings import Settings

__all__ = [
    "DERIVED",
    "LEFT_OUT",
    "QUALIFIED",
    "EquipmentManifestOut",
    "InstallationOut",
    "SchemaOut",
    "SettingValue",
    "qualified_settings",
    "router",
    "settings_digest",
]

router = APIRouter(prefix="/api/v1/upgrade", tags=["upgrade"])

Upgrader = Annotated[User, require(Permission.UPGRADE_MANAGE)]

#: A setting's value as plain JSON (sets as sorted lists, paths as strings).
SettingValue = str | int | float | bool | list[str] | None

#: The settings published, by their name in ``Settings``, with why each matters.
QUALIFIED: dict[str, str] = {
    "module": "the module kind: decides what the runtime serves",
    "module_version": "the module's version, as the operator set it",
    "database_engine": "the database engine the operator provisioned",
    "feature_ui": "serves the operator UI",
    "feature_equipment_simulator": "runs the equipment simulator (refused while unsupported)",
    "feature_review_by_exception": "serves review by exception",
    "feature_electronic_signatures": "electronic signatures (Part 11): off, nothing is approved",
    "feature_metrics": "serves metrics",
    "token_ttl_seconds": "session lifetime (Part 11 access control)",
    "setup_token_ttl_seconds": "lifetime of a new user's one-time set-up token",
    "password_max_age_days": "password expiry policy",
    "login_max_failures": "failed authentications before an account locks",
    "login_lockout_seconds": "the first lock's length",
    "login_lockout_max_seconds": "the longest lock",
    "sqlite_synchronous": "durability of committed records on SQLite (power loss)",
    "migrate_on_start": "whether a starting runtime changes the database's schema",
    "lease_seconds": "how soon a peer takes over the batches of a replica that died",
    "safe_point_wait_seconds": "how long a hand-over waits for non-interruptible phases",
    "drain_seconds": "how long a stopping replica drains before it stops accepting",
    "shutdown_timeout_seconds": "how long in-flight requests may finish at a stop",
    "qms_categories": "which exceptions are handed to the QMS (categories)",
    "qms_severities": "which exceptions are handed to the QMS (severities)",
    "qms_source": "the CloudEvents source naming this plant and module to the QMS",
    "qms_ca_bundle": "the CAs trusted for the QMS webhook (a path; unset: the system's)",
    "qms_timeout_seconds": "how long the QMS may take to answer one event",
    "qms_retry_initial_seconds": "the QMS delivery retry policy (first wait)",
    "qms_retry_max_seconds": "the QMS delivery retry policy (longest wait)",
    "local_login": "whether local passwords sign in (or only the identity provider)",
    "oidc_issuer": "the identity provider trusted to sign users in",
    "oidc_client_id": "the audience the provider's tokens must name",
    "oidc_username_claim": "which claim names the user",
    "oidc_name_claim": "which claim gives the printed name a signature shows",
    "oidc_groups_claim": "which claim lists the groups that roles come from",
    "oidc_role_map": "which groups grant which roles (group=role,role)",
    "oidc_clock_skew_seconds": "the leeway on a provider token's expiry",
    "oidc_scopes": "what the UI's sign-in asks the provider for",
}

#: Values published that are not settings themselves, with what they say.
DERIVED: dict[str, str] = {
    "qms_hand_off": "whether exceptions are handed to a QMS (qms_url is set; not the URL)",
}

#: The settings never published, with why.
LEFT_OUT: dict[str, str] = {
    "database_url": "may hold the database's credentials (its dialect is in schema)",
    "qms_url": "may hold a credential or a webhook token (qms_hand_off says if it is set)",
    "qms_secret": "a secret (the QMS webhook's HMAC key)",
    "data_dir": "a local path inside the container",
    "host": "network binding (the Pod and Service show it)",
    "port": "network binding (the Pod and Service show it)",
    "metrics_host": "network binding (the Pod and Service show it)",
    "metrics_port": "network binding (the Pod and Service show it)",
    "log_level": "diagnostics, not records",
    "log_format": "diagnostics, not records",
    "colour": "the replica's blue-green slot: differs between the colours of one version",
    "oidc_client_secret": "a secret (the runtime's client secret at the identity provider)",
    "oidc_redirect_url": "the runtime's own address, as the provider sends browsers back",
}


def _plain(value: object) -> SettingValue:
    """A setting's value as plain JSON."""
    if isinstance(value, frozenset | set):
        return sorted(str(item) for item in value)
    if isinstance(value, dict):  # the role map: one "key=item,item" per key
        return sorted(f"{key}={','.join(map(str, items))}" for key, items in value.items())
    if value is None or isinstance(value, str | int | float | bool):
        return value
    return str(value)  # a path


def qualified_settings(settings: Settings) -> dict[str, SettingValue]:
    """The settings of :data:`QUALIFIED` (and :data:`DERIVED`) as plain JSON, by name."""
    values = {name: _plain(getattr(settings, name)) for name in sorted(QUALIFIED)}
    values["qms_hand_off"] = bool(settings.qms_url)
    return values


def settings_digest(values: dict[str, SettingValue]) -> str:
    """``sha256:`` of the RFC 8785 canonical JSON of ``values``."""
    return "sha256:" + hashlib.sha256(rfc8785.dumps(values)).hexdigest()


class _Out(BaseModel):
    """camelCase on the wire, as the operator's resources are."""

    model_config = ConfigDict(alias_generator=to_camel, validate_by_name=True)


class SchemaOut(_Out):
    dialect: Literal["postgresql", "sqlite"] = Field(description="the database's engine")
    current: list[str] = Field(
        description="the alembic revisions the database records (one tip per branch), sorted"
    )
    heads: list[str] = Field(description="the branch heads this version ships, sorted")
    at_heads: bool = Field(
        description="every head this version ships is applied and nothing newer is: where "
        "`mes-runtime db upgrade` leaves the database"
    )
    compatible: bool = Field(
        description="this version can work on the schema (the readiness verdict): true also "
        "before its contract migration or after a later version's expand"
    )


class EquipmentManifestOut(_Out):
    name: str = Field(description="the module's name")
    digest: str = Field(description="sha256: of its MTP manifest file, as imported")


class InstallationOut(_Out):
    version: str = Field(description="the runtime's version")
    database_schema: SchemaOut = Field(
        alias="schema", description="the database's schema against this version's migrations"
    )
    settings: dict[str, SettingValue] = Field(
        description="the settings that matter for qualification, by setting name (never a "
        "secret, a credential or a URL); qms_hand_off says whether qms_url is set"
    )
    settings_digest: str = Field(description="sha256: of the RFC 8785 canonical JSON of settings")
    capabilities: list[str] = Field(description="the capabilities this runtime serves, sorted")
    equipment: list[EquipmentManifestOut] = Field(
        description="each imported MTP module by name (none where equipment is not served)"
    )


def _schema(connection: Connection) -> SchemaOut:
    """Where the database's schema stands against the revisions this version ships."""
    stored = current_revisions_of(connection)
    heads = head_revisions()
    shipped = known_revisions()
    applied = applied_revisions(stored & shipped)
    dialect = connection.dialect.name
    assert dialect in ("postgresql", "sqlite"), dialect  # the drivers Settings accepts
    return SchemaOut(
        dialect=dialect,
        current=sorted(stored),
        heads=sorted(heads),
        at_heads=heads <= applied and stored <= shipped,
        compatible=problem_with(stored) is None,
    )


@router.get("/installation", response_model=InstallationOut)
async def get_installation(
    _: Upgrader,
    request: Request,
    settings: SettingsDep,
    engine: EngineDep,
    session: SessionDep,
) -> InstallationOut:
    """The runtime's installation facts for Installation Qualification: version, schema
    revisions, the settings that matter (and their digest), capabilities served and the
    digest of each imported equipment manifest."""
    capabilities: frozenset[Capability] = request.app.state.capabilities
    async with engine.connect() as connection:
        schema = await connection.run_sync(_schema)
    rows = await list_equipment(session) if Capability.EQUIPMENT in capabilities else []
    values = qualified_settings(settings)
    return InstallationOut(
        version=mes_runtime.__version__,
        database_schema=schema,
        settings=values,
        settings_digest=settings_digest(values),
        capabilities=sorted(capabilities),
        equipment=[EquipmentManifestOut(name=r.name, digest=r.manifest_digest) for r in rows],
    )
