"""Same-origin enforcement: a change (POST, PUT, PATCH, DELETE, and WebSocket opens) that a
browser sends from another site is refused with 403, on every route: the REST API, Gradio's
own routes, /login (login CSRF) and /logout.

Why not rely on the cookie's SameSite=Lax: a sibling subdomain (`evil.example.com` next to
`studio.example.com`) is the *same site*, so the browser sends the cookie with its posts. The
browser itself says where a request comes from, in headers a page cannot forge:
`Sec-Fetch-Site` (every current browser) and `Origin` (every browser on a POST). Checking
them needs no token in every form and every Gradio call, which a CSRF token would.

- A request that carries `Authorization: Bearer …` is authenticated by its token, which a
  foreign page cannot add to a cross-site request without CORS (the studio allows none): it
  passes.
- `Sec-Fetch-Site: same-origin` or `none` (typed by the user) passes; `same-site` and
  `cross-site` are refused.
- Without `Sec-Fetch-Site`, an `Origin` must name this host (the `Host` header the request
  came with) or one of `trusted_origins` (a UI served from another origin; a proxy that
  rewrites Host); `Origin: null` is refused.
- With neither header the request is not from a browser (curl, scripts, the SDK with a
  cookie jar): it passes, since no foreign page can have made it.
"""

from __future__ import annotations

from collections.abc import Iterable
from urllib.parse import urlsplit

from starlette.types import ASGIApp, Receive, Scope, Send

from studio.web.rest.common import send_error

UNSAFE = frozenset({"POST", "PUT", "PATCH", "DELETE"})
_DEFAULT_PORTS = {"http": 80, "https": 443, "ws": 80, "wss": 443}


def _origin_key(origin: str) -> tuple[str, int] | None:
    """("host", port) of an origin such as `https://studio.example:8443`; None if it is not
    one (`null`, garbage)."""
    try:
        parts = urlsplit(origin)
        port = parts.port or _DEFAULT_PORTS.get(parts.scheme)
    except ValueError:
        return None
    if not parts.hostname or port is None:
        return None
    return parts.hostname.lower(), port


def _host_key(host: str, scheme: str) -> tuple[str, int] | None:
    """("host", port) of a Host header as the request arrived (`localhost:7860`)."""
    return _origin_key(f"{scheme}://{host}") if host else None


class SameOrigin:
    """Refuses cross-origin browser requests that change something (see the module doc)."""

    def __init__(self, app: ASGIApp, trusted_origins: Iterable[str] = ()):
        self.app = app
        self.trusted = {key for key in map(_origin_key, trusted_origins) if key is not None}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if (kind == "http" and scope["method"] in UNSAFE) or kind == "websocket":
            refusal = self.refusal(scope)
            if refusal is not None:
                await self._refuse(scope, send, refusal)
                return
        await self.app(scope, receive, send)

    def refusal(self, scope: Scope) -> str | None:
        """Why this request is refused, or None when it may go on."""
        headers = {
            name.decode("latin-1"): value.decode("latin-1") for name, value in scope["headers"]
        }
        if headers.get("authorization", "")[:7].lower() == "bearer ":
            return None
        origin = headers.get("origin")
        if origin is not None and _origin_key(origin) in self.trusted:
            return None
        site = headers.get("sec-fetch-site")
        if site is not None:
            if site in ("same-origin", "none"):
                return None
            return f"the browser says it comes from a {site} page"
        if origin is None:
            return None  # not a browser: no foreign page made it
        key = _origin_key(origin)
        # A Host without a port means the origin's default one: behind a TLS proxy the app
        # hears http while the page is https://studio.example (port 443 on both sides).
        own = _host_key(headers.get("host", ""), urlsplit(origin).scheme) if key else None
        if key is not None and key == own:
            return None
        return f"it comes from {origin[:100]}"

    async def _refuse(self, scope: Scope, send: Send, reason: str) -> None:
        message = (
            f"Cross-site request refused: {reason}. The studio accepts changes only from its "
            "own pages, or with an API token (Authorization: Bearer …)"
        )
        if scope["type"] == "websocket":
            await send({"type": "websocket.close", "code": 1008, "reason": message[:120]})
            return
        await send_error(send, 403, "forbidden", message)
