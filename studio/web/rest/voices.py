"""Speaking lines: a speech job per shot's line, and a voice preview (any text, any voice).
Both are submissions (idempotent with a key); the engines' voices and a shot's spoken lines
are routed StudioAPI methods (studio/web/rest/derived.py). And a shot's sound: the audio
file as the raw request body."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from studio.core.models import JobPublic, ShotPublic
from studio.web.rest.common import BILLED, Id, StudioDep
from studio.web.rest.idempotency import KeyHeader, run_once
from studio.web.rest.renders import job_list
from studio.web.rest.schemas import JobList, LinesIn, VoicePreviewIn

router = APIRouter(tags=["voices"])


@router.post(
    "/projects/{project_id}/lines", response_model=JobList, status_code=202, responses=BILLED
)
def speak(
    studio: StudioDep,
    request: Request,
    project_id: Id,
    idempotency_key: KeyHeader = None,
    payload: LinesIn | None = None,
) -> JSONResponse:
    """Queue a speech job for each shot's line (or `shot_ids`'), in its speaker's voice;
    shots without a line are skipped. A line's take sets its shot's duration unless pinned.
    `seed`: another take of the same lines."""
    options = payload or LinesIn()

    def action() -> tuple[int, Any]:
        jobs = studio.speak(
            project_id,
            options.shot_ids,
            seed=options.seed,
            priority=options.priority,
            progress=False,
        )
        return 202, job_list(jobs)

    return run_once(studio, request, idempotency_key, options, action)


@router.post(
    "/projects/{project_id}/voice-preview",
    response_model=JobPublic,
    status_code=202,
    responses=BILLED,
)
def preview_voice(
    studio: StudioDep,
    request: Request,
    project_id: Id,
    idempotency_key: KeyHeader = None,
    payload: VoicePreviewIn | None = None,
) -> JSONResponse:
    """Queue `text` spoken in a cast member's voice (or the narrator's), with any of engine,
    voice, speed and pitch changed; the job's artifact is the WAV."""
    options = payload or VoicePreviewIn()

    def action() -> tuple[int, Any]:
        voice = options.model_dump()  # member_id, engine, voice, speed, pitch (null: its own)
        job = studio.preview_voice(project_id, voice.pop("text"), wait=False, **voice)
        return 202, job.model_dump(mode="json")

    return run_once(studio, request, idempotency_key, options, action)


_AUDIO = {"schema": {"type": "string", "format": "binary"}}


@router.put(
    "/shots/{shot_id}/sound",
    response_model=ShotPublic,
    openapi_extra={
        "requestBody": {
            "required": True,
            "description": "The audio file's bytes (WAV, MP3, Ogg, FLAC, M4A or AAC: known by "
            "their first bytes, whatever the Content-Type), up to the studio's max_audio_bytes",
            "content": {"application/octet-stream": _AUDIO},
        }
    },
)
async def set_shot_sound(studio: StudioDep, request: Request, shot_id: Id) -> ShotPublic:
    """Put a sound under a shot in the film (room tone, effects), looped or cut to the shot's
    time on screen, at the shot's `sound_gain_db` (PATCH the shot to change it). A body that is
    not an audio file PyAV decodes is a 422."""
    data = await request.body()
    return await run_in_threadpool(studio.set_shot_sound, shot_id, data)
