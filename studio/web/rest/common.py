"""What every REST route shares: the acting studio, error bodies, the body-size limit."""

from __future__ import annotations

import json
import re
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Path, Request, Security
from fastapi.exception_handlers import (
    http_exception_handler,
    request_validation_exception_handler,
)
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from studio.api import Studio
from studio.core.errors import InvalidInput
from studio.web.rest import ratelimit
from studio.web.rest.schemas import MAX_ID, ErrorOut

PREFIX = "/api/v1"
MAX_BODY_BYTES = 1_000_000
MAX_UPLOAD_BYTES = 20_000_000  # a reference picture (studio.core.references)
MAX_SOUND_BYTES = 52_428_800  # a shot's sound: the default max_audio_bytes (50 MiB)
MAX_PAGE = 100

Id = Annotated[int, Path(ge=1, le=MAX_ID, description="A positive id")]

bearer = HTTPBearer(
    auto_error=False,
    description="An API token (`sfs_…`, made on the Account page or with "
    "`python -m studio users token NAME --name WHAT`); a browser's session cookie works too.",
)


def acting(
    request: Request, _token: HTTPAuthorizationCredentials | None = Security(bearer)
) -> Studio:
    """The studio acting as the caller (401 without a valid token or session; 429 past the
    caller's requests per minute)."""
    studio: Studio = request.app.state.rest_identity.studio_for(request)
    ratelimit.check(request.app.state.rest_limiter, request, studio.user)
    return studio


StudioDep = Annotated[Studio, Depends(acting)]


def _error(description: str) -> dict[str, Any]:
    return {"model": ErrorOut, "description": description}


ERRORS: dict[int | str, dict[str, Any]] = {
    400: _error("The body is not readable JSON"),
    401: _error("No valid API token or session"),
    404: _error("No such object, or not yours"),
    409: _error("Not possible in the object's current state"),
    413: _error("The request body is over 1 MB"),
    422: _error("Invalid input; `field` names the culprit"),
    429: _error("Too many requests for this API token (see Retry-After)"),
}
ADMIN: dict[int | str, dict[str, Any]] = {403: _error("Only admins can do that")}
BILLED: dict[int | str, dict[str, Any]] = {
    402: _error("The balance does not cover the cost"),
    429: _error("Too many requests for this API token, or too many jobs queued"),
}


def body(code: str, message: str, field: str | None = None) -> dict[str, Any]:
    field = None if field is None else encodable(field)
    return {"error": {"code": code, "message": encodable(message), "field": field}}


def encodable(text: str) -> str:
    """`text` with what UTF-8 cannot carry (a lone surrogate a message quotes back from the
    input) written as an escape, so that an error answer never becomes a 500 itself."""
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "invalid_input",
    429: "quota_exceeded",
}


def add_error_handlers(api: FastAPI) -> None:
    """FastAPI's own errors (validation, 404/405, bad JSON) in the studio's error shape, on
    the API's paths; other paths keep FastAPI's defaults."""

    @api.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> Response:
        if not request.url.path.startswith(PREFIX):
            return await request_validation_exception_handler(request, exc)
        errors = exc.errors()
        first = errors[0] if errors else {}
        if first.get("type") == "json_invalid":  # not JSON at all: the request is malformed
            reason = (first.get("ctx") or {}).get("error", "")
            message = f"The body is not valid JSON{f' ({reason})' if reason else ''}"
            return JSONResponse(body("bad_request", message), status_code=400)
        loc = [str(part) for part in first.get("loc", ())]
        where = ".".join(loc[1:] if loc[:1] in (["body"], ["query"], ["path"], ["header"]) else loc)
        message = str(first.get("msg", "Invalid request"))
        if first.get("type") == "string_unicode":  # a lone surrogate: say so, as the studio does
            message = "contains an unpaired surrogate (such as \\ud800), which no text holds"
        if where:
            message = f"{where}: {message}"
        if len(errors) > 1:
            message += f" (and {len(errors) - 1} more)"
        field = loc[-1] if len(loc) > 1 else None
        return JSONResponse(body("invalid_input", message, field), status_code=422)

    @api.exception_handler(HTTPException)
    async def http_error(request: Request, exc: HTTPException) -> Response:
        if not request.url.path.startswith(PREFIX):
            return await http_exception_handler(request, exc)
        code = _CODES.get(exc.status_code, f"http_{exc.status_code}")
        return JSONResponse(
            body(code, str(exc.detail)), status_code=exc.status_code, headers=exc.headers
        )


def page_cursor(cursor: str | None) -> int | None:
    """A jobs cursor back to the id it stands for (cursors are opaque to callers)."""
    if cursor is None or cursor == "":
        return None
    if not cursor.isascii() or not cursor.isdigit() or len(cursor) > 10 or int(cursor) > MAX_ID:
        raise InvalidInput("This cursor was not given out by this API", "cursor")
    return int(cursor)


class BodyLimit:
    """Refuse request bodies over `limit` bytes on the API's paths (413): by Content-Length
    up front (the server holds a client to it), or by reading a body sent without one.
    Upload routes (`UPLOADS`: path pattern → limit) take larger bodies."""

    UPLOADS: tuple[tuple[re.Pattern[str], int], ...] = (
        (re.compile(r"/cast/\d+/reference$"), MAX_UPLOAD_BYTES),
        (re.compile(r"/shots/\d+/sound$"), MAX_SOUND_BYTES),
    )

    def __init__(self, app: ASGIApp, limit: int = MAX_BODY_BYTES, prefix: str = "/api/"):
        self.app, self.default, self.prefix = app, limit, prefix

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith(self.prefix):
            await self.app(scope, receive, send)
            return
        limit = self.limit_for(scope["path"])
        declared: int | None = None
        for name, value in scope.get("headers", []):
            if name == b"content-length":
                try:
                    declared = int(value)
                except ValueError:
                    declared = 0
                if declared > limit:
                    await self._refuse(send, limit)
                    return
        if declared is None and scope.get("method") in ("POST", "PUT", "PATCH", "DELETE"):
            # No Content-Length (chunked): read it all here, up to the limit, then replay it.
            # (Raising from inside the app's body read would come out as a 400.)
            chunks: list[bytes] = []
            seen, more = 0, True
            while more:
                message = await receive()
                if message["type"] != "http.request":
                    break
                chunks.append(message.get("body", b""))
                seen += len(chunks[-1])
                more = message.get("more_body", False)
                if seen > limit:
                    await self._refuse(send, limit)
                    return
            replayed = False

            async def replay() -> Message:
                nonlocal replayed
                if replayed:
                    return await receive()
                replayed = True
                return {"type": "http.request", "body": b"".join(chunks), "more_body": False}

            await self.app(scope, replay, send)
            return
        await self.app(scope, receive, send)

    def limit_for(self, path: str) -> int:
        return next((size for pattern, size in self.UPLOADS if pattern.search(path)), self.default)

    async def _refuse(self, send: Send, limit: int) -> None:
        message = f"The request body is over the {limit:,}-byte limit"
        await send_error(send, 413, "payload_too_large", message, [(b"connection", b"close")])


async def send_error(
    send: Send,
    status: int,
    code: str,
    message: str,
    headers: list[tuple[bytes, bytes]] | None = None,
) -> None:
    """The studio's error body as a whole ASGI answer, for middleware that answers before
    any route (the body limit, the same-origin check)."""
    payload = json.dumps(body(code, message)).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(payload)).encode()),
                *(headers or []),
            ],
        }
    )
    await send({"type": "http.response.body", "body": payload})
