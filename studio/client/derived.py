"""The SDK client's routed methods, derived from their declarations in the StudioAPI
Protocol (studio/surface/routes.py): `shot = over_rest(StudioAPI.shot)` is the whole of
`RemoteStudio.shot`. Its signature and docstring are the Protocol's (mypy checks calls
against them), and a call becomes the declared request:

- path ids are filled in from the arguments of the same name; the route's query arguments
  go as query parameters (left out when they have their default value; a list filters the
  answer, so an empty one answers an empty list without asking);
- the other arguments named by the route's body model (and a `**fields` argument's keys)
  are sent as JSON; an argument the REST API does not take (such as `owner=`, another user)
  raises NotImplementedError unless it has its default value;
- the answer becomes the method's read model (a list from `items`; None for 204).
"""

from __future__ import annotations

import inspect
import typing
from collections.abc import Callable
from typing import Any, ParamSpec, TypeVar

from pydantic_core import to_jsonable_python

from studio.client.transport import ON_SERVER, Transport, path_id
from studio.surface.protocol import StudioAPI
from studio.surface.routes import Route, returns, route_of

P = ParamSpec("P")
R = TypeVar("R")


def over_rest(method: Callable[P, R]) -> Callable[P, R]:
    """`method` (a routed StudioAPI method) as a call of its REST route."""
    route = route_of(method)
    if route is None:
        raise TypeError(f"StudioAPI.{method.__name__} declares no route")
    signature = inspect.signature(method)
    shape, model = returns(StudioAPI, route)

    def call(*args: P.args, **kwargs: P.kwargs) -> R:
        bound = signature.bind(*args, **kwargs)
        bound.apply_defaults()
        client, *_ = bound.args
        assert isinstance(client, Transport)
        if bound.arguments.get("owner") == getattr(client, "user", None):
            bound.arguments["owner"] = None  # one's own: what the route does anyway
        arguments = dict(bound.arguments)
        query = {name: arguments.pop(name) for name in route.query}
        query = {k: v for k, v in query.items() if v != signature.parameters[k].default}
        if shape == "list" and any(isinstance(v, list | tuple) and not v for v in query.values()):
            return []  # type: ignore[return-value]
        path, body = request_of(route, signature, arguments)
        if route.verb == "GET":
            data = client._get(path, **query)
        else:
            data = client.request(route.verb, path, json=body)
        if shape == "none":
            return None  # type: ignore[return-value]
        if shape == "list":
            return [model.model_validate(item) for item in data["items"]]  # type: ignore[return-value]
        return typing.cast(R, model.model_validate(data))

    call.__name__ = call.__qualname__ = route.name
    call.__doc__ = method.__doc__
    call.__signature__ = signature  # type: ignore[attr-defined]
    call.__route__ = route  # type: ignore[attr-defined]
    return call


def request_of(
    route: Route, signature: inspect.Signature, arguments: dict[str, Any]
) -> tuple[str, dict[str, Any] | None]:
    """The path and the JSON body of a call with these (bound) arguments."""
    arguments.pop("self", None)
    path = route.path.format(**{name: path_id(arguments.pop(name)) for name in route.path_params})
    accepted = set(route.body.model_fields) if route.body is not None else set()
    body: dict[str, Any] = {}
    for name, value in arguments.items():
        parameter = signature.parameters[name]
        if parameter.kind is inspect.Parameter.VAR_KEYWORD:
            body.update(value)
        elif name in accepted:
            # Read models in arguments (a ClipEdit in a list) go as their JSON, without the
            # fields they leave out.
            body[name] = to_jsonable_python(value, exclude_none=True)
        elif value != parameter.default:
            raise NotImplementedError(
                f"{route.name}({name}=…) is not available over the REST API; {ON_SERVER}"
            )
    if route.omit_nulls:
        body = {k: v for k, v in body.items() if v is not None}
    return path, (body if route.body is not None else None)
