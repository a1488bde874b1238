"""What the REST API sends and accepts: explicit models, never the tables themselves, so a
new column is not published (or leaked) by accident."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, WithJsonSchema

from pipelines.requests import CAMERA_MOVES, SHOT_SIZES
from studio.core.models import ASPECT_RATIOS, JobKind, JobStatus

MAX_ID = 2**31 - 1  # ids are 32-bit in the database (PostgreSQL INTEGER)
ShotId = Annotated[int, Field(ge=1, le=MAX_ID)]


def one_of(options: Any) -> dict[str, Any]:
    """The JSON schema of a string that is one of `options` (documented here; the studio
    checks it, with its own message)."""
    return {"type": "string", "enum": list(options)}


AspectRatio = Annotated[str, WithJsonSchema(one_of(ASPECT_RATIOS))]
ShotSize = Annotated[str, WithJsonSchema(one_of(SHOT_SIZES))]
CameraMove = Annotated[str, WithJsonSchema(one_of(CAMERA_MOVES))]
PRIORITY = Field(default=0, ge=-100, le=100, description="Higher runs sooner; 0 is normal")


class Out(BaseModel):
    model_config = ConfigDict(from_attributes=True)


class In(BaseModel):
    model_config = ConfigDict(extra="forbid")


# ---- errors -------------------------------------------------------------------------------
class ErrorDetail(BaseModel):
    code: str = Field(description="snake_case error class, e.g. not_found, invalid_input")
    message: str = Field(description="What went wrong, written for a person")
    field: str | None = Field(default=None, description="The input field at fault, if any")


class ErrorOut(BaseModel):
    error: ErrorDetail


# ---- projects -----------------------------------------------------------------------------
class ProjectOut(Out):
    id: int
    owner: str = Field(description="The caller, except for admins (who see everyone's)")
    name: str
    kind: str
    script: str
    style_prompt: str
    negative_prompt: str
    aspect_ratio: str
    width: int
    height: int
    fps: int
    preview_pipeline: str
    clip_pipeline: str
    chain_clips: bool
    created_at: datetime
    updated_at: datetime


class ProjectList(BaseModel):
    items: list[ProjectOut]


class ProjectFields(In):
    style_prompt: str | None = None
    negative_prompt: str | None = None
    aspect_ratio: AspectRatio | None = None
    height: int | None = None
    fps: int | None = None
    preview_pipeline: str | None = None
    clip_pipeline: str | None = None
    chain_clips: bool | None = None


class ProjectCreate(ProjectFields):
    name: str
    script: str = ""


class ProjectUpdate(ProjectFields):
    name: str | None = None


class BreakdownIn(In):
    script: str | None = Field(default=None, description="New script; omit to re-use the saved one")


# ---- shots --------------------------------------------------------------------------------
class ShotOut(Out):
    id: int
    project_id: int
    position: int
    scene: str
    prompt: str
    negative_prompt: str
    dialogue: str
    characters: list[str]
    duration: float
    shot_size: str
    camera_move: str
    seed: int
    preview_pipeline: str | None
    clip_pipeline: str | None
    preview_job_id: int | None
    chosen_take_id: int | None
    created_at: datetime


class ShotFields(In):
    negative_prompt: str | None = None
    dialogue: str | None = None
    scene: str | None = None
    duration: float | None = None
    shot_size: ShotSize | None = None
    camera_move: CameraMove | None = None
    seed: int | None = None
    preview_pipeline: str | None = Field(default=None, description="null: the project's")
    clip_pipeline: str | None = Field(default=None, description="null: the project's")


class ShotCreate(ShotFields):
    prompt: str = ""
    position: int | None = Field(default=None, ge=0, le=100_000, description="Default: last")


class ShotUpdate(ShotFields):
    prompt: str | None = None
    position: int | None = Field(default=None, ge=0, le=100_000)


class MoveIn(In):
    position: int = Field(ge=0, le=100_000)


class ShotList(BaseModel):
    items: list[ShotOut]


# ---- jobs ---------------------------------------------------------------------------------
class JobOut(Out):
    id: int
    owner: str
    kind: JobKind
    status: JobStatus
    project_id: int
    shot_id: int | None
    progress: float
    message: str
    attempts: int
    max_attempts: int
    priority: int
    cost: float
    cache_hit: bool
    error: str | None
    artifact_id: int | None
    depends_on: int | None
    params: dict[str, Any] = Field(description="The fully resolved render parameters")
    created_at: datetime
    queued_at: datetime
    started_at: datetime | None
    finished_at: datetime | None


class JobList(BaseModel):
    items: list[JobOut]


class JobPage(BaseModel):
    items: list[JobOut]
    next_cursor: str | None = Field(description="Pass as `cursor` for the next page; null: done")


class SubmitIn(In):
    shot_ids: list[ShotId] | None = Field(
        default=None, max_length=1000, description="Default: every shot"
    )
    priority: int = PRIORITY


class FilmIn(In):
    crossfade: float = Field(default=0.0, ge=0, le=5, description="Seconds between takes")
    title: str | None = Field(default=None, max_length=200, description="A title card")
    title_seconds: float = Field(default=2.0, ge=0.5, le=10)
    priority: int = PRIORITY


class PriorityIn(In):
    priority: int = Field(ge=-100, le=100)


class EstimateOut(BaseModel):
    kind: Literal["clip", "preview"]
    credits: float


# ---- artifacts, catalogue, account --------------------------------------------------------
class ArtifactOut(Out):
    id: int
    owner: str
    content_type: str
    bytes: int
    sha256: str
    provenance: dict[str, Any]
    created_at: datetime
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


class PipelineList(BaseModel):
    items: list[PipelineOut]


class WorkerOut(Out):
    name: str
    kind: str
    host: str
    pipelines: list[str]
    state: str
    memory_bytes: int
    started_at: datetime
    heartbeat_at: datetime


class WorkerList(BaseModel):
    items: list[WorkerOut]


class MeOut(BaseModel):
    name: str
    role: str
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


class MoveBeforeIn(In):
    before_job_id: int = Field(ge=1, le=MAX_ID, description="A queued job of the caller's")


# ---- the Lab ------------------------------------------------------------------------------
LoraScale = Annotated[
    float | str | None,
    Field(description="A LoRA scale (-4…4) for an entry with LoRAs; null: its default"),
]


class LabRunIn(In):
    pipeline: str = Field(max_length=200, description="A catalogue pipeline or preset")
    prompt: str = Field(max_length=2000)
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
    name: str = Field(max_length=100)
    pipeline: str = Field(max_length=200, description="The catalogue entry it tweaks")
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
class TokenOut(Out):
    id: int
    name: str
    prefix: str = Field(description="The token's first characters, to tell tokens apart")
    created_at: datetime
    last_used_at: datetime | None


class TokenList(BaseModel):
    items: list[TokenOut]


class TokenCreated(TokenOut):
    token: str = Field(description="The token itself: shown only now, never again")


class TokenIn(In):
    name: str = Field(max_length=100, description="What the token is for")


# ---- users and credits (admins) -----------------------------------------------------------
class UserOut(Out):
    name: str
    role: str
    disabled: bool
    created_at: datetime


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


class UserIn(In):
    name: str = Field(max_length=64)
    password: str = Field(max_length=200)
    role: Literal["creator", "admin"] = "creator"


class GrantIn(In):
    user: str = Field(max_length=64)
    amount: float = Field(description="Credits to add; negative takes unspent credits back")
    reason: str = Field(max_length=200)
