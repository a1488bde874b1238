"""The versioned REST API (/api/v1): JSON over the `Studio` API, acting as the caller (an API
token, or the browser's session), with the studio's error bodies, idempotent submissions, a
body-size limit and its own OpenAPI document at /api/v1/openapi.json.

The routed StudioAPI methods are served by `derived` (from their declarations); the rest
have one module per resource group, each with a `router` without the prefix."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, FastAPI, Request
from fastapi.openapi.utils import get_openapi
from fastapi.responses import Response
from fastapi.routing import APIRoute, RouteContext, iter_route_contexts
from starlette.exceptions import HTTPException
from starlette.routing import compile_path

from studio.web.identity import Identity
from studio.web.rest import (
    account,
    admin,
    artifacts,
    cast,
    catalogue,
    derived,
    events,
    films,
    jobs,
    lab,
    projects,
    queue,
    renders,
    timeline,
    tokens,
    voices,
)
from studio.web.rest.common import ERRORS, PREFIX, BodyLimit, add_error_handlers
from studio.web.rest.ratelimit import RateLimiter

MODULES = (
    projects,
    renders,
    voices,
    timeline,
    jobs,
    queue,
    events,
    films,
    artifacts,
    cast,
    lab,
    catalogue,
    account,
    tokens,
    admin,
)
VERSION = "1.0.0"
# Every method a client may send, so that one the path does not take is a 405 with Allow.
_METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS", "TRACE", "CONNECT", "QUERY"]


def router() -> APIRouter:
    """Every /api/v1 route (each with the documented error responses)."""
    api_router = APIRouter(prefix=PREFIX, responses=ERRORS)
    api_router.include_router(derived.router())
    for module in MODULES:
        api_router.include_router(module.router)
    return api_router


def install(api: FastAPI, identity: Identity) -> None:
    """Add the REST API to `api`: routes, error handlers, body limit, its OpenAPI document."""
    api.state.rest_identity = identity
    if identity is not None:  # None: only building the OpenAPI document (reference.py)
        api.state.rest_limiter = RateLimiter(identity.studio.settings.api_requests_per_minute)
    api.include_router(router())
    add_error_handlers(api)
    api.add_middleware(BodyLimit)
    cached: dict[str, Any] = {}

    @api.get(f"{PREFIX}/openapi.json", include_in_schema=False)
    def openapi() -> dict[str, Any]:
        """The OpenAPI document of the /api/v1 routes only."""
        if "doc" not in cached:
            cached["doc"] = openapi_schema(api)
        return cached["doc"]

    @api.api_route(f"{PREFIX}/{{rest:path}}", methods=_METHODS, include_in_schema=False)
    def unknown(request: Request, rest: str) -> Response:
        """No such route: 405 where the path exists with other methods, else 404."""
        path = request.url.path
        allowed = sorted(
            {
                method
                for route in api_routes(api)
                if compile_path(route.path or "")[0].match(path)
                for method in (route.methods or ())
            }
        )
        if allowed:
            raise HTTPException(405, "Method not allowed", {"Allow": ", ".join(allowed)})
        raise HTTPException(404, f"No API route {request.url.path}")


def api_routes(api: FastAPI) -> list[RouteContext]:
    """The documented /api/v1 routes of `api`, flattened out of included routers."""
    return [
        route
        for route in iter_route_contexts(api.routes)
        if (route.path or "").startswith(PREFIX + "/")
        and isinstance(route.original_route, APIRoute)
        and route.include_in_schema
    ]


def openapi_schema(api: FastAPI) -> dict[str, Any]:
    return get_openapi(
        title="AI Film Studio API",
        version=VERSION,
        description=(
            "Projects, shots, renders, films and credits of an AI Film Studio. Authenticate "
            "with `Authorization: Bearer sfs_…` (an API token). Errors come as "
            '`{"error": {"code", "message", "field"}}`.'
        ),
        routes=api_routes(api),
    )
