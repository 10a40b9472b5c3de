"""``/api/v1/upgrade``: what an upgrade needs to know from the runtime (DESIGN §5).

``GET /safe-point`` answers whether batches may be handed over now (an upgrade's switch
waits for it) and, if not, which batch and element block it. ``GET``/``PUT /owner`` read and
move the ownership grant: which colour's replicas own batches (the switch, and a rollback's
hand-back). ``GET /handover`` reads back what an upgrade did to running batches (its
evidence's disruption record). Every replica gives the same answers: they are read from
the database.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel, ConfigDict, Field

from mes_runtime.api.deps import EngineDep, JournalDep, SessionDep, require
from mes_runtime.api.errors import unprocessable
from mes_runtime.auth.permissions import Permission
from mes_runtime.db.doorbell import OWNER
from mes_runtime.db.models import User
from mes_runtime.services.handover_record import HandoverRecord, handover_record
from mes_runtime.services.owner_grant import Grant, read_grant, set_grant
from mes_runtime.services.safe_point import safe_point

router = APIRouter(prefix="/api/v1/upgrade", tags=["upgrade"])

Reader = Annotated[User, require(Permission.BATCH_READ)]
Upgrader = Annotated[User, require(Permission.UPGRADE_MANAGE)]


class BlockerOut(BaseModel):
    batch_id: str
    element: str
    state: str


class SafePointOut(BaseModel):
    safe: bool
    blocking: list[BlockerOut]


@router.get("/safe-point", response_model=SafePointOut)
async def get_safe_point(_: Reader, session: SessionDep) -> SafePointOut:
    """Whether a hand-over may happen now; if not, the active phases whose recipe marks
    them as not interruptible."""
    point = await safe_point(session)
    return SafePointOut(
        safe=point.safe,
        blocking=[
            BlockerOut(batch_id=b.batch_id, element=b.element, state=b.state)
            for b in point.blocking
        ],
    )


class OwnerIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    colour: Literal["blue", "green"] | None = Field(
        description="The colour whose replicas own batches from now; null: every replica."
    )
    upgrade_pending: bool = Field(
        default=False, description="An upgrade waits for a safe point (its switch is due)."
    )
    reason: str | None = Field(
        default=None, max_length=500, description="Why, for the journal (e.g. the upgrade)."
    )


class OwnerOut(BaseModel):
    colour: Literal["blue", "green"] | None = Field(
        description="The colour whose replicas own batches; null: every replica."
    )
    upgrade_pending: bool
    changed_by: str | None
    changed_at: datetime | None
    replica_colour: str | None = Field(description="The colour of the replica that answered.")
    replica_owns_batches: bool = Field(
        description="Whether the replica that answered may own batches under the grant."
    )


def _owner_out(grant: Grant, request: Request) -> OwnerOut:
    colour = request.app.state.settings.colour
    return OwnerOut(
        colour=grant.colour,  # written through OwnerIn only
        upgrade_pending=grant.upgrade_pending,
        changed_by=grant.changed_by,
        changed_at=grant.changed_at,
        replica_colour=colour,
        replica_owns_batches=grant.admits(colour),
    )


@router.get("/owner", response_model=OwnerOut)
async def get_owner(_: Reader, engine: EngineDep, request: Request) -> OwnerOut:
    """Which colour's replicas own batches now."""
    return _owner_out(await read_grant(engine), request)


@router.put("/owner", response_model=OwnerOut)
async def put_owner(
    body: OwnerIn, user: Upgrader, journal: JournalDep, request: Request
) -> OwnerOut:
    """Grant batch ownership to one colour (an upgrade's switch, or its rollback): replicas
    of the other colour hand their batches over within moments (the step in flight first)
    and claim none; this colour's replicas take them over. Journalled with the previous
    grant. Answers once the grant is stored; ``GET /api/v1/batches/{id}`` shows the owner."""
    grant = await set_grant(
        journal,
        colour=body.colour,
        upgrade_pending=body.upgrade_pending,
        actor=user.username,
        reason=body.reason,
    )
    bell = request.app.state.doorbell
    await bell.ring(OWNER)
    return _owner_out(grant, request)


class SwitchOut(BaseModel):
    seq: int
    at: str
    colour: str | None
    previous: str | None
    by: str
    reason: str | None


class TakeoverOut(BaseModel):
    seq: int
    at: str
    batch_id: str
    owner: str | None
    previous_owner: str | None
    gap_seconds: float | None


class ChainOut(BaseModel):
    ok: bool
    entries_checked: int
    first_bad_seq: int | None
    problem: str | None


class HandoverOut(BaseModel):
    since: str
    switches: list[SwitchOut] = Field(
        description="Each move of the ownership grant since then (journal order)."
    )
    takeovers: list[TakeoverOut] = Field(
        description="Each batch a runtime took over since then, with the gap since its "
        "previous owner was last heard of."
    )
    head_seq: int = Field(description="The journal's last entry now.")
    records_before_switch: int | None = Field(
        description="Journal entries before the first move from one colour to the other "
        "since then (null: none moved)."
    )
    chain: ChainOut = Field(description="The whole journal's hash chain, verified now.")


def _handover_out(record: HandoverRecord) -> HandoverOut:
    return HandoverOut(
        since=record.since,
        switches=[SwitchOut(**vars(s)) for s in record.switches],
        takeovers=[TakeoverOut(**vars(t)) for t in record.takeovers],
        head_seq=record.head_seq,
        records_before_switch=record.records_before_switch,
        chain=ChainOut(
            ok=record.chain.ok,
            entries_checked=record.chain.entries_checked,
            first_bad_seq=record.chain.first_bad_seq,
            problem=record.chain.problem,
        ),
    )


@router.get("/handover", response_model=HandoverOut)
async def get_handover(
    _: Upgrader,
    engine: EngineDep,
    since: Annotated[
        datetime, Query(description="From when (RFC 3339 with a time zone): the upgrade's start.")
    ],
) -> HandoverOut:
    """What an upgrade did to running batches since ``since``: the grant's moves, each
    batch's take-over and its gap, the records before the switch and now, and whether the
    journal's chain verifies. Read-only (the verification is not journalled)."""
    if since.tzinfo is None:
        raise unprocessable(("query", "since"), "needs a time zone (e.g. 2026-12-01T10:00:00Z)")
    return _handover_out(await handover_record(engine, since=since))
