"""Read-only questions about jobs: where a queued job stands, in the order workers take
them, and which renders the render cache can serve. State changes live in
studio.core.lifecycle; these only read."""

from __future__ import annotations

from collections.abc import Collection

from sqlalchemy import func
from sqlmodel import Session, col, select

from studio.core.models import Artifact, JobStatus, RenderJob


def queue_position(session: Session, job: RenderJob) -> int | None:
    """1-based position among queued jobs, in the order workers take them."""
    if job.status != JobStatus.queued.value:
        return None
    ahead = session.exec(
        select(func.count())
        .select_from(RenderJob)
        .where(RenderJob.status == JobStatus.queued.value)
        .where(
            (col(RenderJob.priority) > job.priority)
            | (
                (col(RenderJob.priority) == job.priority)
                & (col(RenderJob.queued_at) < job.queued_at)
            )
            | (
                (col(RenderJob.priority) == job.priority)
                & (col(RenderJob.queued_at) == job.queued_at)
                & (col(RenderJob.id) < job.id)
            )
        )
    ).one()
    return int(ahead) + 1


def queue_positions(session: Session, job_ids: Collection[int] | None = None) -> dict[int, int]:
    """1-based positions of queued jobs, in the order workers take them: of every one, or of
    `job_ids` only (then the database numbers the queue and returns just those rows, so a
    page of the queue table reads as much with 3,000 jobs queued as with 30)."""
    queued = RenderJob.status == JobStatus.queued.value
    order = (col(RenderJob.priority).desc(), col(RenderJob.queued_at), col(RenderJob.id))
    if job_ids is None:
        ids = session.exec(select(RenderJob.id).where(queued).order_by(*order)).all()
        return {job_id: n for n, job_id in enumerate(ids, 1) if job_id is not None}
    if not job_ids:
        return {}
    ranked = (
        select(col(RenderJob.id).label("id"), func.row_number().over(order_by=order).label("n"))
        .where(queued)
        .subquery()
    )
    rows = session.exec(select(ranked.c.id, ranked.c.n).where(ranked.c.id.in_(list(job_ids))))
    return {int(job_id): int(n) for job_id, n in rows.all()}


def succeeded_digests(session: Session, owner: str, digests: Collection[str]) -> set[str]:
    """Which of these params hashes `owner` has a succeeded job of (what the render cache
    serves them), 500 per query (the queue tab reprices a whole project as renders end)."""
    ordered, found = sorted(set(digests)), set[str]()
    for start in range(0, len(ordered), 500):
        found.update(
            session.exec(
                select(RenderJob.params_hash).where(
                    RenderJob.owner == owner,
                    col(RenderJob.params_hash).in_(ordered[start : start + 500]),
                    RenderJob.status == JobStatus.succeeded.value,
                )
            ).all()
        )
    return found


def succeeded_artifact(session: Session, digest: str) -> Artifact | None:
    """The artifact of the newest succeeded job with these resolved params, if any."""
    job = session.exec(
        select(RenderJob)
        .where(RenderJob.params_hash == digest, RenderJob.status == JobStatus.succeeded.value)
        .order_by(col(RenderJob.id).desc())
    ).first()
    return session.get(Artifact, job.artifact_id) if job and job.artifact_id else None
