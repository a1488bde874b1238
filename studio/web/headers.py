"""Security headers on every response: the UI, the login page, the REST API, Gradio's own
routes, files, health and metrics.

A small ASGI middleware rather than a dependency: five fixed headers do not need a library,
and a pure ASGI one (unlike Starlette's BaseHTTPMiddleware) leaves streamed answers (event
streams, downloads) alone. The Content-Security-Policy restricts what can frame, post forms
from and set the base of the studio's pages (clickjacking, form hijacking), not scripts or
styles: the Gradio UI needs inline scripts and styles and runs under it unchanged (the
browser tests load it). A header the application already set is kept.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

CSP = "frame-ancestors 'self'; base-uri 'self'; form-action 'self'; object-src 'none'"
HEADERS: tuple[tuple[bytes, bytes], ...] = (
    (b"content-security-policy", CSP.encode()),
    (b"x-frame-options", b"SAMEORIGIN"),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"same-origin"),
    (b"permissions-policy", b"camera=(), microphone=(), geolocation=()"),
)
HSTS = (b"strict-transport-security", b"max-age=31536000; includeSubDomains")


class SecurityHeaders:
    """Adds `HEADERS` (and HSTS with `hsts`: the cloud tiers, served over HTTPS)."""

    def __init__(self, app: ASGIApp, hsts: bool = False):
        self.app = app
        self.headers = HEADERS + ((HSTS,) if hsts else ())

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                present = {name.lower() for name, _value in message.get("headers", [])}
                extra = [(k, v) for k, v in self.headers if k not in present]
                message["headers"] = [*message.get("headers", []), *extra]
            await send(message)

        await self.app(scope, receive, with_headers)
