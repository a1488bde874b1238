"""What the REST API sends and accepts beyond the routed methods' own models: the read models
(`ProjectPublic`, `ShotPublic`, `JobPublic`, ... in studio/core/models.py, never the tables,
so an internal column is not published by accident), the request bodies of the routed
methods (studio/surface/requests.py) and the shapes of the hand-written routes."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from studio.core.models import (
    ArtifactPublic,
    JobPublic,
    ProjectPublic,
    ShotPublic,
    TokenPublic,
    UserPublic,
    WorkerPublic,
)
from studio.surface.requests import MAX_ID, PRIORITY, In, ShotId


class Out(BaseModel):
    model_config = ConfigDict(from_attributes=True)


# ---- errors -------------------------------------------------------------------------------
class ErrorDetail(BaseModel):
    code: str = Field(description="snake_case error class, e.g. not_found, invalid_input")
    message: str = Field(description="What went wrong, written for a person")
    field: str | None = Field(default=None, description="The input field at fault, if any")


class ErrorOut(BaseModel):
    error: ErrorDetail


# ---- projects -----------------------------------------------------------------------------
class ProjectList(BaseModel):
    items: list[ProjectPublic]


# ---- shots --------------------------------------------------------------------------------
class ShotList(BaseModel):
    items: list[ShotPublic]


# ---- jobs ---------------------------------------------------------------------------------
class JobList(BaseModel):
    items: list[JobPublic]


class JobPage(BaseModel):
    items: list[JobPublic]
    next_cursor: str | None = Field(description="Pass as `cursor` for the next page; null: done")


class SubmitIn(In):
    shot_ids: list[ShotId] | None = Field(
        default=None, max_length=1000, description="Default: every shot"
    )
    priority: int = PRIORITY


class LinesIn(SubmitIn):
    seed: int | None = Field(
        default=None, ge=0, le=MAX_ID, description="Another take: this seed, not the shots'"
    )


class FilmIn(In):
    crossfade: float = Field(default=0.0, ge=0, le=5, description="Seconds between takes")
    title: str | None = Field(
        default=None,
        max_length=200,
        description='A title card; null: the script\'s title page, if any; "": none',
    )
    title_seconds: float = Field(default=2.0, ge=0.5, le=10)
    dialogue: bool = Field(default=True, description="Each shot's spoken line at its offset")
    subtitles: bool = Field(
        default=True, description="SRT and WebVTT beside the film, and a soft subtitle track"
    )
    burn_subtitles: bool = Field(default=False, description="Subtitles drawn into the picture")
    speaker_names: bool = Field(default=False, description='Cues say who speaks: "Anna: …"')
    loudness: float | None = Field(
        default=-16.0, ge=-40, le=-5, description="Integrated LUFS of the mix; null: as mixed"
    )
    priority: int = PRIORITY


class VoicePreviewIn(In):
    text: str = Field(
        default="", max_length=2000, description="What to say; empty: a sample sentence"
    )
    member_id: int | None = Field(
        default=None, ge=1, le=MAX_ID, description="Speak as this cast member; null: narrator"
    )
    engine: str | None = Field(default=None, max_length=100, description="null: the voice's")
    voice: str | None = Field(default=None, max_length=64, description="null: the voice's")
    speed: float | None = Field(default=None, ge=0.5, le=2)
    pitch: float | None = Field(default=None, ge=-12, le=12)


class EstimateOut(BaseModel):
    kind: Literal["clip", "preview"]
    credits: float


# ---- artifacts, catalogue, account --------------------------------------------------------
class ArtifactOut(ArtifactPublic):
    download_url: str = Field(
        description="A signed site path (/files/…) that downloads the file without "
        "credentials for a short while"
    )
    direct_url: str | None = Field(description="A presigned storage URL (S3/CDN), if any")


class PipelineOut(Out):
    name: str
    tasks: list[str]
    description: str
    cost_factor: float
    supports_references: bool = Field(
        default=False,
        description="Whether its renders follow cast reference pictures (draft, IP-Adapter)",
    )


class PipelineList(BaseModel):
    items: list[PipelineOut]


class WorkerList(BaseModel):
    items: list[WorkerPublic]


class MeOut(UserPublic):
    credits_enabled: bool
    balance: float


class BalanceOut(BaseModel):
    credits_enabled: bool
    balance: float = Field(description="Credits available (what active jobs hold is not)")


class LedgerEntryOut(BaseModel):
    id: int
    kind: str
    amount: float
    balance_after: float
    job_id: int | None
    reason: str
    created_at: datetime


class LedgerList(BaseModel):
    items: list[LedgerEntryOut]


# ---- queue --------------------------------------------------------------------------------
class QueueEntry(BaseModel):
    job_id: int
    position: int = Field(description="1 = runs next")


class QueueList(BaseModel):
    items: list[QueueEntry] = Field(description="The caller's queued jobs, in queue order")


class PausedOut(BaseModel):
    paused: bool = Field(description="The caller's queued jobs are held (running ones finish)")


# ---- the Lab ------------------------------------------------------------------------------
LoraScale = Annotated[
    float | str | None,
    Field(description="A LoRA scale (-4…4) for an entry with LoRAs; null: its default"),
]


class LabRunIn(In):
    pipeline: str = Field(
        min_length=1, max_length=200, description="A catalogue pipeline or preset"
    )
    prompt: str = Field(min_length=1, max_length=2000)
    negative_prompt: str = Field(default="", max_length=1000)
    seed: int = Field(default=0, ge=0, le=MAX_ID)
    overrides: dict[str, float | int | str | None] | None = Field(
        default=None, description="Lab parameters (studio.core.lab.KNOBS), e.g. guidance, steps"
    )
    lora_scale: LoraScale = None
    memory: list[str] | None = Field(
        default=None, max_length=20, description="Memory options to switch on"
    )


class LabSweepIn(LabRunIn):
    axes: dict[str, list[float | int | str]] = Field(
        description='One or two parameters and the values to try, e.g. {"seed": [1, 2]}'
    )


class PresetIn(In):
    name: str = Field(min_length=1, max_length=100)
    pipeline: str = Field(min_length=1, max_length=200, description="The catalogue entry it tweaks")
    overrides: dict[str, float | int | str | None] | None = None
    lora_scale: LoraScale = None
    memory: list[str] | None = Field(default=None, max_length=20)
    description: str = Field(default="", max_length=500)


class PresetOut(BaseModel):
    name: str
    tasks: list[str]
    description: str
    defaults: dict[str, Any]


# ---- API tokens ---------------------------------------------------------------------------
class TokenList(BaseModel):
    items: list[TokenPublic]


class TokenCreated(TokenPublic):
    token: str = Field(description="The token itself: shown only now, never again")


class TokenIn(In):
    name: str = Field(min_length=1, max_length=100, description="What the token is for")


# ---- users and credits (admins) -----------------------------------------------------------
class UsageOut(BaseModel):
    user: str
    role: str
    disabled: bool
    balance: float
    held: float = Field(description="Credits queued and running jobs hold")
    spent: float
    jobs: dict[str, int] = Field(description="Job count by status")


class UsageList(BaseModel):
    items: list[UsageOut]


class GrantIn(In):
    user: str = Field(min_length=1, max_length=64)
    amount: float = Field(description="Credits to add; negative takes unspent credits back")
    reason: str = Field(min_length=1, max_length=200)
