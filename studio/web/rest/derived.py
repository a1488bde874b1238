"""The REST routes of the routed StudioAPI methods, built from their declarations
(studio/surface/routes.py): no hand-written endpoint per method.

Each route acts as the caller (`StudioDep`), takes its path ids, its query parameters (typed
as the method's arguments of those names) and its body model, calls the
studio method of the same name with them, and answers with the method's read model (a list
as `{"items": [...]}`, None as 204). Its OpenAPI summary and description are the method's
docstring in the Protocol."""

from __future__ import annotations

import inspect
import typing
from functools import cache
from typing import Annotated, Any

from fastapi import APIRouter, Query, Response
from pydantic import BaseModel, create_model

from studio.surface.protocol import ROUTES, StudioAPI
from studio.surface.routes import Route, returns
from studio.web.rest.common import ADMIN, BILLED, Id, StudioDep

_ERRORS = {"admin": ADMIN, "billed": BILLED}


@cache
def list_model(item: type[BaseModel]) -> type[BaseModel]:
    """`{"items": [item, ...]}`, named after the item (ShotPublicList)."""
    return create_model(f"{item.__name__}List", items=(list[item], ...))  # type: ignore[valid-type]


def endpoint(route: Route) -> Any:
    """A FastAPI endpoint for `route`, its signature built from the declaration."""
    shape, _model = returns(StudioAPI, route)
    parameters = [inspect.Parameter("studio", inspect.Parameter.KEYWORD_ONLY, annotation=StudioDep)]
    parameters += [
        inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, annotation=Id)
        for name in route.path_params
    ]
    method = getattr(StudioAPI, route.name)
    hints, declared = typing.get_type_hints(method), inspect.signature(method).parameters
    parameters += [
        inspect.Parameter(
            name,
            inspect.Parameter.KEYWORD_ONLY,
            annotation=Annotated[hints[name], Query()],
            default=declared[name].default,
        )
        for name in route.query
    ]
    if route.body is not None:
        parameters.append(
            inspect.Parameter("payload", inspect.Parameter.KEYWORD_ONLY, annotation=route.body)
        )

    def call(**values: Any) -> Any:
        studio, payload = values.pop("studio"), values.pop("payload", None)
        if payload is not None:
            values.update(payload.arguments())
        result = getattr(studio, route.name)(**values)
        if shape == "none":
            return Response(status_code=204)
        return {"items": result} if shape == "list" else result

    call.__signature__ = inspect.Signature(parameters)  # type: ignore[attr-defined]
    call.__name__ = route.name
    call.__doc__ = inspect.getdoc(getattr(StudioAPI, route.name))
    return call


def router() -> APIRouter:
    """Every routed StudioAPI method as a REST route (without the /api/v1 prefix)."""
    api_router = APIRouter()
    for route in ROUTES:
        shape, model = returns(StudioAPI, route)
        responses: dict[int | str, dict[str, Any]] = {}
        for name in route.errors:
            responses |= _ERRORS[name]
        answer: dict[str, Any] = (
            {"response_model": None, "response_class": Response}
            if shape == "none"
            else {"response_model": list_model(model) if shape == "list" else model}
        )
        api_router.add_api_route(
            route.path,
            endpoint(route),
            methods=[route.verb],
            status_code=route.status,
            tags=[route.tag],
            responses=responses,
            **answer,
        )
    return api_router
