"""Batch ownership across replicas: leases kept alive, orphans taken over, queued commands
applied, leases handed over at shutdown.

Every runtime replica runs one :class:`BatchOwnership` beside its batch engine:

* *heartbeat* - every ``lease/5`` it renews the leases of the batches it executes; a batch
  whose lease another replica claimed (a newer epoch) is dropped from its engine, which is
  also what happens the first time a fenced write is refused;
* *take-over* - twice a second, and at once when a peer rings that it released
  leases, it claims running batches whose lease expired or was released and resumes them
  (:meth:`BatchEngine.resume`: journalled with who gave up, who took over and the gap; each
  phase reconciled with its service as it stands, without commanding what already ran);
* *inbox* - it applies the commands other replicas queued for its batches
  (:class:`~mes_runtime.ebr.inbox.CommandInbox`) and answers them;
* *hand-over* - on shutdown it first waits (while draining, bounded) for a safe point of the
  batches it owns, starting no phase its recipe marks as not interruptible meanwhile
  (:meth:`BatchOwnership.until_safe`); then it stops claiming and taking commands, lets the
  engine finish the step in flight, releases its leases and rings, so that a peer resumes
  the batches within about a second instead of waiting for the lease to expire;
* *grant* - it follows the ownership grant (:mod:`mes_runtime.services.owner_grant`): when
  an upgrade's switch grants batches to the other colour, it hands its batches over the same
  way while it keeps running (warm, for a rollback), and claims none until granted again.

A single-process runtime (SQLite) also claims every running batch at start, leased or not:
no other process can hold one.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Collection, Sequence
from typing import Any, Self

from mes_runtime.db.doorbell import COMMAND_DONE, COMMANDS, OWNER, RELEASED, Doorbell
from mes_runtime.domain.control_recipe import ControlRecipe
from mes_runtime.domain.states import Command, is_final
from mes_runtime.ebr.inbox import CommandInbox, QueuedCommand
from mes_runtime.ebr.journal import Journal
from mes_runtime.ebr.recorder import ClaimedBatch, SqlBatchRecorder
from mes_runtime.engine.batch import BatchEngine
from mes_runtime.engine.errors import (
    CommandRejected,
    EquipmentError,
    UnknownBatch,
    UnknownElement,
)
from mes_runtime.engine.plan import restore_tree
from mes_runtime.engine.ports import Fenced
from mes_runtime.engine.recording import SYSTEM
from mes_runtime.kernel.tasks import cancel_and_wait
from mes_runtime.mtp.equipment import MtpEquipment
from mes_runtime.mtp.errors import EquipmentUnavailable
from mes_runtime.services.owner_grant import Grant
from mes_runtime.services.safe_point import SafePoint, until_safe

__all__ = ["BatchOwnership", "error_kind"]

log = logging.getLogger(__name__)

# how long a resumed batch waits for each of its modules to connect before its phases
# there are held (a Restart continues them once the module is back)
RESUME_CONNECT_SECONDS = 15.0


def error_kind(exc: BaseException) -> str:
    """How a refused command is named in the inbox (the API maps each to its status)."""
    if isinstance(exc, UnknownElement):
        return "unknown_element"
    if isinstance(exc, CommandRejected):
        return "rejected"
    if isinstance(exc, EquipmentUnavailable | EquipmentError):
        return "equipment_unavailable"
    return "failed"


class BatchOwnership:
    """Leases, take-over, the command inbox and hand-over for one replica."""

    def __init__(
        self,
        *,
        recorder: SqlBatchRecorder,
        engine: BatchEngine,
        equipment: MtpEquipment,
        inbox: CommandInbox,
        bell: Doorbell,
        lease_seconds: float,
        single_process: bool,
        may_claim: Callable[[], bool] = lambda: True,
        know_equipment: Callable[[], Awaitable[None]] | None = None,
        connect_timeout: float = RESUME_CONNECT_SECONDS,
        colour: str | None = None,
        read_grant: Callable[[], Awaitable[Grant]] | None = None,
        handed_over: Callable[[Sequence[str]], None] | None = None,
        stopping: Callable[[], bool] = lambda: False,
    ) -> None:
        self._recorder = recorder
        self._engine = engine
        self._equipment = equipment
        self._inbox = inbox
        self._bell = bell
        self._renew_every = lease_seconds / 5
        # orphans are looked for twice a second: a dead owner's batch waits its lease plus
        # at most half a second (the query is one indexed select)
        self._scan_every = min(0.5, lease_seconds / 10)
        self._single_process = single_process
        self._may_claim = may_claim
        # loads every module registered in the database (another replica may have imported
        # one this replica has not picked up yet): run before a batch is resumed
        self._know_equipment = know_equipment
        self._connect_timeout = connect_timeout
        self._lease_seconds = lease_seconds
        self._tasks: list[asyncio.Task[None]] = []
        self._renewed_at: float | None = None  # loop time of the last successful heartbeat
        self._renew_error = "not started"
        self._colour = colour
        self._read_grant = read_grant
        self._grant = Grant()
        self._grant_lock = asyncio.Lock()  # one hand-over at a time
        # told the batches whose leases were released while they run on (metrics)
        self._handed_over = handed_over
        # this replica is shutting down (draining): its own hand-over waits for a safe point
        self._stopping = stopping

    async def __aenter__(self) -> Self:
        with contextlib.suppress(Exception):  # database not ready: the heartbeat reads it
            await self._follow_grant()
        if self._single_process and self.may_own() is None:
            try:
                for claimed in await self._recorder.claim_active():
                    await self._resume(claimed)
            except Exception as exc:  # database not ready (/readyz says so): nothing to resume
                log.warning("resuming running batches failed: %r", exc)
        with contextlib.suppress(Exception):  # ready at once when the database answers
            await self._heartbeat()
        self._tasks = [
            asyncio.create_task(self._every(self._renew_every, self._heartbeat), name="leases"),
            asyncio.create_task(self._on_bell(RELEASED, self._take_over), name="take-over"),
            asyncio.create_task(self._on_bell(COMMANDS, self._apply_queued), name="inbox"),
        ]
        if self._read_grant is not None:
            self._tasks.append(
                asyncio.create_task(
                    self._on_bell(OWNER, self._follow_grant, patience=self._renew_every),
                    name="ownership grant",
                )
            )
        return self

    async def __aexit__(self, *exc: object) -> None:
        """Stop claiming and taking commands (the engine then finishes its step)."""
        await cancel_and_wait(self._tasks)
        self._tasks = []

    def readiness(self) -> str:
        """ "ok" while this replica can own batches: its heartbeat renewed its leases (or
        found none to renew) within one lease time; otherwise why not."""
        if not self._tasks or any(task.done() for task in self._tasks):
            return "not owning batches (stopped)"
        if self._renewed_at is None:
            return f"cannot renew batch leases: {self._renew_error}"
        age = asyncio.get_running_loop().time() - self._renewed_at
        if age > self._lease_seconds:
            return f"batch leases not renewed for {age:.1f} s: {self._renew_error}"
        return "ok"

    def may_own(self) -> str | None:
        """None while this replica may own batches; otherwise why not (the grant, as last
        read, names the other colour)."""
        if self._grant.admits(self._colour):
            return None
        return (
            f"this replica ({self._colour or 'no colour'}) owns no batches: they are granted "
            f"to {self._grant.colour} (an upgrade's switch); use the module's active Service"
        )

    @property
    def hand_over_pending(self) -> bool:
        """Whether a hand-over waits for a safe point - an upgrade's (the grant as last
        read) or this replica's shutdown: the engine then starts no phase its recipe marks
        as not interruptible."""
        return self._grant.upgrade_pending or self._stopping()

    async def until_safe(
        self,
        read: Callable[[Collection[str]], Awaitable[SafePoint]],
        *,
        seconds: float,
        hurried: Callable[[], bool],
        journal: Journal,
    ) -> None:
        """At shutdown, before the hand-over: wait until no batch this replica owns runs
        a phase its recipe marks as not interruptible (``read``: the safe point of the given
        batches), at most ``seconds`` or until ``hurried()``. Handed over anyway after
        that: logged, and journalled per blocking phase (``batch.unsafe_hand_over``)."""
        owned = sorted(self._recorder.owned())
        if not owned:
            return
        log.info(
            "waiting (at most %g s) for a safe point of %d batch(es) before handing them over",
            seconds,
            len(owned),
        )
        verdict = await until_safe(
            lambda: read(self._recorder.owned()), seconds=seconds, hurried=hurried
        )
        if verdict is None:
            log.warning("handing over without a safe point: the database did not answer")
            return
        if verdict.safe:
            log.info("safe point reached: handing the batches over")
            return
        why = "a second signal" if hurried() else f"the safe-point wait ({seconds:g} s) ended"
        for blocker in verdict.blocking:
            log.warning(
                "handing batch %s over while its phase %s (not interruptible) is %s: %s",
                blocker.batch_id,
                blocker.element,
                blocker.state,
                why,
            )
            with contextlib.suppress(Exception):  # the log line above says it anyway
                await journal.append(
                    actor=SYSTEM,
                    action="batch.unsafe_hand_over",
                    subject=blocker.element,
                    batch_id=blocker.batch_id,
                    new_value={"owner": self._recorder.owner, "state": blocker.state},
                    reason=f"this runtime is stopping and {why} with the phase, not "
                    "interruptible, still active: handed over as it is",
                )

    async def hand_over(self) -> list[str]:
        """Release every lease (after the engine stopped) and ring the peers."""
        released = await self._recorder.release()
        await self._announce(released)
        return released

    # -- loops ---------------------------------------------------------------------------

    async def _every(self, interval: float, step: Callable[[], Awaitable[None]]) -> None:
        while True:
            await asyncio.sleep(interval)
            try:
                await step()
            except Exception as exc:  # a database hiccup: the next round tries again
                self._renew_error = f"{type(exc).__name__}: {exc}"[:200]
                log.warning("%s failed: %s", step.__name__.strip("_"), exc)

    async def _on_bell(
        self,
        channel: str,
        step: Callable[[], Awaitable[None]],
        *,
        patience: float | None = None,
    ) -> None:
        while True:
            mark = self._bell.mark(channel)
            try:
                await step()
            except Exception as exc:
                log.warning("%s failed: %s", step.__name__.strip("_"), exc)
            await self._bell.wait(channel, mark, patience or self._scan_every)

    async def _follow_grant(self) -> None:
        """Read the grant; hand every batch over when it names another colour."""
        if self._read_grant is None:
            return
        async with self._grant_lock:
            grant = await self._read_grant()
            if grant != self._grant:
                log.info(
                    "batch ownership granted to %s (this replica: %s)",
                    grant.colour or "every replica",
                    self._colour or "no colour",
                )
            self._grant = grant
            if self.may_own() is not None and self._recorder.owned():
                await self._give_up()

    async def _give_up(self) -> None:
        """Hand every batch over while this replica keeps running: the engine finishes the
        step in flight and stops executing each, then the leases are released at once."""
        batch_ids = sorted(self._recorder.owned())
        for batch_id in batch_ids:
            await self._engine.disown(batch_id, why="batch ownership was granted to another colour")
        await self._announce(await self._recorder.release(batch_ids))

    async def _announce(self, released: Sequence[str]) -> None:
        """A hand-over's end: count it, log it and ring the peers."""
        if not released:
            return
        if self._handed_over is not None:
            self._handed_over(released)
        log.info("handed over %d batch(es): %s", len(released), ", ".join(released))
        with contextlib.suppress(Exception):  # peers also scan on their own
            await self._bell.ring(RELEASED, ",".join(released))

    async def _heartbeat(self) -> None:
        for batch_id in await self._recorder.renew():
            await self._engine.disown(batch_id)
        self._renewed_at = asyncio.get_running_loop().time()
        # (a batch another runtime claimed is dropped by renew; one being started is owned
        # before the engine lists it, so only what the engine shows ended is let go)
        live = set(self._engine.batch_ids())
        ended = [
            batch_id
            for batch_id in self._recorder.owned()
            if batch_id in live and is_final(self._engine.tree(batch_id).state)
        ]
        if ended:  # a finished batch needs no owner: nothing to take over
            await self._recorder.release(ended)

    async def _take_over(self) -> None:
        if not self._may_claim() or self.may_own() is not None:
            return
        for claimed in await self._recorder.claim_orphans():
            try:
                await self._resume(claimed)
            except Exception:  # give it back: a peer (or the next round) takes it over
                log.exception("resuming batch %s failed; releasing it", claimed.batch_id)
                await self._recorder.release([claimed.batch_id])
                await self._engine.disown(claimed.batch_id)

    async def _resume(self, claimed: ClaimedBatch) -> None:
        if self._know_equipment is not None:
            await self._know_equipment()
        control = ControlRecipe.from_dict(claimed.control_recipe)
        tree = restore_tree(control, claimed.elements, claimed.graph)
        for name in sorted(set(tree.bindings.values())):
            try:
                async with asyncio.timeout(self._connect_timeout):
                    await self._equipment.wait_connected(name)
            except (TimeoutError, EquipmentUnavailable) as exc:  # the engine holds its phases
                log.warning("resuming %s: %s is not connected: %r", claimed.batch_id, name, exc)
        log.info(
            "resuming batch %s (epoch %d; previous owner %s, %.3f s ago)",
            claimed.batch_id,
            claimed.epoch,
            claimed.previous_owner,
            claimed.gap_seconds,
        )
        try:
            await self._engine.resume(
                tree,
                owner=self._recorder.owner,
                previous_owner=claimed.previous_owner,
                gap_seconds=claimed.gap_seconds,
                epoch=claimed.epoch,
            )
        except Fenced:  # claimed by yet another replica meanwhile
            log.warning("batch %s was claimed by another runtime while resuming", claimed.batch_id)
            return
        # commands the previous owner took and never answered: answered by this one now
        if await self._inbox.reclaim(claimed.batch_id, owner=self._recorder.owner):
            await self._bell.ring(COMMANDS, claimed.batch_id)

    async def _apply_queued(self) -> None:
        live = [b for b in self._engine.batch_ids() if not is_final(self._engine.tree(b).state)]
        for queued in await self._inbox.take(live, owner=self._recorder.owner):
            outcome = await self._apply(queued)
            if outcome is None or "in_flight" in outcome:  # no longer ours: to the new owner
                await self._inbox.requeue(queued.id, given=outcome is not None)
                continue
            said = await self._inbox.answer(queued.id, done="state" in outcome, outcome=outcome)
            self._bell.committed(COMMAND_DONE, said)

    async def _apply(self, queued: QueuedCommand) -> dict[str, Any] | None:
        try:
            given, failure = (
                await self._inbox.given_before(queued) if queued.reclaimed else (False, None)
            )
            if given:  # by an owner that died before answering: the outcome, not a repeat
                if failure is not None:
                    return {"error": "equipment_unavailable", "message": failure}
                tree = self._engine.tree(queued.batch_id)
                return {"state": tree.by_path[queued.path].state.value}
            command = Command(queued.command)
            state = await self._engine.command(
                queued.batch_id,
                queued.path,
                command,
                actor=queued.actor,
                reason=queued.reason,
                inbox_id=queued.id,
            )
        except Fenced as exc:  # the new owner answers it: a repeat if it was in flight
            return {"in_flight": True} if exc.in_flight else None
        except UnknownBatch:
            return None
        except Exception as exc:
            if error_kind(exc) == "failed":
                log.exception("queued command %d failed", queued.id)
            return {"error": error_kind(exc), "message": str(exc)}
        return {"state": state.value}
