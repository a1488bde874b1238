"""Shots of a project: list, add, read, change, move, delete; their takes."""

from __future__ import annotations

from fastapi import APIRouter, Response

from studio.web.rest.common import Id, StudioDep
from studio.web.rest.schemas import (
    JobList,
    JobOut,
    MoveIn,
    ShotCreate,
    ShotList,
    ShotOut,
    ShotUpdate,
)

router = APIRouter(tags=["shots"])


@router.get("/projects/{project_id}/shots", response_model=ShotList)
def list_shots(studio: StudioDep, project_id: Id) -> ShotList:
    """The project's shots in order."""
    return ShotList(items=[ShotOut.model_validate(s) for s in studio.shots(project_id)])


@router.post("/projects/{project_id}/shots", response_model=ShotOut, status_code=201)
def add_shot(studio: StudioDep, project_id: Id, payload: ShotCreate) -> ShotOut:
    fields = payload.model_dump(exclude_unset=True)
    prompt, position = fields.pop("prompt", ""), fields.pop("position", None)
    return ShotOut.model_validate(studio.add_shot(project_id, prompt, position, **fields))


@router.get("/shots/{shot_id}", response_model=ShotOut)
def get_shot(studio: StudioDep, shot_id: Id) -> ShotOut:
    return ShotOut.model_validate(studio.shot(shot_id))


@router.patch("/shots/{shot_id}", response_model=ShotOut)
def update_shot(studio: StudioDep, shot_id: Id, payload: ShotUpdate) -> ShotOut:
    """Change the fields sent; a pipeline set to null falls back to the project's."""
    changes = payload.model_dump(exclude_unset=True)
    if changes.get("position", 0) is None:
        changes.pop("position")
    return ShotOut.model_validate(studio.update_shot(shot_id, **changes))


@router.delete("/shots/{shot_id}", status_code=204)
def delete_shot(studio: StudioDep, shot_id: Id) -> Response:
    """Delete the shot; its active jobs are cancelled (finished ones stay in the history)."""
    studio.delete_shot(shot_id)
    return Response(status_code=204)


@router.post("/shots/{shot_id}/move", response_model=ShotOut)
def move_shot(studio: StudioDep, shot_id: Id, payload: MoveIn) -> ShotOut:
    """Move the shot to `position` (0 = first); the others close up."""
    return ShotOut.model_validate(studio.move_shot(shot_id, payload.position))


@router.get("/shots/{shot_id}/takes", response_model=JobList)
def list_takes(studio: StudioDep, shot_id: Id) -> JobList:
    """The shot's finished clips, newest first."""
    return JobList(items=[JobOut.model_validate(j) for j in studio.takes(shot_id)])


@router.post("/shots/{shot_id}/takes/{job_id}/choose", response_model=ShotOut)
def choose_take(studio: StudioDep, shot_id: Id, job_id: Id) -> ShotOut:
    """Use this take in the film."""
    return ShotOut.model_validate(studio.choose_take(shot_id, job_id))
