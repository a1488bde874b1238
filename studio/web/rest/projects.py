"""Projects: create, list, read, change, delete; break a script down into shots."""

from __future__ import annotations

from fastapi import APIRouter

from studio.surface.requests import BreakdownIn
from studio.web.rest.common import Id, StudioDep
from studio.web.rest.schemas import (
    ShotList,
)

router = APIRouter(tags=["projects"])


@router.post("/projects/{project_id}/breakdown", response_model=ShotList)
def breakdown(studio: StudioDep, project_id: Id, payload: BreakdownIn) -> ShotList:
    """Replace the project's shots with a fresh breakdown of `script` (or the saved one)."""
    shots = studio.breakdown(project_id, payload.script)
    return ShotList(items=shots)
