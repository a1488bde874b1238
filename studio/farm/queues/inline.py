"""`InlineQueue` (embedded default): one worker thread in the app process.

It claims queued jobs straight from the database (priority, then age). On start, and while
idle, it re-queues jobs left running by a dead process of this host or by a worker whose lease
expired, so a kill -9 loses nothing.
"""

from __future__ import annotations

import logging
import os
import secrets
import threading

from sqlalchemy.engine import Engine

from studio.core import lifecycle
from studio.core.db import session_scope
from studio.farm import registry
from studio.farm.runner import JobRunner

log = logging.getLogger(__name__)


def inline_worker_name(pid: int | None = None) -> str:
    # The token tells apart two studios in one process (their leases must not mix).
    return f"inline@{registry.HOST}:{pid or os.getpid()}:{secrets.token_hex(3)}"


def is_dead_local_worker(worker: str) -> bool:
    """True for an inline worker name of this host whose process no longer exists."""
    prefix = f"inline@{registry.HOST}:"
    if not worker.startswith(prefix):
        return False
    try:
        pid = int(worker[len(prefix) :].split(":")[0])
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
        self._current: int | None = None
        self._reported: list[str] = []  # the pipelines the Workers page shows as loaded
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._heartbeat = registry.Heartbeat(
            engine, self.worker, lease_seconds, self._status, holding=lambda: set(runner.holding)
        )

    def _status(self) -> tuple[int | None, str]:
        return self._current, "busy" if self._current else "idle"

    def enqueue(self, job_id: int) -> None:
        self._wake.set()

    def cancel(self, job_id: int) -> None:
        self.runner.request_cancel(job_id)

    def start(self) -> None:
        if self._thread is not None:
            return
        registry.register(self.engine, self.worker, "inline", pipelines=[])
        self.recover()
        self._stop.clear()
        self._thread = threading.Thread(target=self._loop, name="studio-inline-worker", daemon=True)
        self._thread.start()
        self._heartbeat.start()

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        self._wake.set()
        self._heartbeat.stop(timeout)
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None
            try:
                registry.stopped(self.engine, self.worker)
            except Exception:  # noqa: BLE001 - the database may already be gone at shutdown
                log.debug("could not mark %s stopped", self.worker)

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

    def _run_one(self) -> bool:
        with session_scope(self.engine) as session:
            job = lifecycle.claim_next(session, self.worker, self.lease_seconds)
        if job is None:
            return False
        self._current = job.id
        try:
            log.info("job %s (%s) started", job.id, job.kind)
            self.runner.execute(job, self.worker)
        finally:
            self._current = None
        self._report_loaded()
        return True

    def _report_loaded(self) -> None:
        """Tell the Workers page what is loaded now, when that changed (one write, not one
        per job)."""
        loaded = self.runner.loaded
        if loaded == self._reported:
            return
        try:
            registry.beat(
                self.engine, self.worker, current_job_id=None, state="idle", pipelines=loaded
            )
        except Exception:  # noqa: BLE001 - the next change reports it again
            log.debug("could not report the loaded pipelines of %s", self.worker)
            return
        self._reported = loaded
