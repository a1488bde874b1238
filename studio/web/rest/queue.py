"""The caller's place in the render queue: positions, pausing, reordering."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from studio.web.rest.common import StudioDep
from studio.web.rest.schemas import PausedOut, QueueEntry, QueueList

router = APIRouter(tags=["queue"])


@router.get("/queue", response_model=QueueList)
def queue(
    studio: StudioDep,
    job_ids: Annotated[list[int] | None, Query(description="Only these jobs (at most 500)")] = None,
) -> QueueList:
    """The queue position (1 = next) of each of the caller's queued jobs (an admin's: of
    every queued job), in queue order; with `job_ids`, of those of them that are queued."""
    positions = studio.queue_positions(job_ids)
    return QueueList(
        items=[
            QueueEntry(job_id=job_id, position=n)
            for job_id, n in sorted(positions.items(), key=lambda item: item[1])
        ]
    )


@router.get("/queue/paused", response_model=PausedOut)
def paused(studio: StudioDep) -> PausedOut:
    return PausedOut(paused=studio.queue_paused())


@router.post("/queue/pause", response_model=PausedOut)
def pause(studio: StudioDep) -> PausedOut:
    """Hold the caller's queued jobs; running ones finish."""
    studio.pause_queue()
    return PausedOut(paused=True)


@router.post("/queue/resume", response_model=PausedOut)
def resume(studio: StudioDep) -> PausedOut:
    """Let the caller's queued jobs run again."""
    studio.resume_queue()
    return PausedOut(paused=False)
