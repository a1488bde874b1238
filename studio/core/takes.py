"""Which of a shot's renders it uses: its preview, and its chosen take (the film's).

Applied when a job succeeds, rendered or served by the render cache (studio.core.lifecycle)."""

from __future__ import annotations

from sqlalchemy import func
from sqlmodel import Session, select

from studio.core.models import JobKind, JobStatus, RenderJob, Shot


def link_result(session: Session, job: RenderJob) -> None:
    """A fresh preview becomes the shot's preview. A take becomes the shot's choice when it
    is the first, or when the choice was following the newest take and the shot was edited
    since (other params: the new take is what the creator asked for). A choice of an older
    take stays, and so does one when the new take renders the same params."""
    if job.shot_id is None:
        return
    shot = session.get(Shot, job.shot_id)
    if shot is None:
        return
    if job.kind == JobKind.preview.value:
        shot.preview_job_id = job.id
    elif job.kind == JobKind.clip.value:
        chosen = session.get(RenderJob, shot.chosen_take_id) if shot.chosen_take_id else None
        if chosen is None or (
            chosen.params_hash != job.params_hash and chosen.id == _newest_take(session, job)
        ):
            shot.chosen_take_id = job.id
    session.add(shot)


def _newest_take(session: Session, job: RenderJob) -> int | None:
    """The id of the shot's newest finished take before `job`."""
    return session.exec(
        select(func.max(RenderJob.id)).where(
            RenderJob.shot_id == job.shot_id,
            RenderJob.kind == JobKind.clip.value,
            RenderJob.status == JobStatus.succeeded.value,
            RenderJob.id != job.id,
        )
    ).one()
