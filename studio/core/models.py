"""The studio's tables (SQLModel). Schema changes go through Alembic (studio/migrations).

A *take* is a succeeded `clip` job of a shot; a *film* is a `film` job of a project. Both are
RenderJobs, so one lifecycle (studio/core/lifecycle.py) governs every render.
"""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

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


class Project(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    owner: str = Field(default="local", index=True, max_length=64)
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
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)

    @property
    def width(self) -> int:
        w, h = ASPECT_RATIOS[self.aspect_ratio]
        # Even dimensions: H.264 yuv420p needs them.
        return max(2, round(self.height * w / h / 2) * 2)


class Shot(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
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
    created_at: datetime = Field(default_factory=utcnow)


class Artifact(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    owner: str = Field(default="local", index=True, max_length=64)
    key: str = Field(max_length=300, index=True)
    content_type: str = Field(max_length=100)
    bytes: int = Field(sa_column=Column(BigInteger, nullable=False))
    sha256: str = Field(max_length=64, index=True)
    provenance: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    created_at: datetime = Field(default_factory=utcnow)


class RenderJob(SQLModel, table=True):
    __table_args__ = (
        Index("ix_renderjob_status_priority", "status", "priority", "queued_at"),
        # Ids are never reused, even after deletes: a job id names one job forever (credit
        # holds, idempotency records, logs and links refer to it). PostgreSQL never reuses.
        {"sqlite_autoincrement": True},
    )

    id: int | None = Field(default=None, primary_key=True)
    owner: str = Field(default="local", index=True, max_length=64)
    kind: str = Field(max_length=16)
    project_id: int = Field(foreign_key="project.id", index=True)
    shot_id: int | None = Field(default=None, foreign_key="shot.id", index=True)
    params: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    params_hash: str = Field(max_length=64, index=True)
    status: str = Field(default=JobStatus.queued, max_length=16, index=True)
    progress: float = 0.0
    message: str = Field(default="", max_length=500)
    attempts: int = 0
    max_attempts: int = 3
    priority: int = Priority.normal
    cost: float = 0.0
    worker: str | None = Field(default=None, max_length=200)
    lease_expires_at: datetime | None = None
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


class Worker(SQLModel, table=True):
    """A render worker as it last reported itself (the Workers page; model affinity)."""

    name: str = Field(primary_key=True, max_length=200)
    kind: str = Field(default="inline", max_length=16)  # inline | redis
    host: str = Field(default="", max_length=200)
    pid: int = 0
    pipelines: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    memory_bytes: int = Field(default=0, sa_column=Column(BigInteger, nullable=False, default=0))
    current_job_id: int | None = None
    state: str = Field(default="idle", max_length=16)  # idle | busy | stopping | stopped
    started_at: datetime = Field(default_factory=utcnow)
    heartbeat_at: datetime = Field(default_factory=utcnow)


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


class User(SQLModel, table=True):
    """An account. `name` is what every `owner` column holds."""

    name: str = Field(primary_key=True, max_length=64)
    password_hash: str | None = Field(default=None, max_length=300)  # None: cannot log in
    role: str = Field(default=Role.creator.value, max_length=16)
    disabled: bool = False
    # Bumped on password reset or disable: every session signed with an older one ends.
    session_epoch: int = 0
    created_at: datetime = Field(default_factory=utcnow)
    last_login_at: datetime | None = None

    @property
    def is_admin(self) -> bool:
        return self.role == Role.admin.value


class ApiToken(SQLModel, table=True):
    """A bearer token for scripts and notebooks. Only its SHA-256 is stored: a token is 256
    random bits, so a fast hash is enough (argon2 is for guessable secrets — passwords)."""

    id: int | None = Field(default=None, primary_key=True)
    owner: str = Field(foreign_key="user.name", index=True, max_length=64)
    name: str = Field(max_length=100)
    token_hash: str = Field(max_length=64, unique=True)
    prefix: str = Field(max_length=16)  # shown in lists so a user can tell tokens apart
    created_at: datetime = Field(default_factory=utcnow)
    last_used_at: datetime | None = None
    revoked_at: datetime | None = None


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


def ident(row: Project | Shot | Artifact | RenderJob | ApiToken) -> int:
    """The primary key of a saved row (typed `int`, not `int | None`)."""
    if row.id is None:
        raise ValueError(f"{type(row).__name__} has not been saved yet")
    return row.id
