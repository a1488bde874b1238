"""Errors a user can act on. UI, API and CLI turn these into messages (never tracebacks).

`status` is the HTTP status the web layer answers with.
"""

from __future__ import annotations


class StudioError(Exception):
    """Base class: the message is written for the creator, not the developer."""

    status = 400


class InvalidInput(StudioError, ValueError):
    status = 422

    def __init__(self, message: str, field: str | None = None):
        super().__init__(message)
        self.field = field


class NotFound(StudioError, LookupError):
    """Missing — or not yours: the two are deliberately indistinguishable."""

    status = 404


class Conflict(StudioError):
    """The request is valid but not in the object's current state (e.g. cancel a finished job)."""

    status = 409


class Unauthorized(StudioError):
    """No valid login or token."""

    status = 401


class Forbidden(StudioError):
    """Logged in, but the action needs another role (e.g. admin)."""

    status = 403


class PaymentRequired(StudioError):
    """The balance does not cover the cost."""

    status = 402


class QuotaExceeded(StudioError):
    """Too many jobs queued or running for one user, or too many attempts; `retry_after`
    (seconds) when waiting is what helps (the web layer sends it as `Retry-After`)."""

    status = 429

    def __init__(self, message: str, retry_after: int | None = None):
        super().__init__(message)
        self.retry_after = retry_after


class DatabaseUnavailable(StudioError):
    """The database cannot be reached now (a restart, a network cut): nothing was wrong with
    the request, and trying again in `retry_after` seconds may work."""

    status = 503

    def __init__(self, message: str, retry_after: int = 5):
        super().__init__(message)
        self.retry_after = retry_after


class JobFailed(StudioError):
    """A render that cannot succeed (a missing input, a bad clip); the job fails with this
    message, shown to the creator as it is."""
