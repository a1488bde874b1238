"""The surface declared once: every routed StudioAPI method is served by the REST API and
called by `Studio.connect` exactly as its declaration says, with nothing written twice."""

from __future__ import annotations

import inspect

from fastapi import FastAPI
from fastapi.routing import APIRoute

from studio.api import Studio
from studio.client.remote import RemoteStudio
from studio.surface import ROUTES, StudioAPI
from studio.surface.routes import members_of, route_of
from studio.web.rest import api_routes, router

PUBLIC = sorted(n for n in members_of(StudioAPI) if not n.startswith("_"))


def served() -> dict[tuple[str, str], APIRoute]:
    """The REST API's routes by (method, path)."""
    app = FastAPI()
    app.include_router(router())
    found = {}
    for context in api_routes(app):
        route = context.original_route
        assert isinstance(route, APIRoute)
        for method in context.methods or ():
            found[(method, context.path or "")] = route
    return found


def test_every_routed_method_is_served_where_it_is_declared() -> None:
    routes = served()
    for declared in ROUTES:
        route = routes.get((declared.verb, "/api/v1" + declared.path))
        assert route is not None, f"{declared.name}: {declared.verb} {declared.path} not served"
        assert route.endpoint.__name__ == declared.name  # built from the declaration
        assert route.status_code == declared.status
        assert route.description == inspect.getdoc(getattr(StudioAPI, declared.name))


def test_the_client_derives_every_routed_method_and_hand_writes_only_the_rest() -> None:
    routed = {r.name for r in ROUTES}
    for name in PUBLIC:
        client_method = inspect.getattr_static(RemoteStudio, name)
        if name in routed:
            assert route_of(client_method) == route_of(getattr(StudioAPI, name)), name
        else:
            assert route_of(client_method) is None, f"{name} is hand-written but routed"


def test_both_backends_have_every_method_with_the_protocols_signature() -> None:
    for name in PUBLIC:
        declared = inspect.getattr_static(StudioAPI, name)
        for backend in (Studio, RemoteStudio):
            assert hasattr(backend, name), f"{backend.__name__} lacks {name}"
        if name in {r.name for r in ROUTES}:
            derived = inspect.signature(inspect.getattr_static(RemoteStudio, name))
            assert derived == inspect.signature(declared), name


def test_a_routed_call_sends_only_what_the_route_takes() -> None:
    from studio.client.derived import request_of

    create = next(r for r in ROUTES if r.name == "create_project")
    signature = inspect.signature(StudioAPI.create_project)
    arguments = {"name": "Rain", "script": "", "owner": None, "fields": {"height": 240}}
    assert request_of(create, signature, dict(arguments)) == (
        "/projects",
        {"name": "Rain", "script": "", "height": 240},
    )
    shot = next(r for r in ROUTES if r.name == "update_shot")
    changes = {"shot_id": 4, "changes": {"seed": 3, "position": None}}
    assert request_of(shot, inspect.signature(StudioAPI.update_shot), changes) == (
        "/shots/4",
        {"seed": 3, "position": None},
    )
    try:
        request_of(create, signature, {**arguments, "owner": "bob"})
    except NotImplementedError as exc:
        assert "owner=" in str(exc)
    else:
        raise AssertionError("another user's project was sent as if it were one's own")
