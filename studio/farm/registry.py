"""The worker registry: who renders where, with what loaded (the Workers page, affinity)."""

from __future__ import annotations

import functools
import logging
import os
import socket
import threading
import time
from collections.abc import Callable, Collection
from datetime import timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import bindparam, update
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from studio.core import leases
from studio.core.db import session_scope
from studio.core.models import JobStatus, RenderJob, Worker, utcnow
from studio.core.outage import database_down, said
from studio.farm import beacon

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
    claim writes "busy" with the job it claims). Run as Core, built once (a per-job cost)."""
    values: dict[str, object] = {
        "worker_name": name,
        "job": current_job_id,
        "worker_state": state,
        "now": utcnow(),
    }
    if pipelines is not None:
        values["warm"] = list(pipelines)
    session.connection().execute(_mark_statement(pipelines is not None), values)


@functools.cache
def _mark_statement(with_pipelines: bool) -> Any:
    values: dict[str, Any] = {
        "current_job_id": bindparam("job"),
        "state": bindparam("worker_state"),
        "heartbeat_at": bindparam("now"),
    }
    if with_pipelines:
        values["pipelines"] = bindparam("warm", type_=Worker.__table__.c.pipelines.type)  # type: ignore[attr-defined]
    return update(Worker).where(col(Worker.name) == bindparam("worker_name")).values(**values)


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
    """Every worker, newest heartbeat first, each busy one with the job it runs now."""
    with session_scope(engine) as session:
        workers = list(session.exec(select(Worker).order_by(col(Worker.heartbeat_at).desc())))
        running = _running_jobs(session, [w.name for w in workers if w.state == "busy"])
    for worker in workers:  # (detached now: nothing set here is written back)
        jobs = running.get(worker.name)
        if jobs and worker.current_job_id not in jobs:
            worker.current_job_id = jobs[-1]
    return workers


def _running_jobs(session: Session, names: list[str]) -> dict[str, list[int]]:
    """The jobs running on each of these workers, oldest start first. A worker going through
    a backlog claims each next job in the transaction that records the last one's success
    and does not write its own row then (a statement a job, `worker.NextClaim`): its row
    names the job it claimed first until the next heartbeat, the jobs table the one now."""
    if not names:
        return {}
    query = (
        select(RenderJob.worker, RenderJob.id)
        .where(RenderJob.status == JobStatus.running.value, col(RenderJob.worker).in_(names))
        .order_by(col(RenderJob.started_at), col(RenderJob.id))
    )
    running: dict[str, list[int]] = {}
    for name, job_id in session.exec(query):
        running.setdefault(str(name), []).append(int(job_id or 0))
    return running


class Heartbeat:
    """A thread that renews the running job's lease and the worker's row every lease/3 s,
    so a long step without progress reports does not look like a dead worker.

    With a `beacon_folder` (a farm worker process) it also writes the worker's beacon there
    on every beat, whether or not the database answered (`studio.farm.beacon`), so the
    healthcheck can tell a worker waiting for the database from a dead one. While its
    database writes fail because the database is away (`database_away`), the beacon's state
    is "waiting for the database"; the log says so once when that starts and once when it
    ends, not at every beat."""

    def __init__(
        self,
        engine: Engine,
        name: str,
        lease_seconds: float,
        status: Callable[[], tuple[int | None, str]],
        holding: Callable[[], Collection[int]],
        beacon_folder: Path | None = None,
    ):
        self.engine, self.name, self.lease_seconds, self.status = (
            engine,
            name,
            lease_seconds,
            status,
        )
        self.holding = holding
        self.beacon_folder = beacon_folder
        self.database_away = False
        self.reached_at: float | None = None  # Unix time of the last write that went through
        self._away_since = 0.0
        self._beacon_failed = False
        self._beacon_lock = threading.Lock()  # one writer at a time; none once `stop` removed it
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"heartbeat-{name}", daemon=True)

    def start(self) -> None:
        self.publish()  # the healthcheck sees the worker from its first moment
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        """Stop beating and remove the beacon: a worker that stopped is not alive."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout)
        if self.beacon_folder is not None:
            with self._beacon_lock:
                try:
                    beacon.remove(self.beacon_folder, os.getpid())
                except OSError as exc:
                    log.warning("could not remove the status file of %s: %s", self.name, exc)

    def _run(self) -> None:
        while not self._stop.wait(self.lease_seconds / 3):
            job_id, state = self.status()  # the row's; `publish` reads the newest again
            try:
                self._record(job_id, state)
            except Exception as exc:
                if database_down(exc):  # one line when it starts, not a traceback per beat
                    self._went_away(exc)
                else:
                    log.exception("heartbeat of %s failed", self.name)
            else:
                self._reached()
            self.publish()

    def _record(self, job_id: int | None, state: str) -> None:
        """Renew the leases of the jobs this process is running, and the worker's row, in
        one transaction. Only those jobs: a job left `running` under this name after its
        render ended (its outcome could not be recorded) must expire and go back."""
        with session_scope(self.engine) as session:
            leases.heartbeat(session, self.name, self.lease_seconds, self.holding())
            mark(session, self.name, current_job_id=job_id, state=state)

    def _went_away(self, exc: BaseException) -> None:
        if self.database_away:
            return
        self.database_away, self._away_since = True, time.monotonic()
        log.warning(
            "heartbeat of %s: the database is unreachable (%s); %s",
            self.name,
            said(exc),
            beacon.WAITING_FOR_DATABASE,
        )

    def _reached(self) -> None:
        self.reached_at = time.time()
        if self.database_away:
            self.database_away = False
            away = time.monotonic() - self._away_since
            log.info("heartbeat of %s: the database is back after %.0f s", self.name, away)

    def publish(self) -> None:
        """Write the beacon with the worker's state now: at each beat, and when the worker's
        state changes between beats. A folder that cannot be written is said once, and never
        stops the heartbeat (the database row still tells the Workers page)."""
        if self.beacon_folder is None:
            return
        with self._beacon_lock:  # one writer at a time, so the newest state lands last
            if self._stop.is_set():
                return
            job_id, state = self.status()
            now = beacon.Beacon(
                name=self.name,
                pid=os.getpid(),
                host=HOST,
                state=beacon.shown_state(state, self.database_away),
                job=job_id,
                reached_at=self.reached_at,
                beat_at=time.time(),
            )
            try:
                beacon.write(self.beacon_folder, now)
            except OSError as exc:
                if not self._beacon_failed:
                    log.error(
                        "worker %s cannot write its status file in %s (%s): its healthcheck "
                        "will fail; set STUDIO_RUN_DIR to a folder it can write",
                        self.name,
                        self.beacon_folder,
                        exc,
                    )
                self._beacon_failed = True
            else:
                self._beacon_failed = False
