"""Taking back a cut edited in an editing suite: the .otio, .fcpxml or .edl file as the raw
request body. The rest of the timeline (read, edit, cuts, export) and the team's sharing,
review and comments are routed StudioAPI methods (studio/web/rest/derived.py)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from starlette.concurrency import run_in_threadpool

from studio.core.timeline import TimelinePublic
from studio.web.rest.common import Id, StudioDep

router = APIRouter(tags=["timeline"])

Filename = Annotated[
    str | None,
    Query(
        min_length=1,
        max_length=200,
        description="The file's name: its suffix (.otio, .fcpxml, .edl) says its format",
    ),
]


@router.put(
    "/projects/{project_id}/cut",
    response_model=TimelinePublic,
    openapi_extra={
        "requestBody": {
            "required": True,
            "description": "The edited cut: an OpenTimelineIO (.otio), FCPXML or CMX 3600 EDL "
            "file exported by POST /projects/{project_id}/cuts/export and edited",
            "content": {"application/octet-stream": {"schema": {"type": "string"}}},
        }
    },
)
async def import_cut(
    studio: StudioDep, request: Request, project_id: Id, filename: Filename = None
) -> TimelinePublic:
    """The edited cut's order, trims and transitions become the timeline, all or nothing;
    clips that are not this project's takes are listed in `notes`. A body that is not a cut
    in the format its file name says is a 422."""
    data = await request.body()
    return await run_in_threadpool(studio.import_cut, project_id, data, filename)
