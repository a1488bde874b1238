"""What every queue backend offers. The database decides what runs; a backend moves ids."""

from __future__ import annotations

from typing import Protocol


class QueueBackend(Protocol):
    worker: str

    def enqueue(self, job_id: int) -> None:
        """A job became queued: get it to a worker soon."""

    def cancel(self, job_id: int) -> None:
        """A running job should stop: tell its worker now (the database flag is the fallback)."""

    def start(self) -> None: ...

    def stop(self, timeout: float = 10.0) -> None: ...

    def ping(self) -> None:
        """Raise when the backend cannot dispatch."""

    @property
    def running(self) -> bool:
        """True while jobs submitted now will be picked up by this process's threads."""
