"""``/api/v1/batches``: create batches from approved master recipes, command them, watch them.

A command names the element by its path (``procedure`` for the whole batch) and is checked
three times: the caller's role must grant that command (e.g. an operator may hold but not
abort), the ISA-88 state machine must allow it in the element's current state, and the
equipment must be reachable. Any refusal leaves every state unchanged.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request, status
from pydantic import BaseModel, ConfigDict, Field

from mes_runtime.api.deps import CurrentUser, SessionDep, require
from mes_runtime.api.errors import api_error, conflict, forbidden, not_found, unprocessable
from mes_runtime.api.schemas import INT32_MAX, BatchId
from mes_runtime.auth.permissions import Permission, has_permission
from mes_runtime.db.models import User
from mes_runtime.domain.states import Command, ElementState
from mes_runtime.engine.batch import BatchEngine
from mes_runtime.engine.errors import (
    CommandRejected,
    EquipmentUnavailable,
    UnknownBatch,
    UnknownElement,
)
from mes_runtime.services import batch_views
from mes_runtime.services.batches import BatchRequestError, BatchService, NewBatch
from mes_runtime.services.commands import BatchCommands, OwnerUnavailable

__all__ = ["COMMAND_PERMISSIONS", "router"]

router = APIRouter(prefix="/api/v1/batches", tags=["batches"])

Reader = Annotated[User, require(Permission.BATCH_READ)]
Creator = Annotated[User, require(Permission.BATCH_CREATE)]

COMMAND_PERMISSIONS: dict[Command, Permission] = {
    Command.START: Permission.BATCH_START,
    Command.PAUSE: Permission.BATCH_PAUSE,
    Command.RESUME: Permission.BATCH_RESUME,
    Command.HOLD: Permission.BATCH_HOLD,
    Command.RESTART: Permission.BATCH_RESTART,
    Command.STOP: Permission.BATCH_STOP,
    Command.ABORT: Permission.BATCH_ABORT,
    Command.RESET: Permission.BATCH_RESET,
    Command.COMPLETE: Permission.BATCH_COMPLETE,
}


def _engine(request: Request) -> BatchEngine:
    engine: BatchEngine = request.app.state.batch_engine
    return engine


def _service(request: Request) -> BatchService:
    service: BatchService = request.app.state.batch_service
    return service


def _commands(request: Request) -> BatchCommands:
    commands: BatchCommands = request.app.state.batch_commands
    return commands


EngineDep = Annotated[BatchEngine, Depends(_engine)]
ServiceDep = Annotated[BatchService, Depends(_service)]
CommandsDep = Annotated[BatchCommands, Depends(_commands)]


class RecipeRef(BaseModel):
    name: str
    version: int


class BatchSummary(BaseModel):
    id: str
    recipe: RecipeRef
    state: str
    created_by: str
    created_at: datetime
    started_at: datetime | None
    ended_at: datetime | None


class ElementOut(BaseModel):
    path: str
    name: str
    kind: str
    depth: int
    state: str
    allowed_commands: list[str]
    equipment: str | None
    service: str | None
    procedure: str | None


class ValueOut(BaseModel):
    unit: str = Field(description="the recipe's unit (e.g. BR)")
    equipment: str
    name: str
    value: float
    unit_of_measure: str
    timestamp: datetime


class ExceptionBrief(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    severity: str
    subject: str
    message: str
    ts: datetime


class BatchDetail(BatchSummary):
    live: bool = Field(
        description="whether a runtime (any replica) holds the batch's lease and executes it now"
    )
    bindings: dict[str, str]
    elements: list[ElementOut]
    values: list[ValueOut]
    exceptions: list[ExceptionBrief] = Field(description="open exceptions, oldest first")


class BatchIn(BaseModel):
    # NaN and Infinity (which Python's JSON reader accepts) would pass every limit check
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    recipe: str = Field(min_length=1, max_length=128, description="master recipe name")
    version: int | None = Field(
        None, ge=1, le=INT32_MAX, description="default: latest approved version"
    )
    bindings: dict[str, str] = Field(
        default_factory=dict, description="unit -> equipment; unbound units bind automatically"
    )
    overrides: dict[str, float] = Field(
        default_factory=dict, description="formula parameter -> value, within its limits"
    )
    start: bool = Field(True, description="start the batch at once")


class CommandIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    command: Command
    path: str = Field("procedure", min_length=1, max_length=512, description="element path")
    reason: str | None = Field(None, max_length=4000)


class CommandOut(BaseModel):
    batch_id: str
    path: str
    command: Command
    state: ElementState


@router.get("", response_model=list[BatchSummary])
async def list_batches(_: Reader, session: SessionDep, engine: EngineDep) -> list[dict[str, Any]]:
    return await batch_views.batch_summaries(session, engine)


@router.post(
    "",
    response_model=BatchDetail,
    status_code=status.HTTP_201_CREATED,
    responses={
        404: {"description": "no such master recipe (version)"},
        409: {"description": "the equipment is allocated to another batch, or cannot start"},
        503: {
            "description": "this replica owns no batches now (an upgrade switched ownership "
            "to the other colour): nothing was written; retry (see Retry-After)"
        },
    },
)
async def create_batch(
    body: BatchIn, user: Creator, session: SessionDep, engine: EngineDep, service: ServiceDep
) -> dict[str, Any]:
    if body.start and not has_permission(user.roles, Permission.BATCH_START):
        raise forbidden(Permission.BATCH_START.value)
    request = NewBatch(
        recipe=body.recipe,
        version=body.version,
        bindings=body.bindings,
        overrides=body.overrides,
        start=body.start,
    )
    try:
        batch_id = await service.create(request, actor=user.username)
    except BatchRequestError as exc:
        if exc.conflict:
            raise conflict(("body", *exc.field.split(".")), str(exc)) from exc
        if exc.missing:
            raise not_found(("body", *exc.field.split(".")), str(exc)) from exc
        raise unprocessable(("body", *exc.field.split(".")), str(exc)) from exc
    except (CommandRejected, EquipmentUnavailable) as exc:
        raise conflict(("body", "start"), str(exc)) from exc
    except OwnerUnavailable as exc:
        raise _owner_unavailable(("body", "start"), exc) from exc
    return await _detail(session, engine, batch_id)


@router.get("/{batch_id}", response_model=BatchDetail)
async def get_batch(
    batch_id: BatchId, _: Reader, session: SessionDep, engine: EngineDep
) -> dict[str, Any]:
    return await _detail(session, engine, batch_id)


@router.post(
    "/{batch_id}/commands",
    response_model=CommandOut,
    responses={
        403: {"description": "your roles do not grant this command"},
        404: {"description": "no such batch, or no element at that path"},
        409: {"description": "the element's state does not allow it, or equipment is down"},
        503: {
            "description": "the batch's owner did not answer in time, or (a start) this "
            "replica owns no batches now; retry (see Retry-After)"
        },
    },
)
async def command_batch(
    batch_id: BatchId,
    body: CommandIn,
    user: CurrentUser,
    session: SessionDep,
    engine: EngineDep,
    service: ServiceDep,
    commands: CommandsDep,
) -> CommandOut:
    permission = COMMAND_PERMISSIONS[body.command]
    if not has_permission(user.roles, permission):
        raise forbidden(permission.value)
    starts = False
    if batch_id not in engine.batch_ids():  # the owner's own batch exists: no read for it
        row = await batch_views.batch_row(session, batch_id)
        if row is None:
            raise not_found(("path", "batch_id"), f"no batch {batch_id!r}")
        starts = (
            body.command is Command.START
            and body.path == "procedure"
            and row.state == ElementState.IDLE.value
        )
    await session.rollback()  # nothing held open while the command waits for its owner
    try:
        if starts:  # an idle batch has no owner yet: whoever starts it owns it
            await service.start(batch_id, actor=user.username, reason=body.reason)
            state = engine.tree(batch_id).state
        else:
            state = await commands.send(
                batch_id, body.path, body.command, actor=user.username, reason=body.reason
            )
    except OwnerUnavailable as exc:
        raise _owner_unavailable(("path", "batch_id"), exc) from exc
    except UnknownBatch as exc:
        raise not_found(("path", "batch_id"), f"no batch {batch_id!r}") from exc
    except UnknownElement as exc:  # the element the request is about: not there
        raise not_found(("body", "path"), str(exc)) from exc
    except CommandRejected as exc:
        raise conflict(("body", "command"), str(exc)) from exc
    except EquipmentUnavailable as exc:
        raise api_error(
            status.HTTP_409_CONFLICT, ("body", "path"), str(exc), "equipment_unavailable"
        ) from exc
    return CommandOut(batch_id=batch_id, path=body.path, command=body.command, state=state)


def _owner_unavailable(loc: tuple[str, ...], exc: OwnerUnavailable) -> Exception:
    return api_error(
        status.HTTP_503_SERVICE_UNAVAILABLE,
        loc,
        str(exc),
        "owner_unavailable",
        headers={"Retry-After": "1"},
    )


async def _detail(session: SessionDep, engine: BatchEngine, batch_id: str) -> dict[str, Any]:
    detail = await batch_views.batch_detail(session, engine, batch_id)
    if detail is None:
        raise not_found(("path", "batch_id"), f"no batch {batch_id!r}")
    return detail
