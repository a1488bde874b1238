"""A new worker's rehearsal: the one-time work of a first job, done before it says it is idle.

A fresh worker process pays once for what its later jobs get for free: SQLAlchemy compiling
each statement of a job's path (claim, "busy", progress, artifact row, success, hold,
shot link, counters), Pillow's PNG encoder, the package versions every provenance record lists.
Measured on a `sleep` worker: its first job cost ~30 ms more than the next ones (claim
11 ms instead of 2, success 11 instead of 4.5, PNG 8 instead of 0.5), and sixteen workers
starting on a backlog at once, on two cores, ran their first jobs 0.1-0.4 s longer.

The rehearsal runs those statements with the real code, against a job and a shot that do
not exist (id 0), in a transaction it rolls back: nothing is written, each statement is
compiled and cached for the engine. It never stops a worker: if it fails (the database is
away), the first job pays as before.
"""

from __future__ import annotations

import contextlib
import logging
import time

from PIL import Image
from sqlalchemy.engine import Engine
from sqlmodel import Session

from credits import ledger
from studio.core import counters, leases, lifecycle, provenance, takes
from studio.core.errors import NotFound
from studio.core.models import Artifact, JobKind, JobStatus, RenderJob, utcnow
from studio.farm import registry

log = logging.getLogger(__name__)

NO_JOB = 0  # ids start at 1: no row has it


def rehearse(engine: Engine, worker: str, lease_seconds: float) -> None:
    started = time.perf_counter()
    try:
        record = provenance.record(NO_JOB, {}, "")  # (reads the package versions once)
        provenance.png_bytes(Image.new("RGB", (8, 8)), provenance.file_tags(record))
        with Session(engine) as session:
            try:
                _job_path(session, worker, lease_seconds)
            finally:
                session.rollback()
    except Exception as exc:  # noqa: BLE001 - a rehearsal must never keep a worker from work
        log.info("worker %s: no rehearsal (%s); its first job does the one-time work", worker, exc)
        return
    log.debug("worker %s rehearsed in %.1f ms", worker, (time.perf_counter() - started) * 1e3)


def _job_path(session: Session, worker: str, lease_seconds: float) -> None:
    """What `studio.farm.worker` and `JobRunner` run for one preview, on rows that do not
    exist: each UPDATE matches nothing; the INSERTs are rolled back."""
    lifecycle.claim_job(session, NO_JOB, worker, lease_seconds)
    registry.mark(session, worker, current_job_id=None, state="busy", pipelines=[])
    leases.report_progress(session, NO_JOB, worker, 0.0, "", lease_seconds)
    unsaved = Artifact(owner="", key="", content_type="", bytes=0, sha256="", provenance={})
    with contextlib.suppress(NotFound):  # (its UPDATE found no job: "no render job #0")
        # A backlog's success with its next claim (one statement on PostgreSQL), and alone.
        lifecycle.succeed_and_claim(session, NO_JOB, unsaved, lifecycle.Claim(-1, worker, 1))
    with contextlib.suppress(NotFound):
        lifecycle.succeed_and_claim(session, NO_JOB, unsaved, None)
    ledger.settle(session, NO_JOB)
    ghost = RenderJob(
        id=NO_JOB,
        owner="",
        kind=JobKind.preview.value,
        project_id=NO_JOB,
        shot_id=NO_JOB,
        params={},
        params_hash="",
        status=JobStatus.succeeded.value,
        started_at=utcnow(),  # (so its run time is counted too: the same upsert batch)
        finished_at=utcnow(),
    )
    takes.link_result(session, ghost)
    counters.job_finished(session, ghost, released=None)
    counters.write_pending(session)  # (else written at a commit, which never comes)
