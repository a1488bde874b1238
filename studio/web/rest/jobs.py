"""The caller's render jobs: a paged list, one job, cancel, retry, priority."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from studio.core.models import JobKind, JobStatus
from studio.web.rest.common import BILLED, MAX_ID, MAX_PAGE, Id, StudioDep, page_cursor
from studio.web.rest.schemas import JobOut, JobPage, PriorityIn

router = APIRouter(tags=["jobs"])


@router.get("/jobs", response_model=JobPage)
def list_jobs(
    studio: StudioDep,
    project_id: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None,
    status: Annotated[list[JobStatus] | None, Query(description="Any of these")] = None,
    kind: Annotated[list[JobKind] | None, Query(description="Any of these")] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 50,
    cursor: Annotated[str | None, Query(max_length=40, description="`next_cursor`")] = None,
) -> JobPage:
    """Newest first, `limit` per page; follow `next_cursor` until it is null."""
    if project_id is not None:
        studio.project(project_id)  # 404 for a project that is not the caller's
    jobs = studio.jobs(
        project_id,
        statuses=[s.value for s in status] if status else None,
        kinds=[k.value for k in kind] if kind else None,
        limit=limit + 1,
        before_id=page_cursor(cursor),
    )
    more = len(jobs) > limit
    jobs = jobs[:limit]
    return JobPage(
        items=[JobOut.model_validate(j) for j in jobs],
        next_cursor=str(jobs[-1].id) if more and jobs else None,
    )


@router.get("/jobs/{job_id}", response_model=JobOut)
def get_job(studio: StudioDep, job_id: Id) -> JobOut:
    return JobOut.model_validate(studio.job(job_id))


@router.post("/jobs/{job_id}/cancel", response_model=JobOut)
def cancel_job(studio: StudioDep, job_id: Id) -> JobOut:
    """Cancel a queued or running job; its held credits are refunded (409 once finished)."""
    return JobOut.model_validate(studio.cancel(job_id))


@router.post("/jobs/{job_id}/retry", response_model=JobOut, responses=BILLED)
def retry_job(studio: StudioDep, job_id: Id) -> JobOut:
    """Queue a failed or cancelled job again (charged again)."""
    return JobOut.model_validate(studio.retry(job_id))


@router.post("/jobs/{job_id}/priority", response_model=JobOut)
def set_priority(studio: StudioDep, job_id: Id, payload: PriorityIn) -> JobOut:
    """Change a queued job's priority (higher runs sooner)."""
    return JobOut.model_validate(studio.set_priority(job_id, payload.priority))


@router.post("/jobs/{job_id}/raise", response_model=JobOut)
def raise_priority(studio: StudioDep, job_id: Id) -> JobOut:
    """Move a queued job to the front: one above the highest queued priority (409 unless
    queued)."""
    return JobOut.model_validate(studio.raise_priority(job_id))
