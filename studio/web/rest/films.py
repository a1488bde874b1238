"""Assembling a project's chosen takes into a film."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from studio.core.models import JobPublic
from studio.web.rest.common import BILLED, Id, StudioDep
from studio.web.rest.idempotency import KeyHeader, run_once
from studio.web.rest.schemas import FilmIn

router = APIRouter(tags=["films"])


@router.post(
    "/projects/{project_id}/film", response_model=JobPublic, status_code=202, responses=BILLED
)
def assemble(
    studio: StudioDep,
    request: Request,
    project_id: Id,
    idempotency_key: KeyHeader = None,
    payload: FilmIn | None = None,
) -> JSONResponse:
    """Queue the film: each shot's chosen take (else its newest), in shot order, with each
    shot's spoken line and subtitles. Its `artifact_id` is the MP4 once the job succeeds; the
    artifact's `provenance.attachments` holds the ids of its `srt` and `vtt` subtitle files."""
    options = payload or FilmIn()

    def action() -> tuple[int, Any]:
        job = studio.assemble(
            project_id,
            crossfade=options.crossfade,
            title=options.title,
            title_seconds=options.title_seconds,
            dialogue=options.dialogue,
            subtitles=options.subtitles,
            burn_subtitles=options.burn_subtitles,
            speaker_names=options.speaker_names,
            loudness=options.loudness,
            priority=options.priority,
            progress=False,
        )
        return 202, job.model_dump(mode="json")

    return run_once(studio, request, idempotency_key, options, action)
