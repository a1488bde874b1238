"""The web application: FastAPI (health, readiness, metrics, login, files, REST /api/v1) with
the Gradio UI mounted at "/", around one `Studio` built from settings.

`app.py` at the top of the tree re-exports `create_app` (`python app.py`, `uvicorn app:...`);
`python -m studio serve` calls it too.
"""

from __future__ import annotations

import logging
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from studio.core.config import Settings, load_settings
from studio.web.headers import SecurityHeaders
from studio.web.origin import SameOrigin


def create_app(settings: Settings | None = None) -> FastAPI:
    import gradio as gr

    from studio.api import Studio
    from studio.ui import build_ui, layout
    from studio.web import mount_web

    settings = settings or load_settings()
    # Gradio copies served files into its temp dir; keep those inside the studio's data dir.
    os.environ.setdefault("GRADIO_TEMP_DIR", str(settings.data_dir / "cache" / "gradio"))
    studio = Studio(settings)
    if settings.resolved_auth and not studio.users():
        logging.getLogger("studio").warning(
            "accounts are on and nobody can log in yet: create an admin with "
            "`python -m studio users add NAME --admin`"
        )

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        yield
        studio.close()

    api = FastAPI(title="AI Film Studio", lifespan=lifespan)
    api.state.studio = studio
    add_metrics(api, studio)

    @api.get("/healthz")
    def healthz() -> dict[str, str]:
        """Liveness: the process answers."""
        return {"status": "ok"}

    @api.get("/readyz")
    def readyz() -> Any:
        """Readiness: database, storage and queue reachable."""
        checks = studio.readiness()
        ready = all(v == "ok" for v in checks.values())
        return JSONResponse(
            {"status": "ok" if ready else "unavailable", "checks": checks},
            status_code=200 if ready else 503,
        )

    identity = mount_web(api, studio)
    blocks = build_ui(studio)
    app = gr.mount_gradio_app(
        api,
        blocks,
        path="/",
        # With auth on, Gradio asks the studio's session cookie (or token) who is calling:
        # no valid login, no UI (the "/" page itself redirects to /login).
        auth_dependency=identity.name if identity.enabled else None,
        allowed_paths=[
            str(settings.resolved_storage_root),
            str(studio.exports_dir),
            str(settings.data_dir / "cache"),  # local copies of S3 objects
        ],
        footer_links=[],
        theme=gr.themes.Soft(),
        css=_CSS + layout.CSS,  # layout: the screens from phone to desktop
    )
    app.add_middleware(SameOrigin, trusted_origins=settings.trusted_origins)
    # Added last, so it is the outermost layer: even the login redirect and a cross-site
    # refusal carry the headers.
    app.add_middleware(SecurityHeaders, hsts=settings.tier != "dev")
    return app


def add_metrics(api: FastAPI, studio: Any) -> None:
    """Prometheus /metrics: the farm's gauges and counters (from the database) and this
    process's HTTP latency, labelled by route template (`RouteLabels`)."""
    import time
    import uuid

    from fastapi.responses import Response
    from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Histogram, generate_latest

    from studio.core import logs
    from studio.web.metrics import RouteLabels, StudioCollector

    registry = CollectorRegistry()
    registry.register(StudioCollector(studio))
    latency = Histogram(
        "studio_http_request_duration_seconds",
        "HTTP request latency, by route template (`other`: no route matched)",
        ["method", "route", "status"],
        registry=registry,
    )
    route_label = RouteLabels(api)

    @api.middleware("http")
    async def measure(request: Request, call_next: Any) -> Any:
        started, root_path = time.perf_counter(), request.scope.get("root_path", "")
        # A request id for the logs: the caller's (X-Request-ID), else a new one.
        rid = request.headers.get("x-request-id") or uuid.uuid4().hex[:16]
        token = logs.request_id.set(rid)
        try:
            response = await call_next(request)
        finally:
            logs.request_id.reset(token)
        response.headers["X-Request-ID"] = rid
        route = route_label(request.scope, root_path)
        latency.labels(request.method, route, str(response.status_code)).observe(
            time.perf_counter() - started
        )
        return response

    @api.get("/metrics", include_in_schema=False)
    def metrics(request: Request) -> Response:
        refusal = metrics_refusal(studio.settings, request.headers.get("authorization", ""))
        if refusal is not None:
            return refusal
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)


def metrics_refusal(settings: Settings, authorization: str) -> Any:
    """None when this scrape may read /metrics: with the metrics token (`Authorization:
    Bearer …`), or in dev without one set. Outside dev without a token set, /metrics is off."""
    import hmac

    from studio.web.rest.common import body

    token = settings.metrics_token.get_secret_value() if settings.metrics_token else None
    if token is None:
        if settings.tier == "dev":
            return None
        message = "Metrics are off: set STUDIO_METRICS_TOKEN and scrape with it as a bearer token"
        return JSONResponse(body("not_found", message), 404)
    offered = authorization[7:].strip() if authorization[:7].lower() == "bearer " else ""
    if hmac.compare_digest(offered.encode(), token.encode()):
        return None
    return JSONResponse(
        body("unauthorized", "/metrics needs the metrics token"),
        401,
        headers={"WWW-Authenticate": 'Bearer realm="metrics"'},
    )


_CSS = """
.shot-card img { border-radius: 6px; }
.cache-hit { color: #0a7; font-weight: 600; }
"""
