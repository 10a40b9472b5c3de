"""The runtime's tables, as typed SQLAlchemy 2 ORM classes.

This module is the single source of truth for the schema: the alembic migrations in
``migrations/`` must produce exactly this (a test compares them with alembic's autogenerate
on SQLite and PostgreSQL). Constraint names come from ``NAMING_CONVENTION`` so that
migrations are deterministic and constraints can be dropped by name later (contract phase).

The journal table is written only by :mod:`mes_runtime.ebr.journal`; its ``ts`` is a fixed-
width ISO-8601 string (not a datetime) because the string itself is hashed: what is stored is
exactly what was signed, on every back-end.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Text,
    UniqueConstraint,
    select,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, column_property, mapped_column

from mes_runtime.db.types import BigIntPK, UTCDateTime

__all__ = [
    "NAMING_CONVENTION",
    "ROLLUP_SECONDS",
    "ApiToken",
    "AuthFailure",
    "Base",
    "Batch",
    "BatchElement",
    "BatchException",
    "BatchReview",
    "BatchRun",
    "ClosureRule",
    "Equipment",
    "JournalEntry",
    "MasterRecipe",
    "ProcessValue",
    "ProcessValueRollup",
    "QmsEvent",
    "User",
]

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map: ClassVar[dict[Any, Any]] = {
        datetime: UTCDateTime(),
        dict[str, Any]: JSON(),
        list[str]: JSON(),
    }


class User(Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    #: argon2id hash; ``"!"`` (never verifies) until the user sets their own password
    password_hash: Mapped[str] = mapped_column(String(255))
    roles: Mapped[list[str]]
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime]
    #: the printed name a signature manifests (Part 11 §11.50)
    full_name: Mapped[str | None] = mapped_column(String(128))
    password_changed_at: Mapped[datetime | None]
    #: consecutive failed authentications (login, password change, signature)
    failed_attempts: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    locked_until: Mapped[datetime | None]
    #: sha256 of the one-time set-up token the user sets their password with
    setup_token_sha256: Mapped[str | None] = mapped_column(String(64))
    setup_expires_at: Mapped[datetime | None]
    #: ``"<issuer> <subject>"`` of an identity-provider account (migration expand_0011);
    #: null for a local account. A provider sign-in matches this, never the name alone.
    provider_subject: Mapped[str | None] = mapped_column(String(512), unique=True, index=True)


class AuthFailure(Base):
    """Failed authentications of a user name that matches no user, counted and locked as
    an account's are (``failed_attempts``, ``locked_until``), so that the answers do not
    tell which names exist. Keyed by the name's sha256: the typed text is not stored."""

    __tablename__ = "auth_failures"

    name_sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    failed_attempts: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    locked_until: Mapped[datetime | None]
    last_failed_at: Mapped[datetime] = mapped_column(index=True)


class ApiToken(Base):
    """A bearer token; only its sha256 is stored, so a database dump grants nothing."""

    __tablename__ = "api_tokens"

    token_sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime]


class MasterRecipe(Base):
    __tablename__ = "master_recipes"
    __table_args__ = (
        UniqueConstraint("name", "version"),
        CheckConstraint("status IN ('draft', 'approved', 'rejected')", name="status"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(128))
    version: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(16), default="draft")
    body: Mapped[dict[str, Any]]
    digest: Mapped[str] = mapped_column(String(80))
    #: the author's account (migration expand_0010; before it, ``created_by`` held the
    #: user name, dropped by contract_0002)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    #: the author's user name, read from the account
    created_by: Mapped[str | None] = column_property(
        select(User.username)
        .where(User.id == created_by_id)
        .correlate_except(User)
        .scalar_subquery()
    )
    created_at: Mapped[datetime]
    approved_by: Mapped[str | None] = mapped_column(String(64))
    approved_at: Mapped[datetime | None]


class Equipment(Base):
    __tablename__ = "equipment"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(128), unique=True)
    endpoint: Mapped[str] = mapped_column(String(512))
    manifest: Mapped[bytes] = mapped_column(LargeBinary)
    manifest_digest: Mapped[str] = mapped_column(String(80))
    imported_by: Mapped[str] = mapped_column(String(64))
    imported_at: Mapped[datetime]


class Batch(Base):
    __tablename__ = "batches"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    recipe_name: Mapped[str] = mapped_column(String(128))
    recipe_version: Mapped[int] = mapped_column(Integer)
    control_recipe: Mapped[dict[str, Any]]
    bindings: Mapped[dict[str, Any]]
    state: Mapped[str] = mapped_column(String(32), index=True)
    created_by: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime]
    started_at: Mapped[datetime | None]
    ended_at: Mapped[datetime | None]


class BatchElement(Base):
    """Durable state of one procedural element: what a restarted runtime resumes from."""

    __tablename__ = "batch_elements"

    batch_id: Mapped[str] = mapped_column(
        ForeignKey("batches.id", ondelete="CASCADE"), primary_key=True
    )
    path: Mapped[str] = mapped_column(String(512), primary_key=True)
    state: Mapped[str] = mapped_column(String(32))
    updated_at: Mapped[datetime]
    # What a resuming runtime needs besides the state (all nullable/defaulted: expand-safe).
    procedure_started: Mapped[bool] = mapped_column(Boolean, default=False, server_default="0")
    lost_connection: Mapped[bool] = mapped_column(Boolean, default=False, server_default="0")
    executing_since: Mapped[datetime | None]
    # The last command sent to the phase's service and its outcome: ``pending`` is written
    # (with the fence) before the command goes out, so a restart knows it may have arrived.
    last_command: Mapped[str | None] = mapped_column(String(32))
    command_outcome: Mapped[str | None] = mapped_column(String(16))


class BatchRun(Base):
    """Who executes a batch now: one owner at a time, fenced by ``epoch``.

    ``epoch`` grows at every claim; every write of the batch's execution state and journal
    checks it in the same transaction, so a replaced owner's late write is refused by the
    database. ``version`` counts the execution-state writes (compare-and-set: a retried
    write whose first attempt did commit is recognised, never applied twice). ``graph``
    holds the SFC position (``GraphRun.to_dict``) of every started composite element.
    """

    __tablename__ = "batch_runs"

    batch_id: Mapped[str] = mapped_column(
        ForeignKey("batches.id", ondelete="CASCADE"), primary_key=True
    )
    owner: Mapped[str | None] = mapped_column(String(255))
    epoch: Mapped[int] = mapped_column(BigInteger)
    version: Mapped[int] = mapped_column(BigInteger)
    lease_until: Mapped[datetime | None]
    graph: Mapped[dict[str, Any]]
    updated_at: Mapped[datetime]


class OwnershipGrant(Base):
    """Which colour's replicas own batches (at most one row, ``id`` 1); no row: any replica.

    Written by an upgrade's switch (``PUT /api/v1/upgrade/owner``): replicas of another
    colour hand their batches over and claim none; ``upgrade_pending`` says an upgrade waits
    for a safe point.
    """

    __tablename__ = "ownership_grant"
    __table_args__ = (CheckConstraint("id = 1", name="one_row"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    colour: Mapped[str | None] = mapped_column(String(16))
    upgrade_pending: Mapped[bool] = mapped_column(Boolean, default=False, server_default="0")
    changed_by: Mapped[str] = mapped_column(String(128))
    changed_at: Mapped[datetime]


class BatchCommand(Base):
    """A batch command queued by a replica that does not own the batch (the command inbox).

    The owner takes it (``pending`` -> ``taken``, compare-and-set), applies it as if it had
    been given there, and writes the answer (``done`` with the element's new state, or
    ``refused`` with the error's kind and message); the replica that queued it waits for
    that answer and gives the client the same response the owner would. A command nobody
    took in time is ``expired`` by the replica that queued it (compare-and-set again, so it
    is either executed or expired, never both).
    """

    __tablename__ = "batch_commands"
    __table_args__ = (
        CheckConstraint(
            "status IN ('pending', 'taken', 'done', 'refused', 'expired')", name="status"
        ),
        Index(None, "status", "batch_id"),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    batch_id: Mapped[str] = mapped_column(ForeignKey("batches.id", ondelete="CASCADE"))
    path: Mapped[str] = mapped_column(String(512))
    command: Mapped[str] = mapped_column(String(16))
    actor: Mapped[str] = mapped_column(String(64))
    reason: Mapped[str | None] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16))
    outcome: Mapped[dict[str, Any] | None]
    created_at: Mapped[datetime]
    taken_by: Mapped[str | None] = mapped_column(String(255))
    done_at: Mapped[datetime | None]


class ProcessValue(Base):
    """A process value stored against a batch. The second index serves one tag's trend over
    a time range (``services.history``) without reading the batch's other tags."""

    __tablename__ = "process_values"
    __table_args__ = (
        Index(None, "batch_id", "ts"),
        Index(None, "batch_id", "equipment", "name", "ts"),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    batch_id: Mapped[str] = mapped_column(ForeignKey("batches.id", ondelete="CASCADE"))
    equipment: Mapped[str] = mapped_column(String(128))
    name: Mapped[str] = mapped_column(String(128))
    value: Mapped[float] = mapped_column(Float)
    unit: Mapped[str] = mapped_column(String(32))
    ts: Mapped[datetime]


class ProcessValueRollup(Base):
    """Process values of one tag of a batch summarised per :data:`ROLLUP_SECONDS` bucket
    (min, max, sum, count), written in the same transaction as the values themselves.

    A long batch's trend reads these instead of every value (a 69-hour batch at one value a
    second per tag: 25,000 rows per tag instead of 250,000); min and max keep every spike.
    ``bucket`` is the bucket's start in whole seconds since 1970 (UTC).
    """

    __tablename__ = "process_value_rollups"

    batch_id: Mapped[str] = mapped_column(
        ForeignKey("batches.id", ondelete="CASCADE"), primary_key=True
    )
    equipment: Mapped[str] = mapped_column(String(128), primary_key=True)
    name: Mapped[str] = mapped_column(String(128), primary_key=True)
    bucket: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    unit: Mapped[str] = mapped_column(String(32))
    vmin: Mapped[float] = mapped_column(Float)
    vmax: Mapped[float] = mapped_column(Float)
    vsum: Mapped[float] = mapped_column(Float)
    n: Mapped[int] = mapped_column(BigInteger)


#: The width of a :class:`ProcessValueRollup` bucket, seconds.
ROLLUP_SECONDS = 10


class BatchException(Base):
    """An exception for review by exception (RbE).

    Open until closed, either automatically by an approved closure rule (``auto_closed``:
    which rule, which version, the evidence that satisfied it) or by a person with an
    electronic signature (``closed``: who, the signature's meaning and time, a comment in
    ``closure_reason``). ``category`` and ``trigger`` (the data that raised it) are empty
    on rows raised before they existed; see :mod:`mes_runtime.domain.exceptions.model`.
    """

    __tablename__ = "exceptions"
    __table_args__ = (
        CheckConstraint("severity IN ('critical', 'major', 'minor')", name="severity"),
        CheckConstraint("status IN ('open', 'auto_closed', 'closed')", name="status"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    batch_id: Mapped[str] = mapped_column(ForeignKey("batches.id", ondelete="CASCADE"), index=True)
    severity: Mapped[str] = mapped_column(String(16))
    subject: Mapped[str] = mapped_column(String(255))
    message: Mapped[str] = mapped_column(Text)
    ts: Mapped[datetime]
    status: Mapped[str] = mapped_column(String(16), default="open", index=True)
    closed_by: Mapped[str | None] = mapped_column(String(64))
    closed_at: Mapped[datetime | None]
    closure_reason: Mapped[str | None] = mapped_column(Text)
    category: Mapped[str | None] = mapped_column(String(32))
    trigger: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    rule_id: Mapped[str | None] = mapped_column(String(128))
    rule_version: Mapped[int | None] = mapped_column(Integer)
    closure_evidence: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    signature_meaning: Mapped[str | None] = mapped_column(String(64))


class ClosureRule(Base):
    """One version of an auto-closure rule: draft -> approved (signed) -> effective -> retired."""

    __tablename__ = "closure_rules"
    __table_args__ = (
        UniqueConstraint("rule_id", "version"),
        CheckConstraint("status IN ('draft', 'approved', 'effective', 'retired')", name="status"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    rule_id: Mapped[str] = mapped_column(String(128))
    version: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(16))
    body: Mapped[dict[str, Any]]
    digest: Mapped[str] = mapped_column(String(64))
    created_by: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime]
    approved_by: Mapped[str | None] = mapped_column(String(64))
    approved_at: Mapped[datetime | None]
    signature_meaning: Mapped[str | None] = mapped_column(String(64))
    effective_at: Mapped[datetime | None]
    retired_at: Mapped[datetime | None]


class BatchReview(Base):
    """A batch's review: its auto-closure evaluation (once), then QA's signed decision."""

    __tablename__ = "batch_reviews"
    __table_args__ = (CheckConstraint("decision IN ('released', 'rejected')", name="decision"),)

    batch_id: Mapped[str] = mapped_column(
        ForeignKey("batches.id", ondelete="CASCADE"), primary_key=True
    )
    evaluated_at: Mapped[datetime]
    rules: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    decision: Mapped[str | None] = mapped_column(String(16))
    signed_by: Mapped[str | None] = mapped_column(String(64))
    signature_meaning: Mapped[str | None] = mapped_column(String(64))
    signed_at: Mapped[datetime | None]
    comment: Mapped[str | None] = mapped_column(Text)


class QmsEvent(Base):
    """An exception event for the plant's QMS (the transactional outbox).

    Written in the transaction that raises or closes the exception it reports, as the exact
    CloudEvents JSON to send (``body``: a redelivery is byte-identical, with the same
    ``event_id``), then delivered by whichever replica claims it (``lease_token`` and
    ``lease_until``: a claim lapses if its replica dies mid-delivery). ``pending`` until the
    QMS answers 2xx, retried with back-off (``attempts``, ``last_error``,
    ``next_attempt_at``); then ``delivered``.
    """

    __tablename__ = "qms_outbox"
    __table_args__ = (
        CheckConstraint("status IN ('pending', 'delivered')", name="status"),
        UniqueConstraint("event_id"),
        Index(None, "status", "next_attempt_at"),
        Index(None, "exception_id"),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    event_id: Mapped[str] = mapped_column(String(64))
    exception_id: Mapped[int] = mapped_column(Integer)
    batch_id: Mapped[str] = mapped_column(String(64))
    type: Mapped[str] = mapped_column(String(128))
    body: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16))
    attempts: Mapped[int] = mapped_column(Integer)
    last_error: Mapped[str | None] = mapped_column(Text)
    next_attempt_at: Mapped[datetime]
    lease_token: Mapped[str | None] = mapped_column(String(64))
    leased_by: Mapped[str | None] = mapped_column(String(255))
    lease_until: Mapped[datetime | None]
    created_at: Mapped[datetime]
    delivered_at: Mapped[datetime | None]


class JournalEntry(Base):
    """One entry of the append-only, hash-chained electronic batch record journal."""

    __tablename__ = "journal"
    __table_args__ = (Index(None, "batch_id", "seq"),)

    seq: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    ts: Mapped[str] = mapped_column(String(32))
    actor: Mapped[str] = mapped_column(String(64))
    action: Mapped[str] = mapped_column(String(64))
    subject: Mapped[str] = mapped_column(String(255))
    batch_id: Mapped[str | None] = mapped_column(String(64))
    old_value: Mapped[str | None] = mapped_column(Text)
    new_value: Mapped[str | None] = mapped_column(Text)
    reason: Mapped[str | None] = mapped_column(Text)
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))
