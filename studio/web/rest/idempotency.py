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
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from fastapi import Header, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from sqlalchemy.exc import IntegrityError
from sqlmodel import select

from studio.api import Studio
from studio.errors import Conflict
from studio.models import IdempotentRequest, utcnow

PENDING = 0
WAIT_SECONDS = 5.0  # a duplicate waits this long for the first request to finish
ABANDONED = timedelta(minutes=5)  # a pending row this old lost its request (a crash)

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
    digest = fingerprint(request, payload)
    claimed = _claim(studio, key, digest)
    if isinstance(claimed, IdempotentRequest):  # a repeat: its stored response
        return JSONResponse(
            claimed.body, status_code=claimed.status, headers={"Idempotent-Replayed": "true"}
        )
    row_id = claimed
    try:
        status, content = action()
    except BaseException:
        with studio._session() as session:
            row = session.get(IdempotentRequest, row_id)
            if row is not None:
                session.delete(row)
        raise
    with studio._session() as session:
        row = session.get(IdempotentRequest, row_id)
        if row is not None:
            row.status, row.body = status, content
            session.add(row)
    return JSONResponse(content, status_code=status)


def _claim(studio: Studio, key: str, digest: str) -> int | IdempotentRequest:
    """The id of our new pending row, or the finished row of an earlier identical request."""
    deadline = time.monotonic() + WAIT_SECONDS
    while True:
        try:
            with studio._session() as session:
                row = IdempotentRequest(owner=studio.user, key=key, fingerprint=digest)
                session.add(row)
                session.flush()
                assert row.id is not None
                return row.id
        except IntegrityError:
            pass
        with studio._session() as session:
            query = select(IdempotentRequest).where(
                IdempotentRequest.owner == studio.user, IdempotentRequest.key == key
            )
            existing = session.exec(query).first()
            if existing is None:
                continue  # freed meanwhile (the first one failed): claim it now
            if existing.fingerprint != digest:
                raise Conflict(
                    "This Idempotency-Key was already used for a different request; "
                    "use a new key for a new request"
                )
            if existing.status != PENDING:
                return existing
            if utcnow() - _aware(existing.created_at) > ABANDONED:
                session.delete(existing)
                continue
        if time.monotonic() > deadline:
            raise Conflict(
                "A request with this Idempotency-Key is still in progress; retry shortly"
            )
        time.sleep(0.1)


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
