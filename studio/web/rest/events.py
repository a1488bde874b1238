"""Live job events as server-sent events (text/event-stream): one job until it finishes, or
every job of a project for as long as the client listens. See docs/events.md."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import APIRouter, Header
from fastapi.responses import StreamingResponse

from studio.farm.events import Watch
from studio.web.rest.common import Id, StudioDep

router = APIRouter(tags=["events"])


MEDIA_TYPE = "text/event-stream"
HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}  # no proxy buffering

_EVENTS = (
    "`snapshot` (first: the current state from the database), `progress` (each progress "
    "report, in order), `status` (a job finished: status, error, artifact_id, cost), `gap` "
    "(this stream fell behind and lost `dropped` events), `gone` (deleted) and `: ping` "
    "comments every 15 s. Each event has an `id:`, the server's clock in ms when it was "
    "sent (increasing within a stream); `data:` is JSON. A project stream opened with "
    "`Last-Event-ID` (an EventSource reconnecting sends it) also sends, after its "
    "snapshot, a `status` for each job that finished since that event (those of the few "
    "seconds before it may come again)."
)


# Before OpenAPI 3.2 the `schema` of text/event-stream describes each event.
EVENT_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["event", "data", "id"],
    "properties": {
        "event": {"type": "string", "enum": ["snapshot", "progress", "status", "gap", "gone"]},
        "data": {"type": "string", "contentMediaType": "application/json"},
        "id": {"type": "string", "description": "the server's clock in ms, increasing"},
    },
}


def _stream_doc(description: str) -> dict[int | str, dict[str, Any]]:
    return {200: {"description": description, "content": {MEDIA_TYPE: {"schema": EVENT_SCHEMA}}}}


async def frames(watch: Watch) -> AsyncIterator[bytes]:
    """The watch's events in the text/event-stream format. An event's id is when it was
    sent (ms), so a client back after a cut can say from when it needs the ends it missed
    (`Last-Event-ID`); one more than the last where the clock did not move."""
    number = 0
    async for name, data in watch.events():
        if name == "ping":
            yield b": ping\n\n"
            continue
        number = max(number + 1, int(time.time() * 1000))
        payload = json.dumps(data, separators=(",", ":"))
        yield f"id: {number}\nevent: {name}\ndata: {payload}\n\n".encode()


@router.get(
    "/jobs/{job_id}/events",
    response_class=StreamingResponse,  # no media type: the error responses stay JSON
    responses=_stream_doc("The job's events; the stream ends when the job has finished"),
    description="Live events of one job: its snapshot, each progress report and, when it "
    "finishes, its final status; a finished job gets its snapshot and status at once. " + _EVENTS,
)
def job_events(studio: StudioDep, job_id: Id) -> StreamingResponse:
    """Live events of one job, until it finishes."""
    watch = studio.watch(job_id=job_id)  # 404 for a job that is not the caller's
    return StreamingResponse(frames(watch), media_type=MEDIA_TYPE, headers=HEADERS)


@router.get(
    "/projects/{project_id}/events",
    response_class=StreamingResponse,  # no media type: the error responses stay JSON
    responses=_stream_doc("The project's job events; the stream does not end on its own"),
    description="Live events of every job of a project, jobs submitted after the stream "
    "opened included: a snapshot of its active jobs (`{project, jobs}`), then progress "
    "reports and a status per finished job. " + _EVENTS,
)
def project_events(
    studio: StudioDep,
    project_id: Id,
    last_event_id: Annotated[str | None, Header(alias="Last-Event-ID")] = None,
) -> StreamingResponse:
    """Live events of every job of a project, for as long as the client listens."""
    # 404: a project that is not the caller's. An id that is not ours: a fresh stream.
    watch = studio.watch(project_id=project_id, last_event_id=last_event_id)
    return StreamingResponse(frames(watch), media_type=MEDIA_TYPE, headers=HEADERS)
