"""Projects: create, list, read, change, delete; break a script down into shots."""

from __future__ import annotations

from fastapi import APIRouter, Response

from studio.web.rest.common import Id, StudioDep
from studio.web.rest.schemas import (
    BreakdownIn,
    ProjectCreate,
    ProjectList,
    ProjectOut,
    ProjectUpdate,
    ShotList,
    ShotOut,
)

router = APIRouter(tags=["projects"])


@router.get("/projects", response_model=ProjectList)
def list_projects(studio: StudioDep) -> ProjectList:
    """The caller's film projects, newest first."""
    return ProjectList(items=[ProjectOut.model_validate(p) for p in studio.projects()])


@router.post("/projects", response_model=ProjectOut, status_code=201)
def create_project(studio: StudioDep, payload: ProjectCreate) -> ProjectOut:
    fields = payload.model_dump(exclude_none=True)
    name, script = fields.pop("name"), fields.pop("script", "")
    return ProjectOut.model_validate(studio.create_project(name, script, **fields))


@router.get("/projects/{project_id}", response_model=ProjectOut)
def get_project(studio: StudioDep, project_id: Id) -> ProjectOut:
    return ProjectOut.model_validate(studio.project(project_id))


@router.patch("/projects/{project_id}", response_model=ProjectOut)
def update_project(studio: StudioDep, project_id: Id, payload: ProjectUpdate) -> ProjectOut:
    """Change the fields sent (the script changes through /breakdown)."""
    changes = payload.model_dump(exclude_unset=True)
    return ProjectOut.model_validate(studio.update_project(project_id, **changes))


@router.delete("/projects/{project_id}", status_code=204)
def delete_project(studio: StudioDep, project_id: Id) -> Response:
    """Delete the project, its shots and its jobs (active ones are cancelled and refunded)."""
    studio.delete_project(project_id)
    return Response(status_code=204)


@router.post("/projects/{project_id}/breakdown", response_model=ShotList)
def breakdown(studio: StudioDep, project_id: Id, payload: BreakdownIn) -> ShotList:
    """Replace the project's shots with a fresh breakdown of `script` (or the saved one)."""
    shots = studio.breakdown(project_id, payload.script)
    return ShotList(items=[ShotOut.model_validate(s) for s in shots])
