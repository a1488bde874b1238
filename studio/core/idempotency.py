"""The idempotency store: the first request with a (user, key) runs, repeats get its answer.

The REST layer (studio/web/rest/idempotency.py) turns HTTP into calls of this store; the
rows live in the `idempotentrequest` table, so every app replica shares them.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import select

from studio.core.db import session_scope
from studio.core.errors import Conflict
from studio.core.models import IdempotentRequest, utcnow

PENDING = 0
WAIT_SECONDS = 5.0  # a duplicate waits this long for the first request to finish
ABANDONED = timedelta(minutes=5)  # a pending row this old lost its request (a crash)


class IdempotencyStore:
    def __init__(self, engine: Engine):
        self.engine = engine

    def claim(self, owner: str, key: str, digest: str) -> int | IdempotentRequest:
        """The id of our new pending row, or the finished row of an earlier identical
        request (Conflict: the key was used for another request, or is still in flight)."""
        deadline = time.monotonic() + WAIT_SECONDS
        while True:
            try:
                with session_scope(self.engine) as session:
                    row = IdempotentRequest(owner=owner, key=key, fingerprint=digest)
                    session.add(row)
                    session.flush()
                    assert row.id is not None
                    return row.id
            except IntegrityError:
                pass
            with session_scope(self.engine) as session:
                query = select(IdempotentRequest).where(
                    IdempotentRequest.owner == owner, IdempotentRequest.key == key
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

    def finish(self, row_id: int, status: int, body: Any) -> None:
        """Keep the response of the request that claimed `row_id`, for its repeats."""
        with session_scope(self.engine) as session:
            row = session.get(IdempotentRequest, row_id)
            if row is not None:
                row.status, row.body = status, body
                session.add(row)

    def release(self, row_id: int) -> None:
        """The request failed: free its key, so a retry runs it again."""
        with session_scope(self.engine) as session:
            row = session.get(IdempotentRequest, row_id)
            if row is not None:
                session.delete(row)


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
