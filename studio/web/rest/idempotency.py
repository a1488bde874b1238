"""`Idempotency-Key` for submissions: a retried POST (a timeout, a lost reply) returns the
first response instead of queueing and charging twice.

The first request with a key inserts a pending row (unique per user and key) in a
transaction of its own, so of two concurrent duplicates only one gets to run; then it runs
and stores its status and JSON body. A repeat with the same fingerprint (method, path, body)
gets the stored response; the same key on another request is a 409. A request that fails
(a 4xx from the studio: nothing was submitted) frees its key for a retry."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from typing import Annotated, Any

from fastapi import Header, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from studio.api import Studio
from studio.core.models import IdempotentRequest

KeyHeader = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        min_length=1,
        max_length=200,
        description="Any unique string (a UUID): a retry with the same key and body returns "
        "the first response instead of submitting again",
    ),
]


def fingerprint(request: Request, payload: BaseModel | None) -> str:
    data = payload.model_dump(mode="json") if payload is not None else None
    text = json.dumps([request.method, request.url.path, data], sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()


def run_once(
    studio: Studio,
    request: Request,
    key: str | None,
    payload: BaseModel | None,
    action: Callable[[], tuple[int, Any]],
) -> JSONResponse:
    """Run `action` (→ status, JSON-able body) at most once per (user, key)."""
    if key is None:
        status, content = action()
        return JSONResponse(content, status_code=status)
    store = studio.idempotency
    claimed = store.claim(studio.user, key, fingerprint(request, payload))
    if isinstance(claimed, IdempotentRequest):  # a repeat: its stored response
        return JSONResponse(
            claimed.body, status_code=claimed.status, headers={"Idempotent-Replayed": "true"}
        )
    try:
        status, content = action()
    except BaseException:
        store.release(claimed)
        raise
    store.finish(claimed, status, content)
    return JSONResponse(content, status_code=status)
