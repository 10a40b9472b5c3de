"""Keep one module's OPC UA session alive: connect, subscribe, watch, reconnect.

A reconnect loop around one asyncua ``Client`` per attempt (the pattern of asyncua's
``client-reconnect.py``): after connecting it resolves the manifest's namespaces,
subscribes, and then watches the session - asyncua's own connection-lost callback, the
client state, and a periodic read of ``ServerStatus/State``. When the session dies it
emits :class:`ConnectionLost`, waits ``reconnect_delay`` and tries again; once connected
and subscribed again it emits :class:`ConnectionRestored`. Events are transitions only:
the first successful connection is silent, a first failure is reported as lost.

Connected means connected: before subscribing, every variable the manifest declares is
read once, and a module with missing or bad nodes is not connected - the reason names
each node (:mod:`mes_runtime.mtp.presence`) - until a later attempt finds them all.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from asyncua.client.client import Client
from asyncua.client.ua_client import UaClientState

from mes_runtime.kernel.events import ConnectionLost, ConnectionRestored, EquipmentEvent
from mes_runtime.kernel.tasks import cancel_and_wait
from mes_runtime.mtp.client import LagHook, MtpModuleClient
from mes_runtime.mtp.errors import EquipmentUnavailable
from mes_runtime.mtp.presence import NodeProblem, describe, node_problems
from mtp_manifest import ModuleManifest

__all__ = ["EquipmentSupervisor"]

_log = logging.getLogger(__name__)


class EquipmentSupervisor:
    """The live session to one module, re-established for as long as it runs."""

    def __init__(
        self,
        manifest: ModuleManifest,
        events_queue: asyncio.Queue[EquipmentEvent],
        *,
        reconnect_delay: float = 1.0,
        check_interval: float = 0.5,
        request_timeout: float = 4.0,
        publishing_interval_ms: float = 50.0,
        lag: LagHook | None = None,
    ) -> None:
        self.manifest = manifest
        self.lag = lag
        self.events = events_queue
        self.reconnect_delay = reconnect_delay
        self.check_interval = check_interval
        self.request_timeout = request_timeout
        self.publishing_interval_ms = publishing_interval_ms
        self._module: MtpModuleClient | None = None
        self._connected = asyncio.Event()
        self._reported_down = False
        self._task: asyncio.Task[None] | None = None
        self.node_problems: tuple[NodeProblem, ...] = ()
        #: why the module is not connected now ("" while connected or never tried)
        self.problem = ""

    @property
    def name(self) -> str:
        return self.manifest.name

    @property
    def is_connected(self) -> bool:
        return self._module is not None

    @property
    def module(self) -> MtpModuleClient:
        """The module client of the live session; raises while disconnected."""
        if self._module is None:
            raise EquipmentUnavailable(f"{self.name}: no OPC UA session (reconnecting)")
        return self._module

    async def wait_connected(self) -> None:
        """Wait (without limit: wrap in ``asyncio.timeout``) for a live session."""
        await self._connected.wait()

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self.run(), name=f"supervisor {self.name}")

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            await cancel_and_wait([task])

    async def run(self) -> None:
        """Connect, serve, reconnect - until cancelled."""
        while True:
            reason = await self._session()
            self._down(reason)
            await asyncio.sleep(self.reconnect_delay)

    async def _session(self) -> str:
        """One session from connect to loss; returns why it ended."""
        # asyncua's own watchdog probes the server with a timeout of its interval: at the
        # check interval (0.5 s) a half-second stall of a busy PLC counted as a lost
        # connection and held the running phase. It probes at the request timeout; this
        # supervisor's checks (_watch) stay frequent, each allowed the request timeout too,
        # and a closed connection is noticed at once either way.
        client = Client(
            self.manifest.endpoint,
            timeout=self.request_timeout,
            watchdog_intervall=self.request_timeout,
        )
        lost = asyncio.Event()
        reason: list[str] = []

        async def on_lost(exc: Exception) -> None:
            reason.append(f"{type(exc).__name__}: {exc}")
            lost.set()

        client.connection_lost_callback = on_lost
        try:
            await client.connect()
        except Exception as exc:  # any OPC UA error during the handshake: try again later
            await self._close(client)
            return f"cannot connect to {self.manifest.endpoint}: {type(exc).__name__}: {exc}"
        except BaseException:  # stopped mid-handshake: the socket it opened closes too
            with contextlib.suppress(Exception):
                client.disconnect_socket()
            raise
        module: MtpModuleClient | None = None
        try:
            module = await MtpModuleClient.connect(
                client, self.manifest, timeout=self.request_timeout
            )
            self.node_problems = tuple(
                await node_problems(client, self.manifest, module.namespaces)
            )
            if self.node_problems:
                return self._lost(describe(self.node_problems))
            await module.subscribe(
                self.events,
                publishing_interval_ms=self.publishing_interval_ms,
                held=True,
                lag=self.lag,
            )
            self._up(module)  # ConnectionRestored first, then the fresh states behind it
            module.deliver()
            return self._lost(await self._watch(client, lost, reason))
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            return self._lost(f"{type(exc).__name__}: {exc}")
        finally:
            self._module = None
            self._connected.clear()
            try:
                if module is not None:
                    await module.close()
            finally:  # even when a second cancel (stop) lands in the pumps' shutdown
                await self._close(client)

    def _lost(self, reason: str) -> str:
        """Report the loss before the session is closed: closing a session whose server
        does not answer waits out its requests' timeouts, and the engine must not wait for
        that to hold what runs on the module."""
        self._module = None
        self._connected.clear()
        self._down(reason)
        return reason

    async def _watch(self, client: Client, lost: asyncio.Event, reason: list[str]) -> str:
        while True:
            # asyncio.timeout, not wait_for: Python 3.11's wait_for can swallow a cancel
            # that arrives as its wait ends, and stop() then waits for this loop forever
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.check_interval):
                    await lost.wait()
            if lost.is_set():
                return reason[0] if reason else "connection lost"
            if client.state is not UaClientState.CONNECTED:
                return f"session state {client.state.value}"
            async with asyncio.timeout(self.request_timeout):
                await client.nodes.server_state.read_value()

    async def _close(self, client: Client) -> None:
        closed = False
        try:
            with contextlib.suppress(Exception):
                async with asyncio.timeout(self.request_timeout):
                    await client.disconnect()
                    closed = True
        finally:
            if not closed:  # the server did not answer the close: the socket closes anyway
                with contextlib.suppress(Exception):
                    client.disconnect_socket()

    def _up(self, module: MtpModuleClient) -> None:
        self._module = module
        self.problem = ""
        self._connected.set()
        if self._reported_down:
            self._reported_down = False
            self.events.put_nowait(ConnectionRestored(self.name))
        _log.info("%s: connected to %s", self.name, self.manifest.endpoint)

    def _down(self, reason: str) -> None:
        self.problem = reason
        if not self._reported_down:
            self._reported_down = True
            self.events.put_nowait(ConnectionLost(self.name, reason))
            _log.warning("%s: connection lost: %s", self.name, reason)
