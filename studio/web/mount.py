"""Wire the HTTP layer onto the FastAPI app: error bodies, login, downloads, the REST API
(/api/v1, studio.web.rest), and the guards in front of the Gradio UI."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import unquote

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response

from studio.api import Studio
from studio.core.errors import InvalidInput, StudioError
from studio.web import files, login, rest
from studio.web.identity import Identity
from studio.web.rest.common import body


def error_body(exc: StudioError) -> dict[str, Any]:
    code = "".join("_" + c.lower() if c.isupper() else c for c in type(exc).__name__)
    field = exc.field if isinstance(exc, InvalidInput) else None
    return body(code.lstrip("_"), str(exc), field)


def mount_web(api: FastAPI, studio: Studio) -> Identity:
    """Add the web routes and guards; returns the Identity Gradio uses as auth_dependency."""
    identity = Identity(studio)

    @api.exception_handler(StudioError)
    async def studio_error(_request: Request, exc: StudioError) -> Response:
        wait = getattr(exc, "retry_after", None)  # (the database away, too many attempts)
        headers = {"Retry-After": str(wait)} if wait is not None else None
        return JSONResponse(error_body(exc), status_code=exc.status, headers=headers)

    api.include_router(login.router(identity))
    api.include_router(files.router(identity))

    rest.install(api, identity)

    hidden = [
        studio.settings.resolved_storage_root,
        studio.exports_dir.resolve(),
        (studio.settings.data_dir / "cache" / "s3").resolve(),
    ]

    @api.middleware("http")
    async def guard(request: Request, call_next: Any) -> Any:
        path = request.url.path
        if "file=" in path and _inside(unquote(path.split("file=", 1)[1]), hidden):
            # The UI shows copies from Gradio's cache (random-seeded hash paths); the raw
            # storage and export folders are never served by path.
            return JSONResponse({"error": {"code": "not_found", "message": "Not found"}}, 404)
        if (
            identity.enabled
            and request.method == "GET"
            and path in ("/", "")
            and identity.user(request) is None
        ):
            return login.login_redirect(path or "/")
        return await call_next(request)

    return identity


def _inside(raw: str, folders: list[Path]) -> bool:
    try:
        target = Path(raw).resolve()
    except (OSError, ValueError):
        return True  # unreadable paths are refused, not guessed at
    return any(target == folder or folder in target.parents for folder in folders)
