"""Errors a user can act on. UI, API and CLI turn these into messages (never tracebacks)."""

from __future__ import annotations


class StudioError(Exception):
    """Base class: the message is written for the creator, not the developer."""


class InvalidInput(StudioError, ValueError):
    def __init__(self, message: str, field: str | None = None):
        super().__init__(message)
        self.field = field


class NotFound(StudioError, LookupError):
    pass


class Conflict(StudioError):
    """The request is valid but not in the object's current state (e.g. cancel a finished job)."""
