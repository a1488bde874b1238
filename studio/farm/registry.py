"""The worker registry: who renders where, with what loaded (the Workers page, affinity)."""

from __future__ import annotations

import logging
import os
import socket
import threading
from collections.abc import Callable, Collection
from datetime import timedelta

from sqlalchemy import update
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from studio.core import lifecycle
from studio.core.db import session_scope
from studio.core.models import Worker, utcnow
from studio.core.outage import database_down

HOST = socket.gethostname()
log = logging.getLogger(__name__)


def register(
    engine: Engine, name: str, kind: str, pipelines: list[str] | None = None, memory_bytes: int = 0
) -> None:
    with session_scope(engine) as session:
        worker = session.get(Worker, name) or Worker(name=name)
        worker.kind, worker.host, worker.pid = kind, HOST, os.getpid()
        worker.pipelines, worker.memory_bytes = list(pipelines or []), memory_bytes
        worker.state, worker.current_job_id = "idle", None
        worker.started_at = worker.heartbeat_at = utcnow()
        session.add(worker)


def mark(
    session: Session,
    name: str,
    *,
    current_job_id: int | None,
    state: str,
    pipelines: list[str] | None = None,
) -> None:
    """The worker's state and heartbeat in the caller's transaction: one UPDATE, no read (a
    claim writes "busy" with the job it claims)."""
    values: dict[str, object] = {
        "current_job_id": current_job_id,
        "state": state,
        "heartbeat_at": utcnow(),
    }
    if pipelines is not None:
        values["pipelines"] = list(pipelines)
    session.execute(update(Worker).where(col(Worker.name) == name).values(**values))


def beat(
    engine: Engine,
    name: str,
    *,
    current_job_id: int | None,
    state: str,
    pipelines: list[str] | None = None,
) -> None:
    with session_scope(engine) as session:
        mark(session, name, current_job_id=current_job_id, state=state, pipelines=pipelines)


def stopped(engine: Engine, name: str) -> None:
    beat(engine, name, current_job_id=None, state="stopped")


def live(engine: Engine, within_seconds: float, kind: str | None = None) -> list[Worker]:
    """Workers that heartbeated recently and have not stopped."""
    with session_scope(engine) as session:
        return live_in(session, within_seconds, kind)


def live_in(session: Session, within_seconds: float, kind: str | None = None) -> list[Worker]:
    """`live`, in the caller's transaction."""
    since = utcnow() - timedelta(seconds=within_seconds)
    query = select(Worker).where(col(Worker.heartbeat_at) >= since, Worker.state != "stopped")
    if kind is not None:
        query = query.where(Worker.kind == kind)
    return list(session.exec(query.order_by(col(Worker.name))).all())


def all_workers(engine: Engine) -> list[Worker]:
    with session_scope(engine) as session:
        return list(session.exec(select(Worker).order_by(col(Worker.heartbeat_at).desc())).all())


class Heartbeat:
    """A thread that renews the running job's lease and the worker's row every lease/3 s,
    so a long step without progress reports does not look like a dead worker."""

    def __init__(
        self,
        engine: Engine,
        name: str,
        lease_seconds: float,
        status: Callable[[], tuple[int | None, str]],
        holding: Callable[[], Collection[int]],
    ):
        self.engine, self.name, self.lease_seconds, self.status = (
            engine,
            name,
            lease_seconds,
            status,
        )
        self.holding = holding
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"heartbeat-{name}", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout)

    def beat_now(self) -> None:
        """Renew the leases of the jobs this process is running, and the worker's row, in
        one transaction. Only those jobs: a job left `running` under this name after its
        render ended (its outcome could not be recorded) must expire and go back."""
        job_id, state = self.status()
        with session_scope(self.engine) as session:
            lifecycle.heartbeat(session, self.name, self.lease_seconds, self.holding())
            mark(session, self.name, current_job_id=job_id, state=state)

    def _run(self) -> None:
        while not self._stop.wait(self.lease_seconds / 3):
            try:
                self.beat_now()
            except Exception as exc:
                if database_down(exc):  # one line, not a traceback every few seconds
                    log.warning("heartbeat of %s: the database is unreachable", self.name)
                else:
                    log.exception("heartbeat of %s failed", self.name)
