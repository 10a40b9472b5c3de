"""MESModule: one deployable MES capability at a version (DESIGN §4).

The spec says what the platform team wants (module, version, features, database,
equipment, upgrade strategy, qualification policy); the status carries the persisted
upgrade state machine of DESIGN §5 so an operator restart resumes where it stopped.
Rules that span fields are CEL rules here so the API server rejects bad specs at
admission, before the operator ever sees them.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, cast

from pydantic import Field, model_validator
from pydantic.config import JsonDict

from mes_operator.models.base import ResourceModel
from mes_operator.models.conditions import Condition, conditions_list_extra
from mes_operator.models.refs import DNS_LABEL, SecretKeyRef
from mes_operator.models.support import cel_rules, refusals

SEMVER = (
    r"^(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)"
    r"(-[0-9A-Za-z-]+(\.[0-9A-Za-z-]+)*)?$"
)
QUANTITY = r"^[0-9]+(\.[0-9]+)?(m|k|M|G|Ki|Mi|Gi|Ti)?$"
MAX_REPLICAS = 10


class ModuleKind(StrEnum):
    """The MES capabilities Holon knows how to deploy."""

    BATCH_EXECUTION = "batch-execution"
    EBR = "ebr"
    EQUIPMENT_LOGBOOK = "equipment-logbook"
    REVIEW_BY_EXCEPTION = "review-by-exception"


class Features(ResourceModel):
    """Optional runtime capabilities; all off by default for a minimal footprint. Which
    ones a module may switch on depends on its kind (``models.support.KIND_FEATURES``)."""

    ui: bool = Field(default=False, description="Serve the shop-floor web UI at /ui/.")
    equipment_simulator: bool = Field(
        default=False,
        description="Run the OPC UA/MTP equipment simulator: not supported yet (refused).",
    )
    review_by_exception: bool = Field(
        default=False,
        description="Review by exception: serve QA's list and closure of batch exceptions.",
    )
    electronic_signatures: bool = Field(
        default=False,
        description="Signing: recipe approval by a 21 CFR Part 11 electronic signature; "
        "off, the module cannot approve (it never approves unsigned).",
    )
    metrics: bool = Field(default=False, description="Expose Prometheus metrics.")


#: The ``spec.features`` flags by their camelCase names.
FEATURE_NAMES = frozenset(field.alias or name for name, field in Features.model_fields.items())


class DatabaseEngine(StrEnum):
    """Where the runtime keeps its data."""

    SQLITE = "sqlite"
    POSTGRESQL = "postgresql"


class Database(ResourceModel):
    """The runtime's database: embedded SQLite by default, PostgreSQL for production."""

    model_config = ResourceModel.model_config | {
        "json_schema_extra": {
            "x-kubernetes-validations": [
                {
                    "rule": "self.engine != 'postgresql' || has(self.credentialsSecretRef)",
                    "message": "spec.database.credentialsSecretRef is required when "
                    "engine is postgresql",
                    "fieldPath": ".credentialsSecretRef",
                    "reason": "FieldValueRequired",
                },
                {
                    "rule": "self.engine != 'sqlite' || !has(self.credentialsSecretRef)",
                    "message": "spec.database.credentialsSecretRef must not be set when "
                    "engine is sqlite (the database is embedded)",
                    "fieldPath": ".credentialsSecretRef",
                    "reason": "FieldValueForbidden",
                },
            ]
        }
    }

    engine: DatabaseEngine = Field(
        default=DatabaseEngine.SQLITE,
        description="Database engine: sqlite (embedded, one replica) or postgresql.",
    )
    credentials_secret_ref: SecretKeyRef | None = Field(
        default=None,
        description="Secret key holding the PostgreSQL connection URL (postgresql only).",
    )


class EquipmentBinding(ResourceModel):
    """An Equipment resource this module drives."""

    name: str = Field(
        description="Name of an Equipment resource in the same namespace.",
        min_length=1,
        max_length=63,
        pattern=DNS_LABEL,
    )


class UpgradeStrategyType(StrEnum):
    """How a version change is rolled out."""

    BLUE_GREEN = "BlueGreen"
    RECREATE = "Recreate"


GREEN_READY_TIMEOUT_SECONDS = 600
CHECKS_TIMEOUT_SECONDS = 900
SAFE_POINT_TIMEOUT_SECONDS = 3600
POD_SAFE_POINT_WAIT_SECONDS = 300
"""How long, by default, a stopping runtime Pod waits for a safe point of its batches."""
POD_SAFE_POINT_WAIT_MAX_SECONDS = 3600
"""The longest a stopping runtime Pod may be told to wait (the wait is also part of the
Pod's termination grace period, ``builders.shutdown``, which holds drains and rollouts)."""
_TIMEOUT_DEFAULTS = {
    "greenReadyTimeoutSeconds": GREEN_READY_TIMEOUT_SECONDS,
    "checksTimeoutSeconds": CHECKS_TIMEOUT_SECONDS,
    "safePointTimeoutSeconds": SAFE_POINT_TIMEOUT_SECONDS,
}
"""The upgrade machine's own waits (``upgradeStrategy``, camelCase) and their defaults: a
value other than the default is refused unless ``orchestrated`` (nothing else waits)."""


def _timeout_message(field: str, default: int) -> str:
    return (
        f"spec.upgradeStrategy.{field} is used only by an orchestrated upgrade: set "
        f"spec.upgradeStrategy.orchestrated to true, or leave it at its default {default}"
    )


class UpgradeStrategy(ResourceModel):
    """How the operator moves the module from one version to the next (DESIGN §5)."""

    type: UpgradeStrategyType = Field(
        default=UpgradeStrategyType.BLUE_GREEN,
        description="BlueGreen, the only type served (Recreate is refused as not supported "
        "yet): zero downtime by the operator's blue-green machine when orchestrated is true; "
        "otherwise a version change rolls the Deployment (RollingUpdate, batches handed over "
        "Pod by Pod; on SQLite, one writer, the old Pod stops before the new one starts).",
    )
    observe_seconds: int = Field(
        default=300,
        ge=0,
        le=86400,
        description="Rollback window after the switch, during which blue is kept warm "
        "(orchestrated upgrades only; other values are refused otherwise).",
    )
    auto_rollback: bool = Field(
        default=True,
        description="Roll back automatically on any failure before the contract migration "
        "(orchestrated upgrades only; false is refused otherwise).",
    )
    green_ready_timeout_seconds: int = Field(
        default=GREEN_READY_TIMEOUT_SECONDS,
        ge=1,
        le=86400,
        description="How long the new slot (green) may take to have every replica ready, "
        "and the runtime to grant the old slot the batches meanwhile; longer is a failure "
        "(rolled back). Orchestrated upgrades only.",
    )
    checks_timeout_seconds: int = Field(
        default=CHECKS_TIMEOUT_SECONDS,
        ge=1,
        le=86400,
        description="How long the new slot's checks (OperationalQualification) may take; "
        "longer is a failure (rolled back). Orchestrated upgrades only.",
    )
    safe_point_timeout_seconds: int = Field(
        default=SAFE_POINT_TIMEOUT_SECONDS,
        ge=1,
        le=604800,
        description="How long the switch waits for a safe point (no phase its recipe marks "
        "`interruptible: false` running); longer holds the upgrade, naming the blocking batch "
        "and phase, until `kubectl mes upgrade resume` or `kubectl mes rollback`. "
        "Orchestrated upgrades only. Changing it rolls no Pod.",
    )
    pod_safe_point_wait_seconds: int = Field(
        default=POD_SAFE_POINT_WAIT_SECONDS,
        ge=0,
        le=POD_SAFE_POINT_WAIT_MAX_SECONDS,
        description="How long a stopping runtime Pod (rolling update, Recreate, the blue "
        "slot's retirement, node drain, scale-down) waits for a safe point of the batches it "
        "owns before it hands them over anyway (journalled as an unsafe hand-over naming "
        "batch and phase); 0 hands over at once. Every strategy. The Pod's termination grace "
        "period covers the wait, so changing it rolls the Pods.",
    )
    orchestrated: bool = Field(
        default=False,
        description="Run the upgrade state machine (verified backup, expand Job, green slot, "
        "safe point, switch, observe, contract Job) on a version change; needs "
        "spec.backup.storeSecret and the machine account's Secret. Off (default): a version "
        "change rolls the Deployment.",
    )
    account_secret: str | None = Field(
        default=None,
        min_length=1,
        max_length=253,
        pattern=DNS_LABEL,
        description="Secret (keys username, password) of the runtime user with role upgrade "
        "the operator signs in as for the safe point and the batch-ownership grant; "
        "default <module>-upgrade-account.",
    )


class Backup(ResourceModel):
    """Where an orchestrated upgrade puts its verified backup (DESIGN §5)."""

    store_secret: str = Field(
        min_length=1,
        max_length=253,
        pattern=DNS_LABEL,
        description="Secret holding the S3-compatible object store's settings as "
        "HOLON_BACKUP_S3_ENDPOINT, _ACCESS_KEY, _SECRET_KEY, _BUCKET (and _REGION); the "
        "backup Job gets them as environment variables, never copied into the spec.",
    )


class EvidenceCategory(StrEnum):
    """The changes the operator records evidence for, by the event of their package."""

    INSTALL = "Install"
    UPGRADE = "Upgrade"
    ROLLBACK = "Rollback"
    DRIFT = "Drift"


class Qualification(ResourceModel):
    """Qualification policy: what evidence an install or upgrade must produce."""

    required: bool = Field(
        default=True,
        description="Whether an IQ/OQ evidence package must be produced and pass.",
    )
    auto_approve_categories: list[EvidenceCategory] = Field(
        default_factory=list,
        max_length=4,
        description="Changes whose evidence needs no person's approval: a package of a listed "
        "event is QUALIFIED when every IQ/OQ row passed and every difference from the "
        "approved baseline is explained by the change (a drift's changes never are); the "
        "rule and its version are recorded in the package instead of a signature. Empty: "
        "every package awaits a QualificationApproval.",
        json_schema_extra={"x-kubernetes-list-type": "set", "default": []},
    )


class Resources(ResourceModel):
    """Compute resources of each runtime Pod; small by default."""

    cpu: str = Field(default="100m", pattern=QUANTITY, description="CPU request per Pod.")
    memory: str = Field(default="128Mi", pattern=QUANTITY, description="Memory request per Pod.")
    memory_limit: str = Field(
        default="256Mi", pattern=QUANTITY, description="Memory limit per Pod."
    )


QUALIFIED_NAME = (
    r"^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?"
    r"[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$"
)
"""A Kubernetes label key or taint key: an optional DNS-subdomain prefix and ``/``, a name."""
LABEL_VALUE = r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$"
"""A Kubernetes label value (or taint value): at most 63 characters, may be empty."""
MAX_NODE_SELECTOR = 32
MAX_TOLERATIONS = 32


class TolerationOperator(StrEnum):
    """How a toleration matches a taint's value."""

    EXISTS = "Exists"
    EQUAL = "Equal"


class TaintEffect(StrEnum):
    """What a taint does to Pods that do not tolerate it."""

    NO_SCHEDULE = "NoSchedule"
    PREFER_NO_SCHEDULE = "PreferNoSchedule"
    NO_EXECUTE = "NoExecute"


class Toleration(ResourceModel):
    """A Kubernetes toleration (the Pod field of that name), e.g. of GMP-reserved nodes."""

    model_config = ResourceModel.model_config | {
        "json_schema_extra": {
            "x-kubernetes-validations": [
                {
                    "rule": "!(self.operator == 'Exists' && has(self.value))",
                    "message": "value must not be set when operator is Exists "
                    "(Exists matches every value of the key)",
                    "fieldPath": ".value",
                    "reason": "FieldValueForbidden",
                },
                {
                    "rule": "has(self.key) || self.operator == 'Exists'",
                    "message": "operator must be Exists when key is omitted "
                    "(a toleration without a key matches every taint)",
                    "fieldPath": ".operator",
                    "reason": "FieldValueInvalid",
                },
                {
                    "rule": "!has(self.tolerationSeconds)"
                    " || (has(self.effect) && self.effect == 'NoExecute')",
                    "message": "tolerationSeconds requires effect NoExecute "
                    "(it is how long a Pod stays on a node after such a taint appears)",
                    "fieldPath": ".tolerationSeconds",
                    "reason": "FieldValueInvalid",
                },
            ]
        }
    }

    key: str | None = Field(
        default=None,
        min_length=1,
        max_length=316,
        pattern=QUALIFIED_NAME,
        description="Taint key to tolerate; omitted (with operator Exists) tolerates every taint.",
    )
    operator: TolerationOperator = Field(
        default=TolerationOperator.EQUAL,
        description="Equal (the taint's value must equal value) or Exists (any value).",
    )
    value: str | None = Field(
        default=None,
        max_length=63,
        pattern=LABEL_VALUE,
        description="Taint value to match (operator Equal only).",
    )
    effect: TaintEffect | None = Field(
        default=None,
        description="Taint effect to tolerate: NoSchedule, PreferNoSchedule or NoExecute; "
        "omitted tolerates all effects.",
    )
    toleration_seconds: int | None = Field(
        default=None,
        ge=0,
        description="With effect NoExecute: how long the Pod stays bound after the taint "
        "appears; omitted means forever.",
    )


class Placement(ResourceModel):
    """Where the runtime Pods may be scheduled: passed into the Pod template unchanged."""

    node_selector: dict[str, Annotated[str, Field(max_length=63, pattern=LABEL_VALUE)]] = Field(
        default_factory=dict,
        max_length=MAX_NODE_SELECTOR,
        description="Node labels the runtime Pods require (the Pod's nodeSelector), "
        'e.g. {"holon.dev/gmp": "true"}.',
        json_schema_extra={"default": {}},
    )
    tolerations: list[Toleration] = Field(
        default_factory=list,
        max_length=MAX_TOLERATIONS,
        description="Taints the runtime Pods tolerate (the Pod's tolerations).",
        json_schema_extra={"x-kubernetes-list-type": "atomic", "default": []},
    )


def _spec_rules() -> list[dict[str, str]]:
    """The spec's cross-field CEL rules; then the values without behaviour yet, and the
    features a kind does not serve (:mod:`~mes_operator.models.support`)."""
    rules = [
        {
            "rule": "self.database.engine != 'sqlite' || self.replicas == 1",
            # a static message: CEL's cost estimate for string(int) is unbounded
            "message": "spec.replicas must be 1 when spec.database.engine is sqlite "
            "(an embedded database has a single writer)",
            "fieldPath": ".replicas",
            "reason": "FieldValueInvalid",
        },
        {
            "rule": "!self.upgradeStrategy.orchestrated || self.database.engine == 'postgresql'",
            "message": _SHARED_DB_MESSAGE,
            "fieldPath": ".upgradeStrategy.orchestrated",
            "reason": "FieldValueInvalid",
        },
        {
            "rule": _STORE_RULE,
            "message": _STORE_MESSAGE,
            "fieldPath": ".backup",
            "reason": "FieldValueRequired",
        },
    ]
    rules += [
        {
            "rule": "self.upgradeStrategy.orchestrated"
            f" || self.upgradeStrategy.{field} == {default}",
            "message": _timeout_message(field, default),
            "fieldPath": f".upgradeStrategy.{field}",
            "reason": "FieldValueForbidden",
        }
        for field, default in _TIMEOUT_DEFAULTS.items()
    ]
    return rules + cel_rules(FEATURE_NAMES)


_STORE_RULE = (
    "!self.upgradeStrategy.orchestrated || self.database.engine != 'postgresql'"
    " || (has(self.backup) && has(self.backup.storeSecret))"
)
_SHARED_DB_MESSAGE = (
    "spec.upgradeStrategy.orchestrated needs spec.database.engine postgresql (the old and "
    "the new version run side by side on one database)"
)
_STORE_MESSAGE = (
    "spec.backup.storeSecret is required when spec.upgradeStrategy.orchestrated is true "
    "(no verified backup, no migration)"
)


class MESModuleSpec(ResourceModel):
    """Desired state of one MES module."""

    model_config = ResourceModel.model_config | {
        "json_schema_extra": cast("JsonDict", {"x-kubernetes-validations": _spec_rules()})
    }

    module: ModuleKind = Field(description="Which MES capability this module is.")
    version: str = Field(
        description="Semantic version of the runtime to run; also the image tag.",
        pattern=SEMVER,
        max_length=64,
    )
    image: str = Field(
        default="ghcr.io/holon/mes-runtime",
        min_length=1,
        max_length=255,
        description="Image repository without tag or digest; the tag is spec.version.",
        json_schema_extra={
            "x-kubernetes-validations": [
                {
                    "rule": "!self.contains('@') && !self.matches(':[^/]*$')",
                    "messageExpression": "'spec.image must not carry a tag or digest "
                    "(the tag comes from spec.version), got ' + self",
                    "reason": "FieldValueInvalid",
                }
            ]
        },
    )
    replicas: int = Field(default=1, ge=1, le=MAX_REPLICAS, description="Number of runtime Pods.")
    paused: bool = Field(
        default=False, description="Stop reconciling (the running module is left untouched)."
    )
    features: Features = Field(
        default_factory=Features,
        description="Optional runtime capabilities, all disabled by default.",
        json_schema_extra={"default": {}},
    )
    database: Database = Field(
        default_factory=Database,
        description="The runtime's database.",
        # explicit: the API server checks a default against the CEL rules as it stands
        json_schema_extra={"default": {"engine": "sqlite"}},
    )
    equipment: list[EquipmentBinding] = Field(
        default_factory=list,
        max_length=32,
        description="Equipment resources this module drives: not supported yet (must be "
        "empty; the runtime drives the equipment registered with it).",
        json_schema_extra={
            "x-kubernetes-list-type": "map",
            "x-kubernetes-list-map-keys": ["name"],
            "default": [],
        },
    )
    upgrade_strategy: UpgradeStrategy = Field(
        default_factory=UpgradeStrategy,
        description="How version changes are rolled out: a rolled Deployment unless "
        "orchestrated is true (the other values are not supported yet).",
        json_schema_extra={"default": {}},
    )
    backup: Backup | None = Field(
        default=None,
        description="The object store of the verified backup an orchestrated upgrade takes "
        "before its expand migration.",
    )
    qualification: Qualification = Field(
        default_factory=Qualification,
        description="What evidence installs and upgrades must produce.",
        json_schema_extra={"default": {}},
    )
    resources: Resources = Field(
        default_factory=Resources,
        description="Compute resources of each runtime Pod.",
        json_schema_extra={"default": {}},
    )
    placement: Placement | None = Field(
        default=None,
        description="Which nodes the runtime Pods may run on (nodeSelector, tolerations); "
        "omitted: anywhere the scheduler likes.",
    )

    @model_validator(mode="after")
    def _supported(self) -> MESModuleSpec:
        """What the CEL rules of :mod:`~mes_operator.models.support` refuse at admission,
        refused here too (an object admitted by an older CRD)."""
        problems = refusals(self.model_dump(by_alias=True, mode="json"), FEATURE_NAMES)
        strategy = self.upgrade_strategy.model_dump(by_alias=True)
        problems += [
            _timeout_message(field, default)
            for field, default in _TIMEOUT_DEFAULTS.items()
            if not self.upgrade_strategy.orchestrated and strategy[field] != default
        ]
        if self.upgrade_strategy.orchestrated:
            if self.database.engine is not DatabaseEngine.POSTGRESQL:
                problems.append(_SHARED_DB_MESSAGE)
            elif self.backup is None:
                problems.append(_STORE_MESSAGE)
        if problems:
            raise ValueError("; ".join(problems))
        return self


class Phase(StrEnum):
    """Coarse lifecycle phase shown by `kubectl get mesmodules`."""

    PENDING = "Pending"
    PROGRESSING = "Progressing"
    READY = "Ready"
    DEGRADED = "Degraded"
    UPGRADING = "Upgrading"
    ROLLING_BACK = "RollingBack"
    PAUSED = "Paused"
    FAILED = "Failed"


class Colour(StrEnum):
    """The two slots of a blue-green deployment."""

    BLUE = "blue"
    GREEN = "green"


class UpgradePhase(StrEnum):
    """Steps of the zero-downtime upgrade state machine (DESIGN §5), in order."""

    PREFLIGHT = "Preflight"
    VERIFIED_BACKUP = "VerifiedBackup"
    EXPAND_MIGRATION = "ExpandMigration"
    DEPLOY_GREEN = "DeployGreen"
    OPERATIONAL_QUALIFICATION = "OperationalQualification"
    SAFE_POINT = "SafePoint"
    SWITCH = "Switch"
    OBSERVE = "Observe"
    RETIRE_BLUE = "RetireBlue"
    CONTRACT_MIGRATION = "ContractMigration"
    QUALIFIED = "Qualified"
    ROLLING_BACK = "RollingBack"
    ROLLED_BACK = "RolledBack"
    FAILED = "Failed"


class PhaseMark(ResourceModel):
    """When an upgrade entered one of its phases."""

    phase: UpgradePhase = Field(description="The phase entered.")
    at: str = Field(
        description="When it was entered (RFC 3339, UTC).",
        json_schema_extra={"format": "date-time"},
    )


TIMELINE_LENGTH = 32
"""Phase entries an upgrade keeps (a whole upgrade enters 11; a rollback a few more)."""


class UpgradeStatus(ResourceModel):
    """The persisted state of an upgrade in flight, resumable after an operator crash."""

    phase: UpgradePhase = Field(description="Current step of the upgrade state machine.")
    from_version: str = Field(description="Version being upgraded from (blue).")
    to_version: str = Field(description="Version being upgraded to (green).")
    started_at: str = Field(
        description="When the upgrade started (RFC 3339, UTC).",
        json_schema_extra={"format": "date-time"},
    )
    phase_started_at: str | None = Field(
        default=None,
        description="When the current step started (RFC 3339, UTC).",
        json_schema_extra={"format": "date-time"},
    )
    message: str | None = Field(default=None, description="What the current step is doing.")
    colour: Colour = Field(
        default=Colour.GREEN,
        description="The slot the new version is deployed to (the other slot runs the "
        "old version until the switch).",
    )
    cause: str | None = Field(
        default=None,
        description="Why the upgrade rolled back, failed or holds (a CamelCase reason).",
    )
    held: bool = Field(
        default=False,
        description="Held by the operator (a safe-point wait longer than its timeout) "
        "until `kubectl mes upgrade resume`.",
    )
    backup_location: str | None = Field(
        default=None, description="Where the verified backup taken before the expand lies."
    )
    backup_digest: str | None = Field(default=None, description="sha256 digest of that backup.")
    attempt: int = Field(
        default=1,
        ge=1,
        description="Upgrade attempts on this module so far, this one included (each new "
        "version or retry starts the next); names the Jobs, so none is ever reused.",
    )
    handled_request: str | None = Field(
        default=None,
        description="The last mes.holon.dev/upgrade-request annotation value acted on "
        "(retry, resume, rollback), so each request is acted on once.",
    )
    timeline: list[PhaseMark] = Field(
        default_factory=list,
        max_length=TIMELINE_LENGTH,
        description="Each phase this attempt entered and when, oldest first: the measured "
        "durations of its evidence package's disruption record.",
    )


class Verdict(StrEnum):
    """The computed verdict of an evidence package (DESIGN §7)."""

    QUALIFIED = "QUALIFIED"
    NOT_QUALIFIED = "NOT QUALIFIED"
    PROVISIONAL = "PROVISIONAL"


class EvidenceRef(ResourceModel):
    """Pointer to the last evidence package produced for this module."""

    qualification: str = Field(description="Name of the Qualification resource.")
    digest: str = Field(
        description="sha256 digest of the package manifest.",
        pattern=r"^sha256:[0-9a-f]{64}$",
    )
    verdict: Verdict = Field(description="The verdict now (after approvals, if any).")
    event: str | None = Field(default=None, description="What produced the evidence.")
    version: str | None = Field(default=None, description="The version it is about.")
    attempt: int | None = Field(
        default=None, ge=1, description="The orchestrated upgrade attempt it records, if any."
    )
    approved_by: str | None = Field(
        default=None, description="Who approved or rejected it (Part 11 signer)."
    )


class DriftChange(ResourceModel):
    """One child the operator found changed outside it, and restored."""

    kind: str = Field(description="The child's kind.")
    name: str = Field(description="The child's name.")
    action: str = Field(description="What restoring it took: recreated or corrected.")
    paths: list[str] = Field(
        default_factory=list, max_length=32, description="The fields found changed."
    )
    managers: list[str] = Field(
        default_factory=list,
        max_length=16,
        description="Who changed it, as far as the object says: the field managers other "
        "than the operator (a client such as kubectl-edit; the audit log names the user).",
    )
    at: str = Field(description="When it was restored (RFC 3339, UTC).")


class PendingEvidence(ResourceModel):
    """Evidence the module is due once Ready again (a corrected drift)."""

    event: str = Field(description="What the evidence will record, e.g. Drift.")
    since: str = Field(description="When it became due (RFC 3339, UTC).")
    changes: list[DriftChange] = Field(
        default_factory=list, max_length=64, description="What was found and restored."
    )


class MESModuleStatus(ResourceModel):
    """Observed state of one MES module, written only by the operator."""

    observed_generation: int | None = Field(
        default=None, description="metadata.generation last reconciled."
    )
    phase: Phase | None = Field(default=None, description="Coarse lifecycle phase.")
    conditions: list[Condition] | None = Field(
        default=None,
        description="Ready, Progressing, Degraded, Qualified, MigrationInProgress.",
        json_schema_extra=conditions_list_extra(),
    )
    current_version: str | None = Field(default=None, description="Version serving traffic now.")
    target_version: str | None = Field(
        default=None, description="Version the operator is moving to."
    )
    active_colour: Colour | None = Field(
        default=None, description="Which slot (blue or green) the Service selects."
    )
    replicas: int | None = Field(default=None, description="Desired runtime Pods.")
    ready_replicas: int | None = Field(default=None, description="Runtime Pods ready now.")
    upgrade: UpgradeStatus | None = Field(
        default=None, description="The upgrade in flight, if any."
    )
    last_evidence: EvidenceRef | None = Field(
        default=None, description="The last evidence package produced."
    )
    pending_evidence: PendingEvidence | None = Field(
        default=None, description="Evidence due once the module is Ready (a corrected drift)."
    )
