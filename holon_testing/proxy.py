"""A tiny TCP proxy in front of runtime replicas, as a Kubernetes Service is in front of Pods.

Each new connection goes to the first backend that accepts it (in the order given); bytes
are copied both ways until either side closes. When a backend dies its connections end and
new ones go to the next: what a browser sees when the Pod it talked to is killed.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Iterator

__all__ = ["tcp_proxy"]


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    except (ConnectionError, OSError):
        pass
    finally:
        with contextlib.suppress(Exception):
            writer.close()


async def _serve(
    port: int, backends: list[int], started: threading.Event, stop: asyncio.Event
) -> None:
    async def handle(client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
        for backend in backends:
            try:
                server_r, server_w = await asyncio.open_connection("127.0.0.1", backend)
            except OSError:
                continue
            await asyncio.gather(_pipe(client_r, server_w), _pipe(server_r, client_w))
            return
        client_w.close()

    server = await asyncio.start_server(handle, "127.0.0.1", port)
    started.set()
    async with server:
        await stop.wait()


@contextlib.contextmanager
def tcp_proxy(port: int, backends: list[int]) -> Iterator[None]:
    """Serve ``127.0.0.1:port`` -> the first live backend port, in a thread of its own."""
    loop = asyncio.new_event_loop()
    stop = asyncio.Event()
    started = threading.Event()

    def main() -> None:
        asyncio.set_event_loop(loop)
        loop.run_until_complete(_serve(port, backends, started, stop))

    thread = threading.Thread(target=main, name="tcp proxy", daemon=True)
    thread.start()
    assert started.wait(10), "the proxy did not start"
    try:
        yield
    finally:
        loop.call_soon_threadsafe(stop.set)
        thread.join(10)
        if not thread.is_alive():
            loop.close()  # its self-pipe sockets, else a ResourceWarning in a later test
