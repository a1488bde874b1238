"""The studio's tables (SQLModel) and their public read models, each field declared once.

One family per entity, as in SQLModel's own guide: `ShotBase` holds the fields anyone may
see; `Shot(ShotBase, table=True)` is the row (adding internal columns: hashes, leases);
`ShotPublic(ShotBase)` is what `Studio`, the REST API and `Studio.connect` return, with a
required `id`. So a new public column is added once, to the base, and reaches the Python
API, the REST responses (and the OpenAPI document) and the client together. Schema changes
go through Alembic (studio/core/migrations).

A *take* is a succeeded `clip` job of a shot, a *line take* a succeeded `speech` job of a shot
(its dialogue, spoken); a *film* is a `film` job of a project. All are RenderJobs, so one
lifecycle (studio/core/lifecycle.py) governs every render.
"""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, overload

from pydantic import computed_field
from sqlalchemy import JSON, BigInteger, Column, Index, Text, UniqueConstraint
from sqlalchemy import false as sa_false
from sqlmodel import Field, SQLModel

import credits.ledger  # noqa: F401  (its tables share the studio's metadata and migrations)


def utcnow() -> datetime:
    return datetime.now(UTC)


class JobKind(StrEnum):
    preview = "preview"
    clip = "clip"
    film = "film"
    speech = "speech"  # one spoken line (a shot's dialogue, or a voice preview): a WAV


class JobStatus(StrEnum):
    queued = "queued"
    running = "running"
    succeeded = "succeeded"
    failed = "failed"
    cancelled = "cancelled"

    @property
    def finished(self) -> bool:
        return self in (JobStatus.succeeded, JobStatus.failed, JobStatus.cancelled)


class Priority:
    low = -10
    normal = 0
    high = 10


ASPECT_RATIOS: dict[str, tuple[int, int]] = {
    "16:9": (16, 9),
    "9:16": (9, 16),
    "1:1": (1, 1),
    "4:3": (4, 3),
    "2.39:1": (239, 100),
}


def _one_of(options: Any) -> dict[str, Any]:
    """Document a string column's choices in the JSON schema (the column stays a string)."""
    return {"json_schema_extra": {"enum": [str(o) for o in options]}}


def frame_width(aspect_ratio: str, height: int) -> int:
    w, h = ASPECT_RATIOS[aspect_ratio]
    # Even dimensions: H.264 yuv420p needs them.
    return max(2, round(height * w / h / 2) * 2)


class ProjectBase(SQLModel):
    owner: str = Field(
        default="local",
        index=True,
        max_length=64,
        description="The caller, except for admins (who see everyone's)",
    )
    name: str = Field(max_length=200)
    # "film" (what creators see) or "lab" (the hidden home of Lab experiments, one per owner)
    kind: str = Field(default="film", max_length=16, sa_column_kwargs={"server_default": "film"})
    script: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    style_prompt: str = Field(default="", max_length=1000)
    negative_prompt: str = Field(default="", max_length=1000)
    aspect_ratio: str = Field(default="16:9", max_length=16)
    height: int = 360
    fps: int = 24
    preview_pipeline: str = Field(default="draft", max_length=100)
    clip_pipeline: str = Field(default="draft", max_length=100)
    # Start each image-to-video clip from the last frame of the previous shot's take
    # (continuity across cuts) instead of the shot's own preview frame.
    chain_clips: bool = Field(default=False, sa_column_kwargs={"server_default": sa_false()})
    # With chain_clips: chain only within a scene; a scene's first shot starts from its own
    # preview (a new place is a cut, not a continuation).
    chain_within_scene: bool = Field(default=False, sa_column_kwargs={"server_default": sa_false()})
    # A scene's other shots take its first shot's preview frame as a style reference (on
    # pipelines that support references), so a scene keeps one look.
    scene_style_reference: bool = Field(
        default=False, sa_column_kwargs={"server_default": sa_false()}
    )
    # Voices: the engine (a text-to-speech pipeline) cast members speak with unless they name
    # their own, and the narrator's voice, for lines no cast member speaks (V.O., NARRATOR).
    speech_pipeline: str = Field(
        default="espeak", max_length=100, sa_column_kwargs={"server_default": "espeak"}
    )
    narrator_voice: str = Field(default="", max_length=64, sa_column_kwargs={"server_default": ""})
    narrator_speed: float = Field(default=1.0, sa_column_kwargs={"server_default": "1.0"})
    narrator_pitch: float = Field(default=0.0, sa_column_kwargs={"server_default": "0.0"})
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)

    @property
    def width(self) -> int:
        return frame_width(self.aspect_ratio, self.height)


class Project(ProjectBase, table=True):
    id: int | None = Field(default=None, primary_key=True)


class ProjectPublic(ProjectBase):
    id: int

    @computed_field  # type: ignore[prop-decorator]
    @property
    def width(self) -> int:
        """Frame width in pixels, from the aspect ratio and height (even, for H.264)."""
        return frame_width(self.aspect_ratio, self.height)


class ShotBase(SQLModel):
    project_id: int = Field(foreign_key="project.id", index=True)
    position: int = 0
    scene: str = Field(default="", max_length=300)
    prompt: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    negative_prompt: str = Field(default="", max_length=1000)
    dialogue: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    characters: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    duration: float = 3.0
    shot_size: str = Field(default="medium", max_length=32)
    camera_move: str = Field(default="static", max_length=32)
    seed: int = 0
    preview_pipeline: str | None = Field(default=None, max_length=100)
    clip_pipeline: str | None = Field(default=None, max_length=100)
    # Plain ids, not foreign keys: shot ↔ job would be a cycle; lifecycle keeps them valid.
    preview_job_id: int | None = None
    chosen_take_id: int | None = None
    # Its spoken line (from `dialogue`): the speech take the film uses, where the line starts
    # inside the shot, and whether the creator fixed the duration (else it follows the take).
    chosen_line_id: int | None = None
    line_offset: float = Field(default=0.3, sa_column_kwargs={"server_default": "0.3"})
    duration_pinned: bool = Field(default=False, sa_column_kwargs={"server_default": sa_false()})
    # Room tone or effects under the shot in the film (an uploaded audio file), at a gain.
    sound_artifact_id: int | None = Field(default=None, foreign_key="artifact.id")
    sound_gain_db: float = Field(default=0.0, sa_column_kwargs={"server_default": "0.0"})
    # Its place on the timeline (studio/core/timeline.py): the part of its take the film shows
    # (take seconds; trim_out None: to the take's end) and the transition at its end.
    trim_in: float = Field(default=0.0, sa_column_kwargs={"server_default": "0.0"})
    trim_out: float | None = None
    transition: str = Field(
        default="cut", max_length=16, sa_column_kwargs={"server_default": "cut"}
    )
    transition_seconds: float = Field(default=0.0, sa_column_kwargs={"server_default": "0.0"})
    created_at: datetime = Field(default_factory=utcnow)


class Shot(ShotBase, table=True):
    id: int | None = Field(default=None, primary_key=True)


class ShotPublic(ShotBase):
    id: int


class CastKind(StrEnum):
    character = "character"
    prop = "prop"
    place = "place"


class CastMemberBase(SQLModel):
    """Someone (or something) that recurs in a project's shots and must look the same in each:
    shots name it in `Shot.characters`, and its description goes into their prompts."""

    project_id: int = Field(foreign_key="project.id", index=True)
    name: str = Field(max_length=100, description="As the script writes it: MARA")
    kind: str = Field(
        default=CastKind.character.value, max_length=16, schema_extra=_one_of(CastKind)
    )
    description: str = Field(
        default="",
        max_length=500,
        description="Appearance, said the same way in every shot's prompt: 40s, weathered coat",
    )
    seed: int = Field(default=0, description="For renders of this member alone")
    reference_artifact_id: int | None = Field(
        default=None,
        foreign_key="artifact.id",
        description="Its reference image (an uploaded picture, a shot's frame, a character "
        "sheet): pipelines that support references condition its shots on it",
    )
    reference_scale: float = Field(
        default=0.6, description="How strongly its reference steers a render: 0 (not) to 1"
    )
    lora_artifact_id: int | None = Field(
        default=None,
        foreign_key="artifact.id",
        description="Its own LoRA (a .safetensors file trained on it), applied to its shots by "
        "pipelines that support LoRAs",
    )
    lora_scale: float = Field(default=0.8, description="Its LoRA's strength: 0 (off) to 2")
    voice_engine: str = Field(
        default="",
        max_length=100,
        sa_column_kwargs={"server_default": ""},
        description="The text-to-speech pipeline it speaks with; empty: the project's",
    )
    voice: str = Field(
        default="",
        max_length=64,
        sa_column_kwargs={"server_default": ""},
        description="The engine's voice id (en-us, fr, …); empty: the engine's default",
    )
    voice_speed: float = Field(
        default=1.0,
        sa_column_kwargs={"server_default": "1.0"},
        description="Speaking rate: 0.5 (slow) to 2 (fast)",
    )
    voice_pitch: float = Field(
        default=0.0,
        sa_column_kwargs={"server_default": "0.0"},
        description="Pitch shift in semitones, -12 to 12",
    )
    created_at: datetime = Field(default_factory=utcnow)


class CastMember(CastMemberBase, table=True):
    __table_args__ = (UniqueConstraint("project_id", "name", name="uq_castmember_project_name"),)

    id: int | None = Field(default=None, primary_key=True)


class CastMemberPublic(CastMemberBase):
    id: int
    shot_ids: list[int] = Field(
        default_factory=list, description="The shots it appears in, in shot order"
    )


class SceneBase(SQLModel):
    """A scene of a project: the shots under one heading (`Shot.scene`), and the look they
    share. Location and time of day come from the heading and are in each shot's prompt
    already; `look` adds what the creator wants every shot of the scene to share."""

    project_id: int = Field(foreign_key="project.id", index=True)
    heading: str = Field(max_length=300, description="As the script writes it: EXT. PIER - DAY")
    look: str = Field(
        default="",
        max_length=300,
        description="Palette, light, weather, said in every shot of the scene: "
        "teal and amber palette, low fog",
    )
    created_at: datetime = Field(default_factory=utcnow)


class Scene(SceneBase, table=True):
    __table_args__ = (UniqueConstraint("project_id", "heading", name="uq_scene_project_heading"),)

    id: int | None = Field(default=None, primary_key=True)


class VoicePublic(SQLModel):
    """A voice a text-to-speech engine offers: a cast member's `voice_engine` and `voice`."""

    pipeline: str = Field(description="Its engine: a text-to-speech pipeline")
    id: str = Field(description="What `voice` names: en-us, fr, …")
    name: str
    language: str = Field(description="Its language code, when the engine says")


class ScenePublic(SceneBase):
    id: int
    shot_ids: list[int] = Field(default_factory=list, description="Its shots, in shot order")


class ShotLook(SQLModel):
    """How one shot of a cast member looks: its number and the frames to compare."""

    shot_id: int
    number: int = Field(description="1 = the first shot")
    preview_artifact_id: int | None = Field(description="Its latest preview frame, if any")
    take_artifact_id: int | None = Field(description="The take its film uses, if any")
    similarity: float | None = Field(
        default=None,
        description="Cosine similarity of its frame to the member's reference picture (-1 to "
        "1; higher is closer), when a similarity model is configured",
    )


class CastConsistency(SQLModel):
    """A cast member's shots side by side, to spot where it drifts."""

    member_id: int
    name: str
    description: str
    shots: list[ShotLook] = Field(
        description="In shot order; lowest similarity first when the shots are scored"
    )
    reference_artifact_id: int | None = None
    scored_with: str = Field(default="", description="The similarity model, when scored")
    score_error: str = Field(default="", description="Why the shots could not be scored")


class ArtifactBase(SQLModel):
    owner: str = Field(default="local", index=True, max_length=64)
    content_type: str = Field(max_length=100)
    bytes: int = Field(sa_column=Column(BigInteger, nullable=False))
    sha256: str = Field(max_length=64, index=True)
    provenance: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    created_at: datetime = Field(default_factory=utcnow)


class Artifact(ArtifactBase, table=True):
    id: int | None = Field(default=None, primary_key=True)
    # Where the bytes are in storage: internal (clients get links, never storage paths).
    key: str = Field(max_length=300, index=True)


class ArtifactPublic(ArtifactBase):
    id: int


class RenderJobBase(SQLModel):
    owner: str = Field(default="local", index=True, max_length=64)
    kind: str = Field(max_length=16, schema_extra=_one_of(JobKind))
    project_id: int = Field(foreign_key="project.id", index=True)
    shot_id: int | None = Field(default=None, foreign_key="shot.id", index=True)
    params: dict[str, Any] = Field(
        default_factory=dict,
        sa_column=Column(JSON, nullable=False),
        description="The fully resolved render parameters",
    )
    params_hash: str = Field(max_length=64, index=True, description="The render-cache key")
    status: str = Field(
        default=JobStatus.queued, max_length=16, index=True, schema_extra=_one_of(JobStatus)
    )
    progress: float = 0.0
    message: str = Field(default="", max_length=500)
    attempts: int = 0
    max_attempts: int = 3
    priority: int = Priority.normal
    cost: float = 0.0
    worker: str | None = Field(default=None, max_length=200)
    cancel_requested: bool = False
    cache_hit: bool = False
    error: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    artifact_id: int | None = Field(default=None, foreign_key="artifact.id")
    # Runs only after this job succeeded (a chained clip needs the previous take).
    depends_on: int | None = Field(default=None, index=True)
    created_at: datetime = Field(default_factory=utcnow)
    queued_at: datetime = Field(default_factory=utcnow)
    started_at: datetime | None = None
    finished_at: datetime | None = None


class RenderJob(RenderJobBase, table=True):
    __table_args__ = (
        Index("ix_renderjob_status_priority", "status", "priority", "queued_at"),
        # Ids are never reused, even after deletes: a job id names one job forever (credit
        # holds, idempotency records, logs and links refer to it). PostgreSQL never reuses.
        {"sqlite_autoincrement": True},
    )

    id: int | None = Field(default=None, primary_key=True)
    # The running worker's lease: internal to the queue (lifecycle renews and expires it).
    lease_expires_at: datetime | None = None


class JobPublic(RenderJobBase):
    """A render job as everyone sees it: a preview, a take (clip) or a film."""

    id: int


class WorkerBase(SQLModel):
    name: str = Field(primary_key=True, max_length=200)
    kind: str = Field(default="inline", max_length=16)  # inline | redis
    host: str = Field(default="", max_length=200)
    pid: int = 0
    pipelines: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    memory_bytes: int = Field(default=0, sa_column=Column(BigInteger, nullable=False, default=0))
    current_job_id: int | None = None
    state: str = Field(default="idle", max_length=16)  # idle | busy | waiting (for Redis) | stopped
    started_at: datetime = Field(default_factory=utcnow)
    heartbeat_at: datetime = Field(default_factory=utcnow)


class Worker(WorkerBase, table=True):
    """A render worker as it last reported itself (the Workers page; model affinity)."""


class WorkerPublic(WorkerBase):
    pass


class QueuePause(SQLModel, table=True):
    """An owner whose queued jobs wait (paused queue) until resumed."""

    owner: str = Field(primary_key=True, max_length=64)
    paused_at: datetime = Field(default_factory=utcnow)


class Preset(SQLModel, table=True):
    """A Lab preset: a catalogue entry's tweaked defaults under a new pipeline name. Kept in
    the database so every worker of a farm can render it."""

    name: str = Field(primary_key=True, max_length=64)
    base: str = Field(max_length=100)
    overrides: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    description: str = Field(default="", max_length=200)
    owner: str = Field(default="local", max_length=64)
    created_at: datetime = Field(default_factory=utcnow)


class Role(StrEnum):
    admin = "admin"  # sees and manages everything, grants credits
    creator = "creator"  # sees and changes only what they own


class UserBase(SQLModel):
    name: str = Field(primary_key=True, max_length=64)
    role: str = Field(default=Role.creator.value, max_length=16, schema_extra=_one_of(Role))
    disabled: bool = False
    created_at: datetime = Field(default_factory=utcnow)
    last_login_at: datetime | None = None

    @property
    def is_admin(self) -> bool:
        return self.role == Role.admin.value


class User(UserBase, table=True):
    """An account. `name` is what every `owner` column holds."""

    password_hash: str | None = Field(default=None, max_length=300)  # None: cannot log in
    # Bumped on password reset or disable: every session signed with an older one ends.
    session_epoch: int = 0


class UserPublic(UserBase):
    """An account without its secrets (no password hash, no session epoch)."""


class ApiTokenBase(SQLModel):
    owner: str = Field(foreign_key="user.name", index=True, max_length=64)
    name: str = Field(max_length=100, description="What the token is for")
    prefix: str = Field(
        max_length=16, description="The token's first characters, to tell tokens apart"
    )
    created_at: datetime = Field(default_factory=utcnow)
    last_used_at: datetime | None = None
    revoked_at: datetime | None = None


class ApiToken(ApiTokenBase, table=True):
    """A bearer token for scripts and notebooks. Only its SHA-256 is stored: a token is 256
    random bits, so a fast hash is enough (argon2 is for guessable secrets — passwords)."""

    id: int | None = Field(default=None, primary_key=True)
    token_hash: str = Field(max_length=64, unique=True)


class TokenPublic(ApiTokenBase):
    """An API token's record, never the token (shown once, when it is made) or its hash."""

    id: int


class IdempotentRequest(SQLModel, table=True):
    """A REST submission made with an `Idempotency-Key`: a repeat of the same request (same
    fingerprint) gets the stored response instead of a second submission. `status` 0 marks
    one still running."""

    __table_args__ = (UniqueConstraint("owner", "key", name="uq_idempotentrequest_owner_key"),)

    id: int | None = Field(default=None, primary_key=True)
    owner: str = Field(max_length=64)
    key: str = Field(max_length=200)
    fingerprint: str = Field(max_length=64)
    status: int = 0
    body: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    created_at: datetime = Field(default_factory=utcnow, index=True)


def ident(row: Project | Shot | CastMember | Artifact | RenderJob | ApiToken) -> int:
    """The primary key of a saved row (typed `int`, not `int | None`)."""
    if row.id is None:
        raise ValueError(f"{type(row).__name__} has not been saved yet")
    return row.id


PUBLIC: dict[type[SQLModel], type[SQLModel]] = {
    Project: ProjectPublic,
    Shot: ShotPublic,
    CastMember: CastMemberPublic,
    Artifact: ArtifactPublic,
    RenderJob: JobPublic,
    Worker: WorkerPublic,
    User: UserPublic,
    ApiToken: TokenPublic,
}


@overload
def public(row: Project) -> ProjectPublic: ...
@overload
def public(row: Shot) -> ShotPublic: ...
@overload
def public(row: CastMember) -> CastMemberPublic: ...
@overload
def public(row: Artifact) -> ArtifactPublic: ...
@overload
def public(row: RenderJob) -> JobPublic: ...
@overload
def public(row: Worker) -> WorkerPublic: ...
@overload
def public(row: User) -> UserPublic: ...
@overload
def public(row: ApiToken) -> TokenPublic: ...
def public(row: SQLModel) -> SQLModel:
    """The read model of a saved row: what the studio's public methods return. A copy, so
    nothing a caller does to it reaches the database."""
    return PUBLIC[type(row)].model_validate(row)
