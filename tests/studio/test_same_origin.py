"""A change sent from another site with the creator's session cookie is refused on every
route that changes something (the REST API, Gradio's own routes, /login, /logout), walked
from the app's route table; the same request from the studio's own page, or with an API
token, goes through (studio.web.origin). The browser side: tests/e2e/test_accounts_journey.py
sends one from the studio's page."""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from typing import Any

import pytest
from fastapi.routing import iter_route_contexts
from fastapi.testclient import TestClient
from starlette.routing import Mount
from starlette.websockets import WebSocketDisconnect

from studio import Studio
from studio.core.config import load_settings
from studio.web.origin import UNSAFE

PASSWORD = "correct-horse-9"
FOREIGN = [
    {"Origin": "https://evil.example"},
    {"Origin": "http://testserver.evil.example"},
    {"Origin": "http://testserver:8080"},  # another port of the same host: another origin
    {"Origin": "null"},  # sandboxed frames, data: pages
    {"Sec-Fetch-Site": "cross-site", "Origin": "https://evil.example"},
    # A sibling subdomain is the same *site*: SameSite=Lax cookies go with it.
    {"Sec-Fetch-Site": "same-site", "Origin": "https://other.testserver"},
]


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[TestClient, Studio]]:
    from app import create_app

    settings = load_settings(
        data_dir=tmp_path_factory.mktemp("origin"),
        auth=True,
        credits=True,
        secret_key="test-secret-for-origin-tests",
        trusted_origins=["https://ui.partner.example"],
    )
    application = create_app(settings)
    studio: Studio = application.state.studio
    studio.create_user("alice", PASSWORD)
    with TestClient(application, follow_redirects=False) as client:
        yield client, studio


def log_in(client: TestClient) -> None:
    client.cookies.clear()
    done = client.post("/login", data={"username": "alice", "password": PASSWORD})
    assert done.status_code == 303, done.text
    client.cookies.set("studio_session", done.cookies["studio_session"])


def unsafe_routes(routes: Sequence[Any], prefix: str = "") -> Iterator[tuple[str, str]]:
    """(method, path) of every route that accepts a change, in included routers and mounted
    apps (Gradio) too."""
    for context in iter_route_contexts(routes):
        route = context.original_route
        if isinstance(route, Mount):
            yield from unsafe_routes(route.routes, prefix + (context.path or ""))
            continue
        for method in sorted(set(context.methods or ()) & UNSAFE):
            # Any value fits the path parameters: the refusal comes before routing.
            yield method, re.sub(r"\{[^}]+\}", "1", prefix + (context.path or ""))


def assert_refused(response: Any, where: str) -> None:
    assert response.status_code == 403, (where, response.status_code, response.text[:200])
    error = response.json()["error"]
    assert error["code"] == "forbidden" and "Cross-site request refused" in error["message"]
    assert "set-cookie" not in response.headers, where


def test_every_unsafe_route_refuses_a_foreign_page(app: tuple[TestClient, Studio]) -> None:
    client, studio = app
    walked = list(unsafe_routes(client.app.routes))  # type: ignore[attr-defined]
    paths = {path for _method, path in walked}
    # The walk reaches every kind of route (a shrinking table would pass vacuously).
    assert {"/login", "/logout", "/api/v1/projects", "/api/v1/tokens"} <= paths
    assert any(path.startswith("/gradio_api/") for path in paths), sorted(paths)
    assert len(walked) >= 40, len(walked)
    log_in(client)
    before = (studio.projects(), studio.tokens())
    for method, path in walked:
        for headers in FOREIGN:
            response = client.request(method, path, headers=headers, json={"name": "forged"})
            assert_refused(response, f"{method} {path} {headers}")
    # Nothing was made, and the session survived its forged logout.
    assert (studio.projects(), studio.tokens()) == before
    assert client.get("/api/v1/me").json()["name"] == "alice"


def test_a_login_from_another_site_sets_no_session(app: tuple[TestClient, Studio]) -> None:
    client, _ = app
    client.cookies.clear()
    forged = client.post(
        "/login",
        data={"username": "alice", "password": PASSWORD},
        headers={"Origin": "https://evil.example"},
    )
    assert_refused(forged, "login CSRF")
    assert client.get("/api/v1/me").status_code == 401


def test_the_studios_own_pages_and_tokens_go_through(app: tuple[TestClient, Studio]) -> None:
    client, studio = app
    log_in(client)
    own = [
        {"Origin": "http://testserver"},
        {"Sec-Fetch-Site": "same-origin", "Origin": "http://testserver"},
        {"Sec-Fetch-Site": "none"},  # typed in by the user
        {"Origin": "https://ui.partner.example"},  # trusted_origins
        {},  # not a browser (curl, scripts): no page can have sent it
    ]
    for number, headers in enumerate(own):
        made = client.post("/api/v1/projects", json={"name": f"Own {number}"}, headers=headers)
        assert made.status_code == 201, (headers, made.text)
    # Behind a TLS proxy the app hears http on the default port; the page is https.
    proxied = client.post(
        "/api/v1/projects",
        json={"name": "Through a proxy"},
        headers={"Host": "studio.example", "Origin": "https://studio.example"},
    )
    assert proxied.status_code == 201, proxied.text
    # An API token authenticates by itself: a script may send any Origin.
    _token, plain = studio.as_user("alice").create_token("script")
    client.cookies.clear()
    scripted = client.post(
        "/api/v1/projects",
        json={"name": "Scripted"},
        headers={"Authorization": f"Bearer {plain}", "Origin": "https://evil.example"},
    )
    assert scripted.status_code == 201, scripted.text
    # A forged token with a foreign origin gets no further than a 401.
    forged = client.post(
        "/api/v1/projects",
        json={"name": "Forged"},
        headers={"Authorization": "Bearer sfs_forged", "Origin": "https://evil.example"},
    )
    assert forged.status_code == 401
    names = [p.name for p in studio.as_user("alice").projects()]
    assert "Forged" not in names and {"Own 0", "Through a proxy", "Scripted"} <= set(names)


def test_logout_is_a_post_from_the_studio(app: tuple[TestClient, Studio]) -> None:
    client, _ = app
    log_in(client)
    page = client.get("/logout")  # a link from anywhere only shows the button
    assert page.status_code == 200 and 'method="post" action="/logout"' in page.text
    assert client.get("/api/v1/me").status_code == 200
    done = client.post("/logout", headers={"Origin": "http://testserver"})
    assert done.status_code == 303 and done.headers["location"] == "/login"
    client.cookies.clear()  # the browser drops the cookie the answer deleted
    assert client.get("/api/v1/me").status_code == 401


def test_a_websocket_from_another_site_is_closed(app: tuple[TestClient, Studio]) -> None:
    client, _ = app
    with (
        pytest.raises(WebSocketDisconnect) as closed,
        client.websocket_connect(
            "/gradio_api/queue/join", headers={"Origin": "https://evil.example"}
        ),
    ):
        pass
    assert closed.value.code == 1008
