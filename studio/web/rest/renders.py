"""Rendering a project's shots: preview frames, clips (takes), and what they would cost."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse
from pydantic import Field

from studio.api import Studio
from studio.core.models import JobPublic
from studio.web.rest.common import BILLED, MAX_ID, Id, StudioDep
from studio.web.rest.idempotency import KeyHeader, run_once
from studio.web.rest.schemas import EstimateOut, JobList, SubmitIn

router = APIRouter(tags=["renders"])


def job_list(jobs: list[JobPublic]) -> dict[str, Any]:
    return JobList(items=jobs).model_dump(mode="json")


def _submit(
    studio: Studio,
    request: Request,
    key: str | None,
    payload: SubmitIn | None,
    kind: Literal["preview", "clip"],
    project_id: int,
) -> JSONResponse:
    payload = payload or SubmitIn()
    submit = studio.preview if kind == "preview" else studio.render

    def action() -> tuple[int, Any]:
        jobs = submit(project_id, payload.shot_ids, priority=payload.priority, progress=False)
        return 202, job_list(jobs)

    return run_once(studio, request, key, payload, action)


@router.post(
    "/projects/{project_id}/previews", response_model=JobList, status_code=202, responses=BILLED
)
def submit_previews(
    studio: StudioDep,
    request: Request,
    project_id: Id,
    idempotency_key: KeyHeader = None,
    payload: SubmitIn | None = None,
) -> JSONResponse:
    """Queue a preview frame for each shot (or `shot_ids`). Jobs the render cache can serve
    come back already succeeded."""
    return _submit(studio, request, idempotency_key, payload, "preview", project_id)


@router.post(
    "/projects/{project_id}/renders", response_model=JobList, status_code=202, responses=BILLED
)
def submit_renders(
    studio: StudioDep,
    request: Request,
    project_id: Id,
    idempotency_key: KeyHeader = None,
    payload: SubmitIn | None = None,
) -> JSONResponse:
    """Queue a clip (a take) for each shot (or `shot_ids`); all are accepted and paid for,
    or none."""
    return _submit(studio, request, idempotency_key, payload, "clip", project_id)


@router.get("/projects/{project_id}/estimate", response_model=EstimateOut)
def estimate(
    studio: StudioDep,
    project_id: Id,
    kind: Literal["clip", "preview"] = "clip",
    shot_ids: Annotated[
        list[Annotated[int, Field(ge=1, le=MAX_ID)]] | None,
        Query(max_length=1000, description="Default: every shot"),
    ] = None,
) -> EstimateOut:
    """What rendering these shots would cost now, in credits (cache hits at their price)."""
    return EstimateOut(kind=kind, credits=studio.estimate(project_id, shot_ids, kind))
