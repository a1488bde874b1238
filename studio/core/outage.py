"""Riding out a database that went away (a restart, a failover, a network blip).

A farm worker must not throw away a finished render, nor a job Redis delivered to it,
because PostgreSQL restarted: it tells such errors (`database_down`) from real ones and
tries again with backoff (`until_reachable`) until the database answers. Errors that are the
caller's (a missing table, a constraint) are never retried.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import TypeVar

from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError

log = logging.getLogger(__name__)
T = TypeVar("T")

# What drivers say when the server is away or not ready yet (psycopg, sqlite3).
_AWAY = (
    "connection",  # refused, failed, lost, closed
    "server closed",
    "terminating",  # the server's shutdown cut this session
    "shutting down",
    "starting up",
    "recovery",
    "database is locked",  # SQLite, past busy_timeout
)


def database_down(exc: BaseException) -> bool:
    """True when `exc` says the database cannot be reached now (worth waiting for)."""
    if isinstance(exc, DBAPIError) and exc.connection_invalidated:
        return True
    if isinstance(exc, OperationalError | InterfaceError):
        said = str(exc.orig or exc).lower()
        return any(words in said for words in _AWAY)
    return False


def until_reachable(action: Callable[[], T], what: str, *, longest: float = 2.0) -> T:
    """`action()`, tried again while the database is down: 0.5 s, doubling to `longest`
    (a failed connection costs next to nothing, and the farm resumes soon after it is back).
    `action` must be safe to repeat (one transaction that either committed or did not)."""
    delay, since = 0.5, time.monotonic()
    while True:
        try:
            return action()
        except Exception as exc:
            if not database_down(exc):
                raise
            first_line = str(getattr(exc, "orig", None) or exc).splitlines()[0][:200]
            log.warning(
                "%s: the database is unreachable (%.0f s so far: %s); next try in %.1f s",
                what,
                time.monotonic() - since,
                first_line,
                delay,
            )
        time.sleep(delay)
        delay = min(delay * 2, longest)
