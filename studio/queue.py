"""Queue backends. The database decides what runs next; a backend only wakes workers.

`InlineQueue` (embedded default): one worker thread in the app process. On start it re-queues
jobs left running by a dead process of this host, so a kill -9 loses nothing.
"""

from __future__ import annotations

import logging
import os
import secrets
import socket
import threading
from typing import Protocol

from sqlalchemy.engine import Engine

from studio import lifecycle
from studio.db import session_scope
from studio.runner import JobRunner

log = logging.getLogger(__name__)
HOST = socket.gethostname()


class QueueBackend(Protocol):
    def enqueue(self, job_id: int) -> None: ...
    def start(self) -> None: ...
    def stop(self, timeout: float = 10.0) -> None: ...
    def ping(self) -> None: ...


def inline_worker_name(pid: int | None = None) -> str:
    # The token tells apart two studios in one process (their leases must not mix).
    return f"inline@{HOST}:{pid or os.getpid()}:{secrets.token_hex(3)}"


def is_dead_local_worker(worker: str) -> bool:
    """True for an inline worker name of this host whose process no longer exists."""
    prefix = f"inline@{HOST}:"
    if not worker.startswith(prefix):
        return False
    try:
        pid = int(worker[len(prefix) :])
    except ValueError:
        return False
    if pid == os.getpid():
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


class InlineQueue:
    """A worker thread that claims queued jobs from the database, highest priority first."""

    def __init__(
        self, engine: Engine, runner: JobRunner, lease_seconds: float, poll_seconds: float = 1.0
    ):
        self.engine, self.runner = engine, runner
        self.lease_seconds, self.poll_seconds = lease_seconds, poll_seconds
        self.worker = inline_worker_name()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._heartbeat: threading.Thread | None = None

    def enqueue(self, job_id: int) -> None:
        self._wake.set()

    def start(self) -> None:
        if self._thread is not None:
            return
        self.recover()
        self._stop.clear()
        self._thread = threading.Thread(target=self._loop, name="studio-inline-worker", daemon=True)
        self._thread.start()
        self._heartbeat = threading.Thread(target=self._beat, name="studio-heartbeat", daemon=True)
        self._heartbeat.start()

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        self._wake.set()
        for thread in (self._thread, self._heartbeat):
            if thread is not None:
                thread.join(timeout)
        self._thread = self._heartbeat = None

    def ping(self) -> None:
        if self._thread is not None and not self._thread.is_alive():
            raise RuntimeError("the inline render worker thread has stopped")

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def recover(self) -> int:
        with session_scope(self.engine) as session:
            moved = lifecycle.requeue_abandoned(session, dead_workers=is_dead_local_worker)
        if moved:
            log.info("re-queued %d job(s) left by a stopped worker", len(moved))
        return len(moved)

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                ran = self._run_one()
            except Exception:
                log.exception("inline worker error")
                ran = False
            if not ran:
                self._wake.wait(self.poll_seconds)
                self._wake.clear()
                self.recover()  # lease reaper: jobs of workers that stopped heartbeating

    def _beat(self) -> None:
        """Renew the lease of the running job even when a step reports no progress for long."""
        while not self._stop.wait(self.lease_seconds / 3):
            try:
                with session_scope(self.engine) as session:
                    lifecycle.heartbeat(session, self.worker, self.lease_seconds)
            except Exception:
                log.exception("heartbeat failed")

    def _run_one(self) -> bool:
        with session_scope(self.engine) as session:
            job = lifecycle.claim_next(session, self.worker, self.lease_seconds)
        if job is None:
            return False
        log.info("job %s (%s) started", job.id, job.kind)
        self.runner.run(job, self.worker)
        return True
