"""Riding out a database that went away (a restart, a failover, a network blip).

A farm worker must not throw away a finished render, nor a job Redis delivered to it,
because PostgreSQL restarted: it tells such errors (`database_down`) from real ones and
tries again with backoff (`until_reachable`) until the database answers. Errors that are the
caller's (a missing table, a constraint) are never retried. A loop that fails at every cycle
while a service is away says so when it starts, now and then while it lasts, and when it
ends (`OutageLog`), not twice a second.
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


def said(exc: BaseException) -> str:
    """The first line of what an error says (a driver's own message, not SQLAlchemy's)."""
    lines = str(getattr(exc, "orig", None) or exc).strip().splitlines()
    return lines[0][:200] if lines else type(exc).__name__


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
            first_line = said(exc)
            log.warning(
                "%s: the database is unreachable (%.0f s so far: %s); next try in %.1f s",
                what,
                time.monotonic() - since,
                first_line,
                delay,
            )
        time.sleep(delay)
        delay = min(delay * 2, longest)


class OutageLog:
    """The log of a failure that repeats at every cycle of a loop while a service is away (the
    dispatcher, twice a second): a warning when it starts, one every `every` seconds while
    it lasts (with how long so far), an info line when a cycle works again."""

    def __init__(
        self,
        logger: logging.Logger,
        what: str,
        every: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
    ):
        self.logger, self.what, self.every, self.clock = logger, what, every, clock
        self.since: float | None = None  # when the failures started; None: none now
        self._said = 0.0

    def failed(self, exc: BaseException) -> None:
        now = self.clock()
        if self.since is None:
            self.since = self._said = now
            self.logger.warning("%s failed: %s", self.what, said(exc))
        elif now - self._said >= self.every:
            self._said = now
            self.logger.warning(
                "%s still failing after %.0f s: %s", self.what, now - self.since, said(exc)
            )

    def worked(self) -> None:
        if self.since is not None:
            self.logger.info("%s works again after %.0f s", self.what, self.clock() - self.since)
            self.since = None
