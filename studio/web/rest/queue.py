"""The caller's place in the render queue: positions, pausing, reordering."""

from __future__ import annotations

from fastapi import APIRouter

from studio.web.rest.common import StudioDep
from studio.web.rest.schemas import PausedOut, QueueEntry, QueueList

router = APIRouter(tags=["queue"])


@router.get("/queue", response_model=QueueList)
def queue(studio: StudioDep) -> QueueList:
    """The queue position (1 = next) of each of the caller's queued jobs (an admin's: of
    every queued job), in queue order."""
    positions = studio.queue_positions()
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
