"""Security headers on every response, and ``Cache-Control: no-store`` on the API.

The operator UI is served by the runtime itself from local files (air-gapped plants), so the
content security policy allows this origin only: no inline script or style, no frames
(clickjacking on a screen that signs batch records), no third-party connections. API
answers carry batch records and tokens, so no cache (a shared shop-floor browser, a proxy)
keeps them.
"""

from __future__ import annotations

from collections.abc import Sequence

from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["CONTENT_SECURITY_POLICY", "SecurityHeaders", "sending_with"]

CONTENT_SECURITY_POLICY = "; ".join(
    (
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "connect-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    )
)

_ALWAYS = (
    (b"content-security-policy", CONTENT_SECURITY_POLICY.encode()),
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),
)
_NO_STORE = ((b"cache-control", b"no-store"),)


class SecurityHeaders:
    """ASGI middleware adding the headers above (pure ASGI: bodies stream untouched)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        extra = _ALWAYS + (_NO_STORE if scope["path"].startswith("/api/") else ())
        await self.app(scope, receive, sending_with(send, extra))


def sending_with(send: Send, extra: Sequence[tuple[bytes, bytes]]) -> Send:
    """``send`` adding the ``extra`` headers (lower-case names) to the response's start,
    in place of any the app set under those names."""
    names = {name for name, _ in extra}

    async def send_with_headers(message: Message) -> None:
        if message["type"] == "http.response.start":
            kept = [(n, v) for n, v in message.get("headers", []) if n.lower() not in names]
            message = {**message, "headers": [*kept, *extra]}
        await send(message)

    return send_with_headers
