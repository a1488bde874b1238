"""The caller's render jobs: a paged list, one job, cancel, retry, priority."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from studio.core.models import JobKind, JobStatus
from studio.web.rest.common import MAX_ID, MAX_PAGE, StudioDep, page_cursor
from studio.web.rest.schemas import JobPage

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
        items=jobs,
        next_cursor=str(jobs[-1].id) if more and jobs else None,
    )
