"""The Lab: single renders and sweeps of a catalogue pipeline with tweaked parameters, the
caller's Lab jobs, and saving tweaks as a preset."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse

from studio.core.models import JobPublic
from studio.web.rest.common import BILLED, MAX_PAGE, StudioDep
from studio.web.rest.idempotency import KeyHeader, run_once
from studio.web.rest.renders import job_list
from studio.web.rest.schemas import JobList, LabRunIn, LabSweepIn, PresetIn, PresetOut

router = APIRouter(tags=["lab"])


@router.post("/lab/runs", response_model=JobPublic, status_code=202, responses=BILLED)
def lab_run(
    studio: StudioDep, request: Request, payload: LabRunIn, idempotency_key: KeyHeader = None
) -> JSONResponse:
    """Queue one render of a pipeline with tweaked parameters (in the caller's Lab)."""

    def action() -> tuple[int, Any]:
        job = studio.lab_run(
            payload.pipeline,
            payload.prompt,
            negative_prompt=payload.negative_prompt,
            seed=payload.seed,
            overrides=dict(payload.overrides or {}),
            lora_scale=payload.lora_scale,
            memory=payload.memory,
            progress=False,
        )
        return 202, job.model_dump(mode="json")

    return run_once(studio, request, idempotency_key, payload, action)


@router.post("/lab/sweeps", response_model=JobList, status_code=202, responses=BILLED)
def lab_sweep(
    studio: StudioDep, request: Request, payload: LabSweepIn, idempotency_key: KeyHeader = None
) -> JSONResponse:
    """Queue a grid over one or two parameters (e.g. seed × guidance), one job per cell; all
    are accepted and paid for, or none."""

    def action() -> tuple[int, Any]:
        jobs = studio.lab_sweep(
            payload.pipeline,
            payload.prompt,
            axes={k: list(v) for k, v in payload.axes.items()},
            negative_prompt=payload.negative_prompt,
            seed=payload.seed,
            overrides=dict(payload.overrides or {}),
            lora_scale=payload.lora_scale,
            memory=payload.memory,
            progress=False,
        )
        return 202, job_list(jobs)

    return run_once(studio, request, idempotency_key, payload, action)


@router.get("/lab/jobs", response_model=JobList)
def lab_jobs(studio: StudioDep, limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 60) -> JobList:
    """The caller's Lab jobs, newest first."""
    return JobList(items=studio.lab_jobs(limit=limit))


@router.post("/presets", response_model=PresetOut)
def save_preset(studio: StudioDep, payload: PresetIn) -> PresetOut:
    """Save tweaks as a catalogue entry that shots and projects can name; presets are shared
    by the studio, and only their maker (or an admin) can change one (409)."""
    entry = studio.save_preset(
        payload.name,
        payload.pipeline,
        dict(payload.overrides or {}),
        lora_scale=payload.lora_scale,
        memory=payload.memory,
        description=payload.description,
    )
    return PresetOut(
        name=entry.name,
        tasks=list(entry.tasks),
        description=entry.description,
        defaults=dict(entry.defaults),
    )
