"""Runtime settings: one ``Settings`` object, read from ``HOLON_*`` environment variables.

Why one class: every knob the runtime has is visible (and documented) in one place, and a
deployment (Helm values, a Kubernetes Secret) maps one-to-one onto these names.

Secrets never have a default, and well-known placeholder values ("changeme", "secret",
"password" ...) are refused at start-up with a message naming the setting: a GMP system that
starts with a guessable credential is worse than one that does not start.

An unknown ``HOLON_*`` variable is refused too, naming it: a misspelt or outdated setting
(or one the operator writes that this runtime does not know) must not be silently ignored.
The keys the operator writes into the runtime's ConfigMap are tested against this class
(``tests/test_settings_contract.py``). Variables of Holon's other programs that share the
prefix (:data:`OTHER_PROGRAMS`) are left alone.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Literal
from urllib.parse import quote, urlsplit

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict
from sqlalchemy.engine import make_url

__all__ = [
    "ENV_PREFIX",
    "OIDC_ROLES",
    "OTHER_PROGRAMS",
    "PLACEHOLDER_SECRETS",
    "ModuleKind",
    "Settings",
    "get_settings",
    "reject_placeholder",
    "unknown_keys",
]

ENV_PREFIX = "HOLON_"

#: Exception categories and severities the QMS hand-off can select (the domain's
#: ``Category`` and ``Severity`` values; a test holds them equal).
QMS_CATEGORIES = Literal[
    "limit_excursion",
    "out_of_trend",
    "equipment_loss",
    "manual_intervention",
    "late_step",
    "parameter_deviation",
    "other",
]
QMS_SEVERITIES = Literal["critical", "major", "minor"]

#: The roles a group of the identity provider can map to (``auth.permissions.Role``; the
#: settings sit below auth, so a test holds them equal). Not ``upgrade``: the operator's own.
OIDC_ROLES = Literal["operator", "supervisor", "qa", "admin"]

#: The MES module kinds (spec.module of a MESModule; the operator's ``ModuleKind``).
ModuleKind = Literal["batch-execution", "ebr", "equipment-logbook", "review-by-exception"]

#: ``HOLON_*`` variables (or prefixes) that belong to Holon's other programs, not the
#: runtime: the operator, the local cluster and image tooling, the e2e tests, and the
#: backup command's object store (``mes-runtime backup``, run as a Job: HOLON_BACKUP_*).
OTHER_PROGRAMS = (
    "HOLON_OPERATOR_",
    "HOLON_E2E_",
    "HOLON_CACHE",
    "HOLON_CLUSTER_DIR",
    "HOLON_BACKUP_",
)

PLACEHOLDER_SECRETS = frozenset(
    {
        "changeme",
        "change-me",
        "change_me",
        "secret",
        "password",
        "passw0rd",
        "admin",
        "default",
        "example",
        "test",
        "xxx",
        "todo",
        "replace-me",
    }
)


def reject_placeholder(setting: str, value: str | None) -> None:
    """Raise ``ValueError`` naming ``setting`` when ``value`` is a well-known placeholder."""
    if value is None:
        return
    if not value.strip() or value.strip().lower() in PLACEHOLDER_SECRETS:
        raise ValueError(
            f"{setting}: the secret is empty or a placeholder ({value!r}); set a real value"
        )


class Settings(BaseSettings):
    """Everything the runtime can be configured with (env prefix ``HOLON_``)."""

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, extra="forbid", frozen=True)

    data_dir: Path = Field(
        default=Path(".holon/data"),
        description="Directory for the embedded SQLite database and other local state.",
    )
    database_url: str = Field(
        default="",
        description=(
            "SQLAlchemy async URL: sqlite+aiosqlite:///path or postgresql+psycopg://... "
            "Empty means SQLite at <data_dir>/runtime.db."
        ),
    )
    host: str = Field(default="127.0.0.1", description="Address the HTTP server binds to.")
    port: int = Field(default=8080, ge=0, le=65535, description="HTTP port.")
    token_ttl_seconds: int = Field(
        default=8 * 3600, gt=0, description="Lifetime of an API bearer token (a shift)."
    )
    password_max_age_days: int = Field(
        default=0,
        ge=0,
        le=3650,
        description=(
            "Days a password may be used before its user must change it; 0: no expiry "
            "(NIST SP 800-63B advises none; set it where a plant's policy demands one)."
        ),
    )
    setup_token_ttl_seconds: int = Field(
        default=72 * 3600,
        gt=0,
        le=30 * 24 * 3600,
        description="Lifetime of a new user's one-time password set-up token.",
    )
    login_max_failures: int = Field(
        default=5,
        ge=1,
        le=1000,
        description=(
            "Consecutive failed authentications (login, password change, signature) after "
            "which an account is locked."
        ),
    )
    login_lockout_seconds: int = Field(
        default=60,
        ge=1,
        le=24 * 3600,
        description="First lock's length; it doubles with every further failure.",
    )
    login_lockout_max_seconds: int = Field(
        default=3600, ge=1, le=7 * 24 * 3600, description="The longest lock."
    )
    local_login: bool = Field(
        default=True,
        description=(
            "Users may sign in with a password the runtime keeps (POST /api/v1/auth/token). "
            "false: only through the plant's identity provider (HOLON_OIDC_ISSUER); local "
            "passwords then serve signatures only."
        ),
    )
    oidc_issuer: str = Field(
        default="",
        description=(
            "The plant's OpenID Connect provider (its issuer URL, e.g. https://idp.plant/dex): "
            "the API accepts bearer tokens it signed for HOLON_OIDC_CLIENT_ID. Empty: none."
        ),
    )
    oidc_client_id: str = Field(
        default="",
        description="The runtime's client id at the provider: the audience its tokens name.",
    )
    oidc_client_secret: SecretStr | None = Field(
        default=None,
        description=(
            "The runtime's client secret at the provider, for the UI's sign-in (authorization "
            "code with PKCE); unset: a public client (PKCE alone)."
        ),
    )
    oidc_scopes: str = Field(
        default="openid profile email groups",
        description="The scopes the UI's sign-in asks for (space-separated).",
    )
    oidc_redirect_url: str = Field(
        default="",
        description=(
            "Where the provider sends the browser back (register it at the provider): "
            "<the runtime's URL>/api/v1/auth/oidc/callback. Empty: derived from the request."
        ),
    )
    oidc_username_claim: str = Field(
        default="preferred_username",
        description="The claim that holds the user name (lower-case letters, digits, . _ -).",
    )
    oidc_name_claim: str = Field(
        default="name", description="The claim that holds the printed name a signature shows."
    )
    oidc_groups_claim: str = Field(
        default="groups",
        description="The claim that lists the user's groups (a string counts as one group).",
    )
    oidc_role_map: dict[str, list[OIDC_ROLES]] = Field(
        default_factory=dict,
        description=(
            'Groups to roles, JSON: {"mes-qa": ["qa"], "mes-operators": ["operator"]}. A '
            "user's roles are those of their groups, set at every sign-in; no role: refused."
        ),
    )
    oidc_clock_skew_seconds: int = Field(
        default=30, ge=0, le=300, description="Leeway on a token's exp/iat/nbf."
    )
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    log_format: Literal["json", "console"] = Field(
        default="json",
        description=(
            "json: one JSON object per line (timestamp, level, logger, message, context), "
            "for log collectors; console: plain text for a terminal. Both mask secrets."
        ),
    )
    metrics_host: str = Field(
        default="", description="Address the metrics endpoint binds to; empty: same as host."
    )
    metrics_port: int = Field(
        default=9464, ge=0, le=65535, description="Port of GET /metrics (0: any free port)."
    )
    sqlite_synchronous: Literal["NORMAL", "FULL"] = Field(
        default="NORMAL",
        description=(
            "SQLite synchronous pragma in WAL mode. NORMAL survives a process crash; "
            "FULL also survives power loss at the cost of one fsync per commit."
        ),
    )
    migrate_on_start: bool = Field(
        default=True, description="`serve` upgrades the database (expand+contract heads) first."
    )
    drain_seconds: float = Field(
        default=5,
        ge=0,
        le=600,
        description=(
            "On SIGTERM/SIGINT, keep serving this long with /readyz failing and every "
            "response saying `Connection: close`, so load balancers (kube-proxy) stop "
            "routing here before the server stops accepting connections."
        ),
    )
    safe_point_wait_seconds: float = Field(
        default=600,
        ge=0,
        le=86400,
        description=(
            "On SIGTERM/SIGINT, before handing its batches over, wait at most this long "
            "for a safe point of the batches this replica owns (none running a phase its "
            "recipe marks `interruptible: false`); meanwhile it starts no such phase. "
            "When the wait ends first, the batches are handed over anyway, journalled "
            "(`batch.unsafe_hand_over`, naming the phase). 0: no wait."
        ),
    )
    colour: Literal["blue", "green"] | None = Field(
        default=None,
        description=(
            "Which blue-green slot this replica belongs to (set by the operator on each "
            "colour's Deployment). While the ownership grant names a colour (an upgrade's "
            "switch), only that colour's replicas own batches; unset: owns batches unless "
            "the grant names a colour."
        ),
    )
    lease_seconds: float = Field(
        default=5,
        ge=1,
        le=300,
        description=(
            "How long a replica's claim on a running batch lasts without renewal (renewed "
            "every fifth of it). A peer takes over a batch whose owner died once its lease "
            "has expired (at most this plus a second); a replica that shuts down releases "
            "its leases at once. Equipment keeps running its services meanwhile (MTP)."
        ),
    )
    shutdown_timeout_seconds: int = Field(
        default=20,
        ge=1,
        le=3600,
        description=(
            "After the drain, how long in-flight requests may take to finish before they "
            "are cancelled; then the application shuts down (equipment, database)."
        ),
    )

    qms_url: str = Field(
        default="",
        description=(
            "The plant QMS's webhook (https://..., http:// for a local test receiver): "
            "exceptions of the selected categories and severities are sent to it as "
            "CloudEvents, HMAC-signed, through the transactional outbox. Empty: no hand-off."
        ),
    )
    qms_secret: SecretStr | None = Field(
        default=None,
        description=(
            "HMAC-SHA256 key of the QMS webhook's signature (X-Holon-Signature); required "
            "with qms_url; never logged."
        ),
    )
    qms_ca_bundle: Path | None = Field(
        default=None,
        description="PEM file of the CAs to trust for an https qms_url; unset: the system's.",
    )
    qms_categories: Annotated[frozenset[QMS_CATEGORIES], NoDecode] = Field(
        default=frozenset(),
        description="Comma-separated exception categories to send; empty: every category.",
    )
    qms_severities: Annotated[frozenset[QMS_SEVERITIES], NoDecode] = Field(
        default=frozenset({"critical", "major"}),
        description="Comma-separated exception severities to send (default critical,major).",
    )
    qms_source: str = Field(
        default="urn:holon:mes-runtime",
        min_length=1,
        description="The CloudEvents ``source`` of the events (name this plant and module).",
    )
    qms_timeout_seconds: float = Field(
        default=10, gt=0, le=300, description="How long the QMS may take to answer one event."
    )
    qms_retry_initial_seconds: float = Field(
        default=1,
        gt=0,
        le=3600,
        description="Wait after a first failed delivery; doubled after each further failure.",
    )
    qms_retry_max_seconds: float = Field(
        default=300, gt=0, le=24 * 3600, description="The longest wait between attempts."
    )

    module: ModuleKind | None = Field(
        default=None,
        description=(
            "The kind of MES module this runtime is (spec.module, set by the operator): it "
            "decides which capabilities are served (api.features); unset: batch-execution."
        ),
    )
    module_version: str | None = Field(
        default=None, description="The module's version (set by the operator)."
    )
    database_engine: Literal["sqlite", "postgresql"] | None = Field(
        default=None, description="The database engine the operator provisioned."
    )
    feature_ui: bool = Field(
        default=False, description="spec.features.ui: serve the operator UI at /ui/ (and / to it)."
    )
    feature_equipment_simulator: bool = Field(
        default=False,
        description="spec.features.equipmentSimulator: not supported yet (refused when true).",
    )
    feature_review_by_exception: bool = Field(
        default=False,
        description="spec.features.reviewByException: serve the exception review routes.",
    )
    feature_electronic_signatures: bool = Field(
        default=False,
        description=(
            "spec.features.electronicSignatures: serve signing (recipe approval by a Part 11 "
            "signature); off, nothing can be approved (never approved unsigned)."
        ),
    )
    feature_metrics: bool = Field(
        default=False,
        description="spec.features.metrics: serve Prometheus metrics on metrics_port.",
    )

    @model_validator(mode="before")
    @classmethod
    def _refuse_unknown_environment(cls, data: object) -> object:
        unknown = unknown_keys(os.environ)
        if unknown:
            raise ValueError(
                f"{', '.join(unknown)}: not a setting of the runtime (known: "
                f"{', '.join(sorted(setting_keys()))}); remove or correct it"
            )
        return data

    @field_validator("qms_categories", "qms_severities", mode="before")
    @classmethod
    def _comma_separated(cls, value: object) -> object:
        if isinstance(value, str):
            return frozenset(part.strip() for part in value.split(",") if part.strip())
        return value

    @model_validator(mode="after")
    def _check_qms(self) -> Settings:
        if not self.qms_url:
            return self
        parts = urlsplit(self.qms_url)
        if parts.scheme not in {"http", "https"} or not parts.hostname:
            raise ValueError("qms_url: not an http(s) URL")
        if self.qms_secret is None:
            raise ValueError("qms_secret: required with qms_url (the webhook's HMAC key)")
        reject_placeholder("qms_secret", self.qms_secret.get_secret_value())
        if self.qms_ca_bundle is not None and not self.qms_ca_bundle.is_file():
            raise ValueError("qms_ca_bundle: no such file")
        return self

    @model_validator(mode="after")
    def _check_oidc(self) -> Settings:
        if not self.oidc_issuer:
            if not self.local_login:
                raise ValueError(
                    "local_login: false needs an identity provider (oidc_issuer), or nobody "
                    "could sign in"
                )
            return self
        parts = urlsplit(self.oidc_issuer)
        if parts.scheme not in {"http", "https"} or not parts.hostname:
            raise ValueError("oidc_issuer: not an http(s) URL")
        if not self.oidc_client_id:
            raise ValueError("oidc_client_id: required with oidc_issuer (the tokens' audience)")
        if self.oidc_client_secret is not None:
            reject_placeholder("oidc_client_secret", self.oidc_client_secret.get_secret_value())
        if "openid" not in self.oidc_scopes.split():
            raise ValueError("oidc_scopes: must include openid")
        return self

    @model_validator(mode="after")
    def _check(self) -> Settings:
        if not self.database_url:
            path = (self.data_dir / "runtime.db").resolve()
            object.__setattr__(self, "database_url", f"sqlite+aiosqlite:///{path}")
        try:
            url = make_url(self.database_url)
        except Exception as exc:
            raise ValueError(f"database_url: not a database URL ({exc})") from exc
        if url.drivername not in {"sqlite+aiosqlite", "postgresql+psycopg"}:
            raise ValueError(
                f"database_url: driver {url.drivername!r} is not supported; "
                "use sqlite+aiosqlite:// or postgresql+psycopg://"
            )
        if url.password is not None:
            reject_placeholder("database_url password", url.password)
        return self

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    def secret_values(self) -> list[str]:
        """The secrets among the settings, for the log redactor to mask wherever they
        appear (the database password, also URL-encoded; the QMS webhook's key; the OIDC
        client secret)."""
        found: set[str] = set()
        password = make_url(self.database_url).password
        if password:
            found |= {str(password), quote(str(password), safe="")}
        if self.qms_secret is not None:
            found.add(self.qms_secret.get_secret_value())
        if self.oidc_client_secret is not None:
            found.add(self.oidc_client_secret.get_secret_value())
        return sorted(found)


def setting_keys() -> frozenset[str]:
    """The environment variable of every runtime setting (``HOLON_DATA_DIR`` ...)."""
    return frozenset(ENV_PREFIX + name.upper() for name in Settings.model_fields)


def unknown_keys(environ: Mapping[str, str]) -> list[str]:
    """The ``HOLON_*`` names in ``environ`` that are neither runtime settings nor another
    Holon program's, sorted."""
    known = setting_keys()
    return sorted(
        key
        for key in environ
        if key.upper().startswith(ENV_PREFIX)
        and key.upper() not in known
        and not key.upper().startswith(OTHER_PROGRAMS)
    )


@functools.cache
def get_settings() -> Settings:
    """The process-wide settings, read from the environment once."""
    return Settings()
