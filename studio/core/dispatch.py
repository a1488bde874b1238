"""Which queued jobs go to the farm next, in fair order (the Redis dispatcher's question).

Fair share, not a fixed cap: within the top priority the owner with the fewest jobs in flight
goes next, so one creator's backlog fills every idle worker when nobody else waits, and a
second creator's first job is the next one handed out. That job is also marked to jump the
jobs already waiting in Redis (`Plan.first`), so it starts when the next worker frees up,
within one job length, instead of behind the backlog's window. A fixed cap per owner
(`max_running`, the `max_running_per_user` setting) stays available.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import func, true
from sqlmodel import Session, col, select

from studio.core.lifecycle import claim_job, ready
from studio.core.models import JobKind, JobStatus, RenderJob


@dataclass
class Plan:
    """The jobs to hand out, in order; `first`: those whose owner had nothing in flight."""

    jobs: list[RenderJob] = field(default_factory=list)
    first: set[int] = field(default_factory=set)


def dispatch_plan(
    session: Session,
    *,
    exclude: set[int] | frozenset[int] = frozenset(),
    limit: int = 10,
    max_running: int | None = None,
) -> Plan:
    """The next queued jobs to hand to workers: priority first, then a round-robin across
    owners (weighted by what each already has in flight), then age, so one creator's 200
    shots do not starve another's single shot. `exclude` are jobs already handed out
    (waiting in Redis): they count as in flight. With `max_running`, no owner gets more.

    Reads at most `limit` queued jobs per owner (each owner's next ones, by a window
    function), so a cycle costs the same with a backlog of 30 jobs or 30,000."""
    plan = Plan()
    if limit <= 0:
        return plan
    order = (col(RenderJob.priority).desc(), col(RenderJob.queued_at), col(RenderJob.id))
    waiting = [RenderJob.status == JobStatus.queued.value, ready()]
    ranked = (
        select(
            col(RenderJob.id).label("id"),
            func.row_number().over(partition_by=col(RenderJob.owner), order_by=order).label("rank"),
        )
        .where(*waiting)
        .where(col(RenderJob.id).not_in(list(exclude)) if exclude else true())
        .subquery()
    )
    candidates = select(ranked.c.id).where(ranked.c.rank <= limit)
    remaining = list(
        session.exec(
            select(RenderJob).where(col(RenderJob.id).in_(candidates)).order_by(*order)
        ).all()
    )
    counts = select(RenderJob.owner, func.count()).group_by(RenderJob.owner)
    running = session.exec(counts.where(RenderJob.status == JobStatus.running.value)).all()
    load = {owner: int(n) for owner, n in running}
    if exclude:  # handed out and still queued: in flight too
        for owner, n in session.exec(
            counts.where(*waiting).where(col(RenderJob.id).in_(list(exclude)))
        ).all():
            load[owner] = load.get(owner, 0) + int(n)
    if max_running is not None:
        remaining = [job for job in remaining if load.get(job.owner, 0) < max_running]
    while remaining and len(plan.jobs) < limit:
        top = remaining[0].priority
        tier = [job for job in remaining if job.priority == top]
        # Within the top priority, the owner with the least in flight goes next.
        job = min(tier, key=lambda j: (load.get(j.owner, 0), j.queued_at, j.id or 0))
        if load.get(job.owner, 0) == 0 and job.id is not None:
            plan.first.add(job.id)
        plan.jobs.append(job)
        load[job.owner] = load.get(job.owner, 0) + 1
        remaining.remove(job)
        if max_running is not None and load[job.owner] >= max_running:
            remaining = [other for other in remaining if other.owner != job.owner]
    return plan


def dispatch_order(
    session: Session,
    *,
    exclude: set[int] | frozenset[int] = frozenset(),
    limit: int = 10,
    max_running: int | None = None,
) -> list[RenderJob]:
    """The jobs of `dispatch_plan`, in order."""
    return dispatch_plan(session, exclude=exclude, limit=limit, max_running=max_running).jobs


def claim_similar(
    session: Session,
    job: RenderJob,
    worker: str,
    lease_seconds: float,
    limit: int,
    max_running: int | None = None,
) -> list[RenderJob]:
    """Claim up to `limit` more queued previews that can share `job`'s batch: same
    pipeline, same size (the next in dispatch order, so batching never jumps the queue much)."""
    request, pipeline = job.params.get("request", {}), job.params.get("pipeline", {})
    key = (pipeline.get("name"), request.get("width"), request.get("height"))
    claimed: list[RenderJob] = []
    for other in dispatch_order(session, limit=50, max_running=max_running):
        if len(claimed) >= limit:
            break
        other_request = other.params.get("request", {})
        other_key = (
            other.params.get("pipeline", {}).get("name"),
            other_request.get("width"),
            other_request.get("height"),
        )
        if other.kind == JobKind.preview.value and other_key == key and other.id is not None:
            taken = claim_job(session, other.id, worker, lease_seconds)
            if taken is not None:
                claimed.append(taken)
    return claimed
