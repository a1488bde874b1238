"""The request bodies of the routed StudioAPI methods (studio/surface/protocol.py): what the
REST API accepts for them, and so what `Studio.connect` sends. Fields are optional where the
method's are; the studio itself validates values (with its own messages), these models
document them in the OpenAPI document and refuse unknown fields."""

from __future__ import annotations

from functools import cache
from typing import Annotated, Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, WithJsonSchema, model_validator

from pipelines.requests import CAMERA_MOVES, SHOT_SIZES
from studio.core.models import ASPECT_RATIOS

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


class In(BaseModel):
    """A request body. Strict: a JSON string is not a number, nor a number a string or a
    boolean ("24" or true for an int is a 422, not 24); unknown fields are refused. A whole
    number written as 675.0 is the integer JSON Schema says it is. A null is the same as
    leaving the field out (unchanged, or the default), except in `NULL_IS_A_VALUE`."""

    model_config = ConfigDict(extra="forbid", strict=True)
    NULL_IS_A_VALUE: ClassVar[frozenset[str]] = frozenset()

    @model_validator(mode="before")
    @classmethod
    def _whole_numbers(cls, data: Any) -> Any:
        if isinstance(data, dict):
            integers = _integer_fields(cls)
            data = {k: _whole(v) if k in integers else v for k, v in data.items()}
        return data

    def arguments(self) -> dict[str, Any]:
        """The fields the caller sent, as keyword arguments of the studio method."""
        sent = self.model_dump(exclude_unset=True)
        return {k: v for k, v in sent.items() if v is not None or k in self.NULL_IS_A_VALUE}


@cache
def _integer_fields(model: type[BaseModel]) -> frozenset[str]:
    """Fields whose JSON schema takes integers (or lists of them) and no other numbers."""
    properties = model.model_json_schema().get("properties", {})
    return frozenset(
        name
        for name, schema in properties.items()
        if "'integer'" in str(schema) and "'number'" not in str(schema)
    )


def _whole(value: Any) -> Any:
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, list):
        return [_whole(item) for item in value]
    return value


# ---- projects -----------------------------------------------------------------------------
class ProjectFields(In):
    style_prompt: str | None = None
    negative_prompt: str | None = None
    aspect_ratio: AspectRatio | None = None
    height: int | None = None
    fps: int | None = None
    preview_pipeline: str | None = None
    clip_pipeline: str | None = None
    chain_clips: bool | None = None
    chain_within_scene: bool | None = Field(
        default=None, description="With chain_clips: a scene's first shot starts from its preview"
    )
    scene_style_reference: bool | None = Field(
        default=None,
        description="A scene's other shots take its first shot's preview as a style reference",
    )
    speech_pipeline: str | None = Field(
        default=None, description="The text-to-speech pipeline lines are spoken with"
    )
    narrator_voice: str | None = Field(
        default=None, max_length=64, description="Voice id for lines no cast member speaks"
    )
    narrator_speed: float | None = Field(default=None, ge=0.5, le=2)
    narrator_pitch: float | None = Field(default=None, ge=-12, le=12)


class ProjectCreate(ProjectFields):
    name: str = Field(min_length=1, max_length=200)
    script: str = ""


class ProjectUpdate(ProjectFields):
    name: str | None = None


class BreakdownIn(In):
    script: str | None = Field(default=None, description="New script; omit to re-use the saved one")


# ---- shots --------------------------------------------------------------------------------
class ShotFields(In):
    NULL_IS_A_VALUE = frozenset({"preview_pipeline", "clip_pipeline"})  # the project's
    negative_prompt: str | None = None
    characters: list[str] | None = Field(
        default=None, max_length=20, description="Cast names in the shot (new ones join the cast)"
    )
    dialogue: str | None = None
    scene: str | None = None
    duration: float | None = None
    shot_size: ShotSize | None = None
    camera_move: CameraMove | None = None
    seed: int | None = None
    preview_pipeline: str | None = Field(default=None, description="null: the project's")
    clip_pipeline: str | None = Field(default=None, description="null: the project's")
    line_offset: float | None = Field(
        default=None, ge=0, le=60, description="Seconds into the shot its line starts"
    )
    duration_pinned: bool | None = Field(
        default=None, description="Keep the duration when the spoken line's length changes"
    )
    sound_gain_db: float | None = Field(
        default=None, ge=-40, le=12, description="Level of the shot's sound (room tone, effects)"
    )


class ShotCreate(ShotFields):
    prompt: str = ""
    position: int | None = Field(default=None, ge=0, le=100_000, description="Default: last")


class ShotUpdate(ShotFields):
    prompt: str | None = None
    position: int | None = Field(default=None, ge=0, le=100_000)


class MoveIn(In):
    position: int = Field(ge=0, le=100_000)


# ---- the cast -----------------------------------------------------------------------------
CastKindName = Annotated[str, WithJsonSchema(one_of(["character", "prop", "place"]))]


class CastFields(In):
    kind: CastKindName | None = None
    description: str | None = Field(default=None, max_length=500)
    seed: int | None = Field(default=None, ge=0, le=MAX_ID)
    reference_scale: float | None = Field(
        default=None, ge=0, le=1, description="How strongly its reference picture steers renders"
    )
    lora_scale: float | None = Field(default=None, ge=0, le=2, description="Its LoRA's strength")
    voice_engine: str | None = Field(
        default=None, max_length=100, description="Its text-to-speech pipeline; '': the project's"
    )
    voice: str | None = Field(default=None, max_length=64, description="Voice id; '': default")
    voice_speed: float | None = Field(default=None, ge=0.5, le=2)
    voice_pitch: float | None = Field(default=None, ge=-12, le=12, description="Semitones")


class CastCreate(CastFields):
    name: str = Field(min_length=1, max_length=100, description="As the script writes it: MARA")


class CastUpdate(CastFields):
    name: str | None = Field(default=None, max_length=100)


class MergeIn(In):
    into_id: int = Field(ge=1, le=MAX_ID, description="The member that stays")


class SceneUpdate(In):
    look: str = Field(
        max_length=300, description="Palette, light, weather shared by the scene's shots"
    )


class PickReferenceIn(In):
    job_id: int = Field(
        ge=1, le=MAX_ID, description="A finished preview (its picture) or take (its first frame)"
    )


# ---- jobs and the queue -------------------------------------------------------------------
class PriorityIn(In):
    priority: int = Field(ge=-100, le=100)


class MoveBeforeIn(In):
    before_job_id: int = Field(ge=1, le=MAX_ID, description="A queued job of the caller's")


# ---- users (admins) -----------------------------------------------------------------------
class UserIn(In):
    name: str = Field(min_length=2, max_length=64)
    password: str = Field(min_length=8, max_length=200)
    role: Literal["creator", "admin"] = "creator"


class ClipEditIn(In):
    """A change to one shot on the timeline; fields left out stay as they are."""

    shot_id: ShotId
    take_id: int | None = Field(default=None, ge=1, le=MAX_ID, description="Use this take")
    trim_in: float | None = Field(default=None, ge=0, description="Seconds into the take")
    trim_out: float | Literal["end"] | None = Field(
        default=None, description="Seconds into the take, or 'end': to the take's end"
    )
    transition: Annotated[str, WithJsonSchema(one_of(("cut", "dissolve", "fade")))] | None = Field(
        default=None, description="At the shot's end, into the next"
    )
    transition_seconds: float | None = Field(default=None, ge=0, le=10)


class TimelineEditIn(In):
    clips: list[ClipEditIn] = Field(default_factory=list, max_length=10_000)
    order: list[ShotId] | None = Field(
        default=None, max_length=10_000, description="Every shot id of the project, once"
    )


class ExportCutIn(In):
    job_id: int | None = Field(
        default=None, ge=1, le=MAX_ID, description="An assembled film's cut; null: the timeline"
    )


class ShareIn(In):
    user: str = Field(min_length=1, max_length=64)
    role: Annotated[str, WithJsonSchema(one_of(("viewer", "editor")))] = "viewer"
    can_render: bool = Field(default=False, description="An editor renders with your credits")


class UnshareIn(In):
    user: str = Field(min_length=1, max_length=64)


class ReviewIn(In):
    verdict: Annotated[str, WithJsonSchema(one_of(("approved", "rejected")))]


class CommentIn(In):
    text: str = Field(min_length=1, max_length=2000)
    job_id: int | None = Field(default=None, ge=1, le=MAX_ID, description="A take or film")
    seconds: float | None = Field(default=None, ge=0, description="Where in it")
