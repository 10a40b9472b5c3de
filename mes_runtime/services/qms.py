"""QMS hand-off: deliver the outbox's exception events to the plant's QMS webhook.

Each event is POSTed as it was stored (CloudEvents 1.0, structured mode: ``Content-Type:
application/cloudevents+json``), signed with HMAC-SHA256 over the timestamp and the body::

    X-Holon-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>." + body)>

(the receiver recomputes it with the shared secret, compares in constant time and refuses
an old ``t`` to stop replays). A 2xx answer marks the event delivered; anything else (an
error status, a refused connection, a timeout) keeps it pending and retries it after a
back-off doubling from ``retry_initial`` up to ``retry_max``, without end: an event is never
dropped, and its attempts, last error and next attempt are in ``GET /api/v1/qms/deliveries``.

Every replica runs a relay; the outbox's leases give each event to one of them at a time.
A replica killed while a request is in flight leaves the event pending under a lease that
lapses; whoever claims it next sends the same event (same ``id``, same bytes) again, so the
QMS sees it at least once and, de-duplicating on ``id`` as CloudEvents intends, exactly once.
The secret never leaves this module except in the signature (it is registered with the log
redactor as well).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import logging
import ssl
import time
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import httpx
from sqlalchemy.ext.asyncio import AsyncEngine

from mes_runtime.ebr.outbox import ClaimedEvent, Delivery, QmsOutbox, deliveries
from mes_runtime.kernel.clock import utcnow

__all__ = [
    "SIGNATURE_HEADER",
    "Delivery",
    "QmsRelay",
    "WebhookTarget",
    "list_deliveries",
    "sign",
]

log = logging.getLogger(__name__)

SIGNATURE_HEADER = "X-Holon-Signature"
CONTENT_TYPE = "application/cloudevents+json; charset=utf-8"
#: How often an idle relay looks for due events.
POLL_SECONDS = 0.5


def sign(secret: bytes, timestamp: int, body: bytes) -> str:
    """The ``X-Holon-Signature`` value of ``body`` sent at ``timestamp``."""
    digest = hmac.new(secret, f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


@dataclass(frozen=True, slots=True, repr=False)
class WebhookTarget:
    """Where and how events are sent (``repr`` leaves the secret out)."""

    url: str
    secret: bytes
    ca_bundle: Path | None = None
    timeout_seconds: float = 10.0
    retry_initial_seconds: float = 1.0
    retry_max_seconds: float = 300.0

    def __repr__(self) -> str:
        return f"WebhookTarget(url={self.url!r})"

    def client(self) -> httpx.AsyncClient:
        """An HTTP client for the webhook: TLS verified against ``ca_bundle`` (default: the
        system's CAs), ``timeout_seconds`` per request."""
        verify: ssl.SSLContext | bool = True
        if self.ca_bundle is not None:
            verify = ssl.create_default_context(cafile=str(self.ca_bundle))
        return httpx.AsyncClient(verify=verify, timeout=httpx.Timeout(self.timeout_seconds))

    def backoff(self, attempts: int) -> float:
        """Seconds to wait after the ``attempts``-th failed attempt (capped doubling)."""
        wait = self.retry_initial_seconds * 2.0 ** max(attempts - 1, 0)
        return min(wait, self.retry_max_seconds)


class QmsRelay:
    """Claims due events from the outbox and delivers them, until cancelled."""

    def __init__(
        self,
        *,
        outbox: QmsOutbox,
        target: WebhookTarget,
        owner: str,
        single_process: bool = False,
    ) -> None:
        self._outbox = outbox
        self._target = target
        self._owner = owner
        # a claim outlives the request it covers, so a peer never sends an event whose
        # first attempt may still be answered
        self._lease = timedelta(seconds=2 * target.timeout_seconds + 5)
        self._any_lease = single_process  # the only process: a lease left is a dead self's
        self._held: dict[int, ClaimedEvent] = {}
        self._stopping = asyncio.Event()

    def stop(self) -> None:
        """Finish the attempt in flight, then return from :meth:`run` (shutdown)."""
        self._stopping.set()

    async def run(self) -> None:
        async with self._target.client() as client:
            try:
                while not self._stopping.is_set():
                    try:
                        sent = await self.deliver_due(client)
                    except Exception as exc:  # a database hiccup: try again shortly
                        log.warning("QMS relay: claiming events failed: %s", exc)
                        sent = 0
                    if not sent:
                        with contextlib.suppress(TimeoutError):
                            async with asyncio.timeout(POLL_SECONDS):
                                await self._stopping.wait()
            finally:
                await self._give_back()

    async def deliver_due(self, client: httpx.AsyncClient, *, at_most: int = 16) -> int:
        """Claim due events one at a time (a claim counts as an attempt: nothing is claimed
        that is not sent at once) and attempt each; how many were attempted."""
        attempted = 0
        while attempted < at_most and not self._stopping.is_set():
            claimed = await self._outbox.claim(
                owner=self._owner, lease=self._lease, limit=1, any_lease=self._any_lease
            )
            if not claimed:
                break
            (event,) = claimed
            self._held[event.id] = event
            await self._attempt(client, event)
            self._held.pop(event.id, None)
            attempted += 1
        self._any_lease = False
        return attempted

    async def _attempt(self, client: httpx.AsyncClient, event: ClaimedEvent) -> None:
        body = event.body.encode()
        headers = {
            "Content-Type": CONTENT_TYPE,
            SIGNATURE_HEADER: sign(self._target.secret, int(time.time()), body),
        }
        error: str | None = None
        try:
            response = await client.post(self._target.url, content=body, headers=headers)
            if not response.is_success:
                error = f"HTTP {response.status_code}: {response.text[:200]}"
        except httpx.HTTPError as exc:
            error = f"{type(exc).__name__}: {exc}"
        if error is None:
            if await self._outbox.delivered(event):
                log.info("QMS event %s delivered", event.event_id)
            return
        wait = self._target.backoff(event.attempt)
        await self._outbox.failed(event, error=error, retry_at=utcnow() + timedelta(seconds=wait))
        log.warning(
            "QMS event %s not delivered (attempt %d): %s; next attempt in %.3g s",
            event.event_id,
            event.attempt,
            error,
            wait,
        )

    async def _give_back(self) -> None:
        """At shutdown: unfinished claims go back at once (a peer need not wait)."""
        held, self._held = list(self._held.values()), {}
        if held:
            with contextlib.suppress(Exception):
                await asyncio.shield(self._outbox.release(held))


async def list_deliveries(
    engine: AsyncEngine,
    *,
    status: str | None = None,
    exception_id: int | None = None,
    batch_id: str | None = None,
    limit: int = 100,
) -> list[Delivery]:
    """The outbox's events and their delivery state, newest first."""
    return await deliveries(
        engine, status=status, exception_id=exception_id, batch_id=batch_id, limit=limit
    )
