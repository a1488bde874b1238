"""Queue backends: `inline` (a thread in the app) and `redis` (RQ, remote workers)."""

from studio.farm.queues.base import QueueBackend
from studio.farm.queues.inline import InlineQueue

__all__ = ["InlineQueue", "QueueBackend"]
