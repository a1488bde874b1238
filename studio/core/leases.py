"""A running job's lease, renewed by the worker that holds it: its progress writes (every
0.25 s at most, between a render's steps) and its heartbeat's renewals. Each is one
conditional UPDATE that touches the job only while it runs for that worker, so a write
that comes late (the job ended, or its lease passed to another worker) changes nothing."""

from __future__ import annotations

import functools
from collections.abc import Collection
from datetime import timedelta
from typing import Any

from sqlalchemy import bindparam, update
from sqlmodel import Session, col

from studio.core.db import expire_loaded
from studio.core.models import JobStatus, RenderJob, utcnow


def report_progress(
    session: Session,
    job_id: int,
    worker: str,
    progress: float,
    message: str,
    lease_seconds: float,
) -> bool:
    """Record progress and renew the lease; returns True when the job should stop (a cancel
    was asked for, or the job is no longer running for `worker`: its lease was lost, or it
    ended). One conditional UPDATE (Core, built once): a render writes it every 0.25 s,
    between its steps, and a job that ended meanwhile is never written to."""
    row = (
        session.connection()
        .execute(
            _progress_statement(),
            {
                "job_id": job_id,
                "holder": worker,
                "progress": max(0.0, min(1.0, progress)),
                "message": message[:500],
                "lease": utcnow() + timedelta(seconds=lease_seconds),
            },
        )
        .first()
    )
    if row is None:
        return True
    expire_loaded(session, RenderJob, job_id)
    return bool(row.cancel_requested)


@functools.cache
def _progress_statement() -> Any:
    return (
        update(RenderJob)
        .where(col(RenderJob.id) == bindparam("job_id"), *_held_by(bindparam("holder")))
        .values(
            progress=bindparam("progress"),
            message=bindparam("message"),
            lease_expires_at=bindparam("lease"),
        )
        .returning(col(RenderJob.cancel_requested))
    )


def _held_by(worker: Any) -> tuple[Any, ...]:
    """The job runs, for `worker` (a name, or a bound parameter): its lease is theirs."""
    return (col(RenderJob.status) == JobStatus.running.value, col(RenderJob.worker) == worker)


def heartbeat(session: Session, worker: str, lease_seconds: float, job_ids: Collection[int]) -> int:
    """Renew the leases of `job_ids`, as long as `worker` still holds them."""
    if not job_ids:
        return 0
    result = session.execute(
        update(RenderJob)
        .where(col(RenderJob.id).in_(list(job_ids)), *_held_by(worker))
        .values(lease_expires_at=utcnow() + timedelta(seconds=lease_seconds))
    )
    return int(result.rowcount)  # type: ignore[attr-defined]
