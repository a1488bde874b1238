"""Queue backends: `inline` (a thread in the app) and `redis` (RQ, remote workers)."""

from studio.queues.base import QueueBackend
from studio.queues.inline import InlineQueue

__all__ = ["InlineQueue", "QueueBackend"]
