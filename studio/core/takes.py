"""Which of a shot's renders it uses: its preview, its chosen take and its chosen line take
(the film's), and how long a shot with a spoken line lasts.

Applied when a job succeeds, rendered or served by the render cache (studio.core.lifecycle)."""

from __future__ import annotations

import functools
from typing import Any

from sqlalchemy import bindparam, func, update
from sqlmodel import Session, col, select

from studio.core.db import expire_loaded
from studio.core.models import Artifact, JobKind, JobStatus, RenderJob, Shot
from studio.core.voices import duration_for


def link_result(session: Session, job: RenderJob, *, preview_linked: bool = False) -> None:
    """A fresh preview becomes the shot's preview. A take becomes the shot's choice when it
    is the first, or when the choice was following the newest take and the shot was edited
    since (other params: the new take is what the creator asked for). A choice of an older
    take stays, and so does one when the new take renders the same params.
    `preview_linked`: the statement that made the job succeed linked a preview already
    (`preview_link`, PostgreSQL)."""
    if job.shot_id is None:
        return
    if job.kind == JobKind.preview.value:  # one UPDATE, without loading the shot (hot path)
        if not preview_linked:
            session.connection().execute(_preview_link(), {"shot": job.shot_id, "job": job.id})
        expire_loaded(session, Shot, job.shot_id)  # a copy read earlier shows the new preview
        return
    shot = session.get(Shot, job.shot_id)
    if shot is None:
        return
    if job.kind == JobKind.clip.value:
        if _takes_over(session, job, shot.chosen_take_id):
            shot.chosen_take_id = job.id
    elif job.kind == JobKind.speech.value and _takes_over(session, job, shot.chosen_line_id):
        choose_line(session, shot, job)
    session.add(shot)


@functools.cache
def _preview_link() -> Any:
    """Built once (Core): every finished preview runs it."""
    return (
        update(Shot)
        .where(col(Shot.id) == bindparam("shot"))
        .values(preview_job_id=bindparam("job"))
    )


def preview_link(succeeded: Any) -> Any:
    """`link_result`'s rule for a preview as one UPDATE reading the jobs that just succeeded
    from `succeeded` (a CTE with RenderJob's columns): the shot of a succeeded preview shows
    it. For `studio.core.success_sql`, which runs it in the success's own statement."""
    return (
        update(Shot)
        .where(col(Shot.id) == succeeded.c.shot_id, succeeded.c.kind == JobKind.preview.value)
        .values(preview_job_id=succeeded.c.id)
    )


def choose_line(session: Session, shot: Shot, job: RenderJob) -> None:
    """`job` (a succeeded speech job of the shot) becomes the line its film uses; the shot
    lasts as long as the line and a breath after it, unless its duration is pinned."""
    shot.chosen_line_id = job.id
    if not shot.duration_pinned:
        shot.duration = duration_for(shot.line_offset, speech_seconds(session, job))


def _takes_over(session: Session, job: RenderJob, chosen_id: int | None) -> bool:
    chosen = session.get(RenderJob, chosen_id) if chosen_id else None
    return chosen is None or (
        chosen.params_hash != job.params_hash and chosen.id == _newest_take(session, job)
    )


def speech_seconds(session: Session, job: RenderJob) -> float:
    """How long a succeeded speech job's line lasts (recorded when it was rendered)."""
    artifact = session.get(Artifact, job.artifact_id) if job.artifact_id else None
    speech = (artifact.provenance.get("speech") if artifact else None) or {}
    return float(speech.get("seconds", 0.0))


def _newest_take(session: Session, job: RenderJob) -> int | None:
    """The id of the shot's newest finished take of the same kind before `job`."""
    return session.exec(
        select(func.max(RenderJob.id)).where(
            RenderJob.shot_id == job.shot_id,
            RenderJob.kind == job.kind,
            RenderJob.status == JobStatus.succeeded.value,
            RenderJob.id != job.id,
        )
    ).one()
