"""Batch commands from any replica: applied where the batch runs, or queued for its owner.

The replica that executes a batch applies a command directly. Any other replica first checks
it against the batch's stored state (so a forbidden command gets the same 409, with the same
words, from every replica) and queues it in the command inbox, on one connection, then waits
for the owner's answer, which the answer's doorbell ring carries (read back only when the
ring was lost or too long): the element's new state, or the owner's refusal, returned to
the client exactly as the owner would have. If no replica takes the command in time (the
batch's owner died and its lease has not expired yet, take-over included), the command is
withdrawn and the client is told to retry (:class:`OwnerUnavailable`): it never runs late,
behind the client's back.
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from mes_runtime.db.doorbell import COMMAND_DONE, COMMANDS, Doorbell
from mes_runtime.db.models import Batch, BatchElement
from mes_runtime.domain.control_recipe import ControlRecipe
from mes_runtime.domain.states import Command, ElementState
from mes_runtime.ebr.inbox import CommandInbox
from mes_runtime.engine.batch import BatchEngine
from mes_runtime.engine.errors import (
    CommandRejected,
    EngineError,
    EquipmentUnavailable,
    UnknownBatch,
    UnknownElement,
)
from mes_runtime.engine.plan import build_tree
from mes_runtime.engine.ports import Fenced
from mes_runtime.engine.tree import BatchTree

__all__ = ["BatchCommands", "OwnerUnavailable", "StoredBatch", "stored_batch"]

_POLL = 0.5  # a lost doorbell ring costs at most this much
_TAKEN_WAITS = 3  # how many waits a taken, unanswered command is waited for
_TREES_KEPT = 64  # recipe trees kept for commands through this replica (batches at once)


class OwnerUnavailable(EngineError):
    """No replica executes the batch now (a take-over is due); retry shortly."""


@dataclass(frozen=True, slots=True)
class StoredBatch:
    """A batch as the database holds it: its row and its element tree with stored states."""

    row: Batch
    tree: BatchTree


async def stored_batch(session: AsyncSession, batch_id: str) -> StoredBatch | None:
    """The batch's row and tree (element states as last committed), or None."""
    row = await session.get(Batch, batch_id)
    if row is None:
        return None
    tree = build_tree(ControlRecipe.from_dict(row.control_recipe))
    stored = {
        e.path: e.state
        for e in (
            await session.execute(select(BatchElement).where(BatchElement.batch_id == batch_id))
        ).scalars()
    }
    for node in tree.root.walk():
        node.state = ElementState(stored.get(node.path, ElementState.IDLE.value))
    return StoredBatch(row=row, tree=tree)


class BatchCommands:
    """Applies a batch command on whichever replica receives it."""

    def __init__(
        self,
        *,
        engine: BatchEngine,
        inbox: CommandInbox,
        bell: Doorbell,
        sessions: async_sessionmaker[AsyncSession],
        wait_seconds: float,
    ) -> None:
        self._engine = engine
        self._inbox = inbox
        self._bell = bell
        self._sessions = sessions
        self._wait = wait_seconds
        self._trees: OrderedDict[str, BatchTree] = OrderedDict()  # recent batches' trees

    async def send(
        self, batch_id: str, path: str, command: Command, *, actor: str, reason: str | None
    ) -> ElementState:
        """The element's new state, or the refusal (as the batch's owner gives it)."""
        if batch_id in self._engine.batch_ids():
            try:
                return await self._engine.command(
                    batch_id, path, command, actor=actor, reason=reason
                )
            except Fenced as exc:
                if exc.in_flight:  # the new owner carries it out: its outcome, not a repeat
                    return await self._carried_out(batch_id, path)
                # taken over before the command went anywhere: to the new owner
            except UnknownBatch:
                pass  # taken over meanwhile: through the inbox, to the new owner
        tree = await self._recipe_tree(batch_id)
        node = tree.by_path.get(path)
        if node is None:
            raise UnknownElement(batch_id, path)

        def expect(stored: Mapping[str, str]) -> None:  # no await: the shared tree stays ours
            for each in tree.root.walk():
                each.state = ElementState(stored.get(each.path, ElementState.IDLE.value))
            self._engine.require_allowed(tree, node, command)

        answered = self._bell.mark(COMMAND_DONE)  # before the owner can answer
        command_id = await self._inbox.submit(
            batch_id=batch_id,
            path=path,
            command=command.value,
            actor=actor,
            reason=reason,
            expect=expect,
        )
        self._bell.committed(COMMANDS)
        return await self._answer(command_id, batch_id, path, answered)

    async def _recipe_tree(self, batch_id: str) -> BatchTree:
        """The batch's element tree, built from its control recipe (fixed when the batch
        was created, so kept for the next command; element states are set per check)."""
        tree = self._trees.get(batch_id)
        if tree is not None:
            self._trees.move_to_end(batch_id)
            return tree
        async with self._sessions() as session:
            control = (
                await session.execute(select(Batch.control_recipe).where(Batch.id == batch_id))
            ).scalar_one_or_none()
        if control is None:
            raise UnknownBatch(batch_id)
        tree = self._trees[batch_id] = build_tree(ControlRecipe.from_dict(control))
        while len(self._trees) > _TREES_KEPT:
            self._trees.popitem(last=False)
        return tree

    async def _carried_out(self, batch_id: str, path: str) -> ElementState:
        """The element's state once the runtime that took the batch over has settled the
        equipment command this replica had in flight (carried out, or failed)."""
        loop = asyncio.get_running_loop()
        give_up = loop.time() + _TAKEN_WAITS * self._wait
        query = select(BatchElement.state, BatchElement.command_outcome).where(
            BatchElement.batch_id == batch_id, BatchElement.path == path
        )
        while loop.time() < give_up:
            try:
                async with self._sessions() as session:
                    row = (await session.execute(query)).one()
            except (DBAPIError, OSError):  # the database is still away: keep waiting
                row = None
            if row is not None and row.command_outcome == "failed":
                raise EquipmentUnavailable(
                    f"the command on {path} could not be carried out after batch {batch_id} "
                    "moved to another runtime"
                )
            if row is not None and row.command_outcome != "pending":
                return ElementState(row.state)
            await asyncio.sleep(_POLL)
        raise OwnerUnavailable(
            f"batch {batch_id} moved to another runtime with the command on its way to the "
            "equipment; look at the batch before giving it again"
        )

    async def _answer(
        self, command_id: int, batch_id: str, path: str, submitted: int
    ) -> ElementState:
        """Wait for the owner's answer. ``submitted`` is the answer bell's mark taken before
        the command was queued: the first read waits for a ring after it (nothing can be
        answered before the owner has it), later reads come after every ring or _POLL."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._wait
        # a taken command is waited for longer (its owner applies it, or dies and the one
        # taking the batch over answers it), but not for ever
        give_up = loop.time() + _TAKEN_WAITS * self._wait
        await self._bell.wait(COMMAND_DONE, submitted, _POLL)
        while True:
            mark = self._bell.mark(COMMAND_DONE)
            said = self._bell.said(COMMAND_DONE, str(command_id))
            if said is not None:  # the answer's ring carried it: no read back
                status, outcome = self._inbox.heard(said)
            else:
                status, outcome = await self._inbox.outcome(command_id)
            if status in {"done", "refused"} and outcome is not None:
                return _result(outcome, batch_id, path)
            if loop.time() >= deadline:
                if status == "pending" and await self._inbox.expire(command_id):
                    raise OwnerUnavailable(
                        f"no runtime executes batch {batch_id} right now (a take-over is "
                        "under way); the command was not applied; give it again"
                    )
                if loop.time() >= give_up:
                    raise OwnerUnavailable(
                        f"the runtime executing batch {batch_id} took the command but has "
                        "not answered; look at the batch before giving it again"
                    )
                deadline = loop.time() + self._wait  # taken: the owner is applying it
            await self._bell.wait(COMMAND_DONE, mark, min(_POLL, deadline - loop.time()))


def _result(outcome: dict[str, str], batch_id: str, path: str) -> ElementState:
    if "state" in outcome:
        return ElementState(outcome["state"])
    kind, message = outcome.get("error", "failed"), outcome.get("message", "")
    if kind == "unknown_element":
        raise UnknownElement(batch_id, path)
    if kind == "rejected":
        raise CommandRejected(message)
    if kind == "equipment_unavailable":
        raise EquipmentUnavailable(message)
    raise EngineError(message)
