"""A QMS webhook receiver for tests: a real HTTP server on a free loopback port.

It does what a plant's QMS should: verifies each request's ``X-Holon-Signature`` (HMAC-
SHA256 over ``"<t>." + body`` with the shared secret; 401 if it does not verify), and
processes each CloudEvent once, de-duplicating on its ``id`` (a redelivery is answered 200
and not processed again). It records everything it received, so a test can tell what was
sent (``received``) from what was processed (``processed``).

Faults on request: ``fail_first`` answers 503 to the first N requests; ``hold_first``
keeps the first request waiting (after processing it, before answering) until
:meth:`QmsReceiver.release` — so that a runtime can be killed while its request is in
flight (``arrived`` is set when it is).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import ssl
import subprocess
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

__all__ = ["PlantCa", "QmsReceiver", "Received", "make_plant_ca", "receiving", "verify_signature"]


@dataclass(frozen=True)
class PlantCa:
    """A throw-away CA (``ca``, PEM) and a server certificate it signed for 127.0.0.1."""

    ca: Path
    cert: Path
    key: Path


def make_plant_ca(directory: Path) -> PlantCa:
    """Make a CA and a 127.0.0.1 server certificate with the openssl CLI, in ``directory``."""

    def openssl(*args: str) -> None:
        subprocess.run(["openssl", *args], cwd=directory, check=True, capture_output=True)

    curve = ("-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes")
    openssl("req", "-x509", *curve, "-keyout", "ca.key", "-out", "ca.pem", "-days", "1",
            "-subj", "/CN=holon test CA",
            "-addext", "basicConstraints=critical,CA:TRUE",
            "-addext", "keyUsage=critical,keyCertSign,cRLSign")  # fmt: skip
    openssl("req", *curve, "-keyout", "server.key", "-out", "server.csr", "-subj", "/CN=127.0.0.1")
    (directory / "server.ext").write_text(
        "subjectAltName=IP:127.0.0.1\nbasicConstraints=critical,CA:FALSE\n"
        "keyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\n"
        "subjectKeyIdentifier=hash\nauthorityKeyIdentifier=keyid\n"
    )
    openssl("x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
            "-CAcreateserial", "-out", "server.pem", "-days", "1",
            "-extfile", "server.ext")  # fmt: skip
    return PlantCa(directory / "ca.pem", directory / "server.pem", directory / "server.key")


def verify_signature(secret: bytes, header: str, body: bytes) -> bool:
    """Whether ``header`` (``t=<unix>,v1=<hex>``) signs ``body`` with ``secret``."""
    try:
        parts = dict(part.split("=", 1) for part in header.split(","))
        timestamp = int(parts["t"])
    except (KeyError, ValueError):
        return False
    expected = hmac.new(secret, f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, parts.get("v1", ""))


@dataclass(frozen=True)
class Received:
    """One request as it arrived."""

    event_id: str
    body: bytes
    content_type: str
    signed: bool  # the signature verified


@dataclass
class QmsReceiver:
    secret: bytes
    fail_first: int = 0
    hold_first: bool = False
    port: int = 0
    received: list[Received] = field(default_factory=list)
    processed: dict[str, dict[str, Any]] = field(default_factory=dict)
    arrived: threading.Event = field(default_factory=threading.Event)
    _release: threading.Event = field(default_factory=threading.Event)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    scheme: str = "http"

    @property
    def url(self) -> str:
        return f"{self.scheme}://127.0.0.1:{self.port}/qms/events"

    def release(self) -> None:
        """Let a held request be answered."""
        self._release.set()

    def times_received(self, event_id: str) -> int:
        with self._lock:
            return sum(1 for r in self.received if r.event_id == event_id)

    def handle(self, body: bytes, headers: dict[str, str]) -> int:
        """The status to answer (processing the event if it is new and signed)."""
        signed = verify_signature(self.secret, headers.get("x-holon-signature", ""), body)
        try:
            event = json.loads(body)
            event_id = str(event["id"])
        except (ValueError, KeyError, TypeError):
            return 400
        with self._lock:
            number = len(self.received)
            self.received.append(Received(event_id, body, headers.get("content-type", ""), signed))
            if not signed:
                return 401
            if number < self.fail_first:
                return 503
            if event_id not in self.processed:
                self.processed[event_id] = event
        if self.hold_first and number == 0:
            self.arrived.set()
            self._release.wait(timeout=120)
        return 200


@contextmanager
def receiving(
    secret: bytes, *, fail_first: int = 0, hold_first: bool = False, tls: PlantCa | None = None
) -> Iterator[QmsReceiver]:
    """A :class:`QmsReceiver` serving on a free loopback port, in threads (HTTPS with the
    certificate of ``tls``)."""
    receiver = QmsReceiver(secret, fail_first=fail_first, hold_first=hold_first)

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", "0"))
            body = self.rfile.read(length)
            headers = {key.lower(): value for key, value in self.headers.items()}
            status = receiver.handle(body, headers)
            try:
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()
            except OSError:  # the sender is gone (killed while we held its request)
                pass

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    if tls is not None:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(tls.cert, tls.key)
        server.socket = context.wrap_socket(server.socket, server_side=True)
        receiver.scheme = "https"
    receiver.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, name="qms receiver", daemon=True)
    thread.start()
    try:
        yield receiver
    finally:
        receiver.release()
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)
