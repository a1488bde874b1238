"""Security headers on every kind of route of the real app (the UI, login, REST, Gradio's
own API, files, health, metrics, errors), HSTS only in the cloud tiers."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from studio.web.headers import CSP, SecurityHeaders

EXPECTED = {
    "content-security-policy": CSP,
    "x-frame-options": "SAMEORIGIN",
    "x-content-type-options": "nosniff",
    "referrer-policy": "same-origin",
}


@pytest.fixture
def client(tmp_path: Path) -> Iterator[TestClient]:
    from app import create_app
    from studio.core.config import load_settings

    settings = load_settings(data_dir=tmp_path / "data", auth=True, secret_key="z" * 20)
    with TestClient(create_app(settings), follow_redirects=False) as running:
        yield running


@pytest.mark.parametrize(
    "path",
    [
        "/",  # the UI (a redirect to /login without a session)
        "/login",
        "/healthz",
        "/metrics",
        "/api/v1/projects",  # 401 without a token
        "/api/v1/openapi.json",
        "/gradio_api/info",
        "/files/1/x.png?exp=1&sig=bad",  # a refused signed link
        "/no-such-page",
    ],
)
def test_every_kind_of_route_carries_the_headers(client: TestClient, path: str) -> None:
    answer = client.get(path)
    for name, value in EXPECTED.items():
        assert answer.headers.get(name) == value, (path, answer.status_code, name)
    assert "strict-transport-security" not in answer.headers  # dev: plain http on a laptop


def test_hsts_in_the_cloud_tiers_and_headers_the_app_set_are_kept() -> None:
    from starlette.applications import Starlette
    from starlette.responses import PlainTextResponse
    from starlette.routing import Route

    def page(_request: object) -> PlainTextResponse:
        return PlainTextResponse("hi", headers={"X-Frame-Options": "DENY"})

    app = SecurityHeaders(Starlette(routes=[Route("/", page)]), hsts=True)
    with TestClient(app) as client:
        answer = client.get("/")
    assert answer.headers["strict-transport-security"].startswith("max-age=31536000")
    assert answer.headers.get_list("x-frame-options") == ["DENY"]  # its own, not doubled
    assert answer.headers["x-content-type-options"] == "nosniff"
