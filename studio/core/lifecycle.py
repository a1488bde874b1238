"""Every job state change lives here; UI, API, CLI and workers call these, nobody else writes
`status`. The database is the source of truth: queues only carry job ids.

    submit ─► queued ─► running ─► succeeded
                 │         ├─► failed     (error, or crashed max_attempts times: quarantined)
                 └─────────┴─► cancelled

Every credit movement lives here too (credits.ledger does the bookkeeping): submit reserves
the cost, success settles it, failure and cancel refund it, retry reserves again. Each of
these events also adds to the farm's counters (studio.core.counters, for /metrics).

Every function takes the caller's Session and leaves committing to it (one transaction).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Collection, Mapping
from datetime import datetime, timedelta
from typing import Any
from weakref import WeakKeyDictionary

from sqlalchemy import and_, bindparam, delete, exists, func, or_, update
from sqlalchemy import inspect as sa_inspect
from sqlalchemy.orm import SessionTransaction, aliased
from sqlmodel import Session, col, select

from credits import ledger
from studio.core import counters, holds, success_sql, takes
from studio.core.db import detached, expire_loaded
from studio.core.errors import Conflict, NotFound, QuotaExceeded
from studio.core.models import (
    Artifact,
    JobKind,
    JobStatus,
    QueuePause,
    RenderJob,
    ident,
    utcnow,
)
from studio.core.params import params_hash
from studio.core.success_sql import Claim

ACTIVE = (JobStatus.queued.value, JobStatus.running.value)
RETRYABLE = (JobStatus.failed.value, JobStatus.cancelled.value)


def ready() -> Any:
    """SQL condition: the job's owner has not paused and its dependency (if any) succeeded.
    The dependency is looked up by its id (EXISTS): `depends_on IN (succeeded jobs)` made
    PostgreSQL hash every succeeded job of the studio's history for each claim of a chained
    clip and each dispatch cycle that met one."""
    dependency = aliased(RenderJob)
    succeeded = exists().where(
        col(dependency.id) == col(RenderJob.depends_on),
        col(dependency.status) == JobStatus.succeeded.value,
    )
    return and_(
        col(RenderJob.owner).not_in(select(QueuePause.owner)),
        or_(col(RenderJob.depends_on).is_(None), succeeded),
    )


def get_job(session: Session, job_id: int) -> RenderJob:
    job = session.get(RenderJob, job_id)
    if job is None:
        raise NotFound(f"No render job #{job_id}")
    return job


def submit(
    session: Session,
    *,
    kind: JobKind,
    project_id: int,
    shot_id: int | None,
    params: dict[str, Any],
    owner: str = "local",
    priority: int = 0,
    max_attempts: int = 3,
    cost: float = 0.0,
    artifact_available: Callable[[Artifact], bool] = lambda _a: True,
    depends_on: int | None = None,
    billing: bool = False,
    cache_hit_price: float = 0.0,
    max_queued: int | None = None,
    same: Collection[RenderJob] | None = None,
    flush: bool = True,
    digest: str | None = None,
) -> RenderJob:
    """Insert a job, or reuse: an identical active job, or a succeeded one (render cache).

    With `billing`, a new job reserves its cost (PaymentRequired when the balance does not
    cover it); a cache hit pays `cache_hit_price` × cost. `max_queued` caps the owner's
    queued jobs (QuotaExceeded). A refusal raises, and the caller's transaction rolls back.
    A batch passes `same` (what `same_jobs` read for this digest, for all its jobs at once)
    and `flush=False`: its new rows are then inserted together at its next flush, and may
    pass `digest`, the params' hash it computed for that read."""
    digest = digest or params_hash(params)
    if billing or max_queued is not None:
        # One owner's submissions run one at a time from here: quota counts stay true.
        ledger.lock_account(session, owner)
    if same is None:
        same = same_jobs(session, owner, [digest]).get(digest, [])
    active = next((j for j in same if j.status in ACTIVE and j.shot_id == shot_id), None)
    if active is not None:
        return active
    job = RenderJob(
        kind=kind.value,
        project_id=project_id,
        shot_id=shot_id,
        params=params,
        params_hash=digest,
        owner=owner,
        priority=priority,
        max_attempts=max_attempts,
        cost=cost,
        message="Queued" if depends_on is None else f"Waits for job #{depends_on}",
        depends_on=depends_on,
    )
    for earlier in (j for j in same if j.status == JobStatus.succeeded.value):
        artifact = session.get(Artifact, earlier.artifact_id) if earlier.artifact_id else None
        if artifact is not None and artifact_available(artifact):
            now = utcnow()
            job.status, job.cache_hit, job.artifact_id = (
                JobStatus.succeeded.value,
                True,
                artifact.id,
            )
            job.progress, job.started_at, job.finished_at = 1.0, now, now
            job.cost = round(cost * cache_hit_price, 2)
            job.message = f"Reused the result of job #{earlier.id} (render cache)"
            session.add(job)
            session.flush()
            if billing and job.cost > 0:
                holds.reserve(session, job)
                ledger.settle(session, ident(job))
            counters.job_submitted(session, job, reserved=billing and job.cost > 0)
            takes.link_result(session, job)
            return job
    if max_queued is not None:
        queued = _queued_count(session, owner)
        if queued[0] >= max_queued:
            raise QuotaExceeded(
                f"You have {queued[0]} jobs waiting in the queue, the most this studio allows "
                f"per user ({max_queued}); wait for some to finish or cancel some"
            )
        queued[0] += 1  # this one: the next submission of the batch counts it
    session.add(job)
    if flush:
        session.flush()
        if billing:
            holds.reserve(session, job)
    elif billing:  # held with the rest of its batch (`holds.reserve_submitted`)
        holds.defer(session, job)
    counters.job_submitted(session, job, reserved=billing)
    return job


def same_jobs(session: Session, owner: str, digests: Collection[str]) -> dict[str, list[RenderJob]]:
    """The owner's jobs with these params hashes still active or succeeded, newest first, by
    hash: one read answers both of `submit`'s questions (an identical job under way, a
    result the render cache serves), for one job or a whole batch."""
    found: dict[str, list[RenderJob]] = {}
    for job in session.exec(
        select(RenderJob)
        .where(col(RenderJob.params_hash).in_(set(digests)), RenderJob.owner == owner)
        .where(col(RenderJob.status).in_([*ACTIVE, JobStatus.succeeded.value]))
        .order_by(col(RenderJob.id).desc())
    ):
        found.setdefault(job.params_hash, []).append(job)
    return found


# The owner's queued jobs, counted once per transaction (its account is locked, so nobody
# else adds to them meanwhile) and kept up to date by `submit`: a batch of 300 submissions
# counts once, not 300 times. The entry goes with the transaction.
_queued: WeakKeyDictionary[SessionTransaction, dict[str, list[int]]] = WeakKeyDictionary()


def _queued_count(session: Session, owner: str) -> list[int]:
    """[the owner's queued jobs now], a cell `submit` adds to as it queues more."""
    transaction = session.get_transaction()
    counts = _queued.setdefault(transaction, {}) if transaction is not None else {}
    if owner not in counts:
        counts[owner] = [
            session.exec(
                select(func.count())
                .select_from(RenderJob)
                .where(RenderJob.owner == owner, RenderJob.status == JobStatus.queued.value)
            ).one()
        ]
    return counts[owner]


def claim_next(session: Session, worker: str, lease_seconds: float) -> RenderJob | None:
    """Atomically move the next queued job (priority, then age) to running for `worker`."""
    for _ in range(5):
        candidate = session.exec(
            select(RenderJob.id)
            .where(RenderJob.status == JobStatus.queued.value)
            .where(ready())
            .order_by(col(RenderJob.priority).desc(), col(RenderJob.queued_at), col(RenderJob.id))
            .limit(1)
        ).first()
        if candidate is None:
            return None
        job = claim_job(session, candidate, worker, lease_seconds)
        if job is not None:
            return job
    return None


def claim_job(session: Session, job_id: int, worker: str, lease_seconds: float) -> RenderJob | None:
    """Move this queued job to running for `worker`; None if someone else has it, it is no
    longer queued, or its owner paused their queue. Safe against duplicate deliveries."""
    now = utcnow()
    # Conditional update: only one claimant wins even with several workers. RETURNING hands
    # back the claimed row in the same statement (SQLite ≥ 3.35, PostgreSQL). Run as Core,
    # built once: the ORM's bulk-update path cost a farm worker ~1 ms per job.
    row = (
        session.connection()
        .execute(
            _claim_statement(),
            {
                "job_id": job_id,
                "claimant": worker,
                "now": now,
                "lease": now + timedelta(seconds=lease_seconds),
            },
        )
        .first()
    )
    if row is None:
        return None
    expire_loaded(session, RenderJob, job_id)  # it must not be read as queued
    return detached(RenderJob, row._mapping)


@functools.cache
def _claim_statement(job: str = "job_id") -> Any:
    """The claim's UPDATE; `job` names the parameter holding the job's id (`succeed_and_claim`
    runs it beside the success's own `job_id`)."""
    return (
        update(RenderJob)
        .where(
            col(RenderJob.id) == bindparam(job),
            col(RenderJob.status) == JobStatus.queued.value,
        )
        .where(ready())
        .values(
            status=JobStatus.running.value,
            worker=bindparam("claimant"),
            started_at=bindparam("now"),
            attempts=RenderJob.attempts + 1,
            progress=0.0,
            message="Starting",
            cancel_requested=False,
            lease_expires_at=bindparam("lease"),
        )
        .returning(*RenderJob.__table__.columns)  # type: ignore[attr-defined]
    )


def succeed(
    session: Session,
    job_id: int,
    artifact: Artifact,
    message: str = "Done",
    attachments: Mapping[str, Artifact] | None = None,
) -> RenderJob:
    """Idempotent: completing a job twice changes nothing.

    `attachments` (role → artifact: a film's subtitle files) are saved with it, and their ids
    recorded in its provenance under "attachments".

    A finished render is accepted even if the job was meanwhile re-queued or handed to another
    worker (its lease expired): the params are the same, so the result is the one wanted, and
    the other worker's later completion becomes a no-op.
    """
    # Rows this call adds (never saved: transient), removed again if the job had already
    # succeeded (a repeat).
    added = [a for a in [*(attachments or {}).values(), artifact] if sa_inspect(a).transient]
    if attachments:
        for attached in attachments.values():
            success_sql.artifact_row(session, attached)
        ids = {role: attached.id for role, attached in attachments.items()}
        artifact.provenance = {**artifact.provenance, "attachments": ids}
    success_sql.artifact_row(session, artifact)
    # One conditional UPDATE (Core, built once) moves the job and hands it back: a farm
    # worker runs this for every job, and loading the job first cost more than a tiny render.
    row = (
        session.connection()
        .execute(
            success_sql.succeed_statement(),
            {"job_id": job_id, "artifact_id": artifact.id, "message": message, "now": utcnow()},
        )
        .first()
    )
    if row is None:  # not queued or running: a repeat (nothing changes), else a conflict
        return _not_succeeded(session, job_id, added)
    return _succeeded(session, job_id, dict(row._mapping))


def succeed_and_claim(
    session: Session,
    job_id: int,
    artifact: Artifact,
    claim: Claim | None,
    message: str = "Done",
    attachments: Mapping[str, Artifact] | None = None,
) -> tuple[RenderJob, RenderJob | None]:
    """`succeed`, then `claim_job` for `claim` (None: nothing to claim): the job, and the one
    claimed (None: not queued any more). On PostgreSQL a new artifact's row (one without
    attachments), the success, the shot's preview link and the claim are one statement
    (`studio.core.success_sql`): one round trip to the server instead of four, for every job
    of a farm worker's backlog. That statement sees the rows as they were before it, so it
    does not claim a job waiting for this very one (which the dispatcher sends only once
    this success is committed)."""
    one_statement = (
        session.get_bind().dialect.name == "postgresql"
        and sa_inspect(artifact).transient
        and not attachments
        and (claim is None or claim.job_id != job_id)  # (a row changes once per statement)
    )
    if not one_statement:
        job = succeed(session, job_id, artifact, message, attachments)
        if claim is None:
            return job, None
        return job, claim_job(session, claim.job_id, claim.worker, claim.lease_seconds)
    claim_statement = _claim_statement(success_sql.NEXT_JOB) if claim is not None else None
    row = success_sql.one_statement(
        session, job_id, artifact, message, claim, claim_statement, takes.preview_link
    )
    claimed = None
    if claim is not None and (columns := row.claimed()) is not None:
        expire_loaded(session, RenderJob, claim.job_id)
        claimed = detached(RenderJob, columns)
    done = row.succeeded()
    if done is None:
        return _not_succeeded(session, job_id, [artifact]), claimed
    return _succeeded(session, job_id, done, preview_linked=True), claimed


def _succeeded(
    session: Session, job_id: int, columns: dict[str, Any], preview_linked: bool = False
) -> RenderJob:
    """After the UPDATE that made the job succeed (its RETURNING `columns`): the settlement
    (when the job holds credits), the counters and the shot's link to its result."""
    expire_loaded(session, RenderJob, job_id)
    held = columns.pop(
        success_sql.HELD
    )  # (credits off at its submit: no hold, no ledger statement)
    job = detached(RenderJob, columns)
    counters.job_finished(session, job, released=ledger.settle(session, job_id) if held else None)
    takes.link_result(session, job, preview_linked=preview_linked)
    return job


def _not_succeeded(session: Session, job_id: int, added: list[Artifact]) -> RenderJob:
    """The success found the job neither queued nor running: a repeat (the job as it is),
    else a conflict. The rows it added go either way, so the transaction stays whole: a
    batch's other results are recorded in it (`JobRunner.run_batch`) even when this one is
    refused."""
    job = get_job(session, job_id)
    unused = [a.id for a in added]
    session.connection().execute(delete(Artifact).where(col(Artifact.id).in_(unused)))
    for gone in added:
        gone.id = None
    if job.status != JobStatus.succeeded.value:
        raise Conflict(f"Job #{job_id} is {job.status}, it cannot succeed")
    return job


def _owned_elsewhere(job: RenderJob, worker: str | None) -> bool:
    """True when `worker` reports on a job it no longer holds (its lease was taken over)."""
    return worker is not None and (job.status != JobStatus.running.value or job.worker != worker)


def fail(session: Session, job_id: int, error: str, worker: str | None = None) -> RenderJob:
    job = get_job(session, job_id)
    if JobStatus(job.status).finished or _owned_elsewhere(job, worker):
        return job
    job.status, job.error, job.finished_at = JobStatus.failed.value, error[:10_000], utcnow()
    job.message, job.lease_expires_at = "Failed", None
    session.add(job)
    counters.job_finished(session, job, released=ledger.refund(session, job_id))
    return job


def mark_cancelled(session: Session, job_id: int, worker: str | None = None) -> RenderJob:
    job = get_job(session, job_id)
    if JobStatus(job.status).finished or _owned_elsewhere(job, worker):
        return job
    job.status, job.finished_at, job.message = JobStatus.cancelled.value, utcnow(), "Cancelled"
    job.lease_expires_at = None
    session.add(job)
    counters.job_finished(session, job, released=ledger.refund(session, job_id))
    return job


def cancel(session: Session, job_id: int) -> RenderJob:
    """Queued jobs stop at once; running ones are asked to stop at their next progress step."""
    job = get_job(session, job_id)
    if job.status == JobStatus.queued.value:
        return mark_cancelled(session, job_id)
    if job.status == JobStatus.running.value:
        job.cancel_requested, job.message = True, "Cancelling…"
        session.add(job)
        return job
    raise Conflict(f"Job #{job_id} already {job.status}; nothing to cancel")


def retry(session: Session, job_id: int, *, billing: bool = False) -> RenderJob:
    """Queue a failed or cancelled job again; with `billing` its cost is reserved again."""
    job = get_job(session, job_id)
    if job.status not in RETRYABLE:
        raise Conflict(
            f"Job #{job_id} is {job.status}; only failed or cancelled jobs can be retried"
        )
    if billing:
        ledger.lock_account(session, job.owner)
        holds.reserve(session, job)
    job.status, job.error, job.progress, job.message = JobStatus.queued.value, None, 0.0, "Queued"
    job.attempts, job.cancel_requested, job.worker = 0, False, None
    job.queued_at, job.started_at, job.finished_at = utcnow(), None, None
    session.add(job)
    counters.job_retried(session, job, reserved=billing)
    return job


def set_priority(session: Session, job_id: int, priority: int) -> RenderJob:
    job = get_job(session, job_id)
    if job.status != JobStatus.queued.value:
        raise Conflict(f"Job #{job_id} is {job.status}; only queued jobs can be reprioritised")
    job.priority = priority
    session.add(job)
    return job


def requeue_abandoned(
    session: Session,
    *,
    now: datetime | None = None,
    dead_workers: Callable[[str], bool] | None = None,
) -> list[RenderJob]:
    """Running jobs whose lease expired (or whose worker is known dead) go back to the queue,
    or are quarantined as failed once they used up their attempts. Queued jobs waiting for a
    job that failed or was cancelled fail too: they can never run."""
    now = now or utcnow()
    fail_orphans(session)
    running = session.exec(
        select(RenderJob).where(RenderJob.status == JobStatus.running.value)
    ).all()
    moved = []
    for job in running:
        expired = job.lease_expires_at is None or job.lease_expires_at < now
        dead = dead_workers is not None and job.worker is not None and dead_workers(job.worker)
        if not (expired or dead):
            continue
        if job.cancel_requested:
            mark_cancelled(session, job.id)  # type: ignore[arg-type]
        elif job.attempts >= job.max_attempts:
            fail(
                session,
                job.id,  # type: ignore[arg-type]
                f"Quarantined: its worker stopped during each of {job.attempts} attempts "
                f"(last worker {job.worker})",
            )
        else:
            job.status, job.worker, job.lease_expires_at = JobStatus.queued.value, None, None
            job.message = f"Re-queued after its worker stopped (attempt {job.attempts})"
            session.add(job)
        moved.append(job)
    return moved


def pause(session: Session, owner: str) -> None:
    """Hold an owner's queued jobs; running ones finish."""
    if session.get(QueuePause, owner) is None:
        session.add(QueuePause(owner=owner))


def resume(session: Session, owner: str) -> None:
    paused = session.get(QueuePause, owner)
    if paused is not None:
        session.delete(paused)


def is_paused(session: Session, owner: str) -> bool:
    return session.get(QueuePause, owner) is not None


def move_before(session: Session, job_id: int, before_id: int) -> RenderJob:
    """Reorder: `job_id` runs right before `before_id` (both queued, same owner)."""
    job, before = get_job(session, job_id), get_job(session, before_id)
    if job.owner != before.owner:
        raise Conflict("Jobs of different owners cannot be reordered against each other")
    for item in (job, before):
        if item.status != JobStatus.queued.value:
            raise Conflict(f"Job #{item.id} is {item.status}; only queued jobs can be reordered")
    job.priority = before.priority
    job.queued_at = before.queued_at - timedelta(microseconds=1)
    session.add(job)
    return job


def fail_orphans(session: Session) -> list[RenderJob]:
    dead = select(RenderJob.id).where(
        col(RenderJob.status).in_([JobStatus.failed.value, JobStatus.cancelled.value])
    )
    orphans = session.exec(
        select(RenderJob)
        .where(RenderJob.status == JobStatus.queued.value)
        .where(col(RenderJob.depends_on).in_(dead))
    ).all()
    for job in orphans:
        fail(
            session,
            job.id,  # type: ignore[arg-type]
            f"Job #{job.depends_on}, whose result this job starts from, failed or was "
            "cancelled; retry it, then retry this one",
        )
    return list(orphans)
