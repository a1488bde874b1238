"""How a StudioAPI method is reached over HTTP, declared on the method itself:

    @route("GET", "/shots/{shot_id}")
    def shot(self, shot_id: int) -> ShotPublic:
        \"\"\"One shot (NotFound when missing or not yours).\"\"\"

From that one declaration the REST API serves the method (studio/web/rest/derived.py) and
`Studio.connect` calls it (studio/client/derived.py):
- each `{name}` in the path is the method's argument of that name (an id);
- `body`, a model of studio/surface/requests.py, lists the arguments sent as JSON (a
  `**fields` argument sends its keys); GET and DELETE routes have no body;
- `query` names the arguments a GET route takes as query parameters (a list repeats the
  parameter: `?ids=3&ids=7`), typed and defaulted as in the method's signature;
- the answer is the method's return annotation: a read model, `{"items": [...]}` for a list,
  204 (no content) for None.

Methods that need more than this (idempotent submissions that wait, paged lists, downloads,
answers that are not read models) have hand-written routes and client methods;
`studio.surface.ROUTES` lists only the declared ones, and docs/architecture.md lists the rest.
"""

from __future__ import annotations

import re
import typing
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal, ParamSpec, TypeVar, get_args, get_origin

from pydantic import BaseModel

from studio.surface.requests import In

P = ParamSpec("P")
R = TypeVar("R")
Verb = Literal["GET", "POST", "PATCH", "DELETE"]


@dataclass(frozen=True)
class Route:
    """One routed StudioAPI method."""

    name: str
    verb: Verb
    path: str
    tag: str
    body: type[In] | None = None
    status: int = 200
    # The SDK sends only the body fields that are not null (the server reads a null as a
    # field left out anyway: In.arguments).
    omit_nulls: bool = False
    # Extra documented error answers: "billed" (402 Payment Required), "admin" (403).
    errors: tuple[str, ...] = ()
    query: tuple[str, ...] = ()

    @property
    def path_params(self) -> list[str]:
        return re.findall(r"{(\w+)}", self.path)


def route(
    verb: Verb,
    path: str,
    *,
    tag: str,
    body: type[In] | None = None,
    status: int = 200,
    omit_nulls: bool = False,
    errors: tuple[str, ...] = (),
    query: tuple[str, ...] = (),
) -> Callable[[Callable[P, R]], Callable[P, R]]:
    """Declare how a StudioAPI method is served and called over HTTP (see the module doc)."""
    if query and verb != "GET":
        raise TypeError("only GET routes take query parameters; the others take a body")

    def declare(method: Callable[P, R]) -> Callable[P, R]:
        method.__route__ = Route(  # type: ignore[attr-defined]
            method.__name__, verb, path, tag, body, status, omit_nulls, errors, query
        )
        return method

    return declare


def route_of(method: Callable[..., Any]) -> Route | None:
    """The route declared on a StudioAPI method, if any."""
    found: Route | None = getattr(method, "__route__", None)
    return found


def members_of(api: type) -> dict[str, Any]:
    """The attributes `api` (the StudioAPI Protocol) declares itself or takes from the
    Protocols it is made of (studio/surface/voices.py), its own first."""
    found: dict[str, Any] = {}
    for klass in api.__mro__:
        if klass.__module__.startswith("studio.surface"):
            for name, member in vars(klass).items():
                found.setdefault(name, member)
    return found


def routes_of(api: type) -> list[Route]:
    """Every routed method of `api` (the StudioAPI Protocol), in its order."""
    return [r for member in members_of(api).values() if (r := route_of(member)) is not None]


def returns(api: type, route: Route) -> tuple[Literal["none", "one", "list"], Any]:
    """What the method answers: nothing, one read model, or a list of them."""
    hint = typing.get_type_hints(getattr(api, route.name))["return"]
    if hint is type(None):
        return "none", None
    if get_origin(hint) is list:
        (item,) = get_args(hint)
        return "list", item
    if isinstance(hint, type) and issubclass(hint, BaseModel):
        return "one", hint
    raise TypeError(f"{route.name}: a routed method returns a read model, a list or None")
