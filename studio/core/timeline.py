"""The timeline: a film as the edit decision list the studio keeps.

Per shot, in shot order: the take the film uses (the chosen one, else the newest), the part
of it shown (`trim_in`..`trim_out`, seconds of the take; no `trim_out`: to its end) and the
transition at its end into the next shot:

- `cut`;
- `dissolve` of d seconds: the last d s of the shot blend into the first d s of the next
  (they overlap: the film is d s shorter);
- `fade` of d seconds: the shot fades to black over its last d s and the next fades up from
  black over its first d s (no overlap); on the last shot it fades the film out.

The decision list lives on the shots (Shot.trim_in, trim_out, transition,
transition_seconds, chosen_take_id; their order is Shot.position), so the timeline, the
storyboard and the queue always agree. Every assembled film keeps a copy of it in its
params (`takes`): that copy is a *cut*, a version the creator can compare and go back to.
The dialogue, music and effects tracks are placed from it (studio/film/mix.py).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any, Literal

from sqlmodel import SQLModel

from studio.core.errors import InvalidInput

# Half a frame at 24 fps: trims typed from a timecode may land a hair past the take's end.
SLACK = 0.021
DEFAULT_TRANSITION_SECONDS = 0.5
# The keys an edited take adds to a film job's `takes` entry (Decision.params).
EDIT_KEYS = frozenset({"trim_in", "trim_out", "transition", "transition_seconds"})


class Transition(StrEnum):
    cut = "cut"
    dissolve = "dissolve"
    fade = "fade"


class TimelineClip(SQLModel):
    """One shot on the timeline; times in seconds (`start`/`end`: in the film)."""

    shot_id: int
    number: int
    scene: str = ""
    prompt: str = ""
    take_id: int | None = None
    take_seconds: float | None = None
    trim_in: float = 0.0
    trim_out: float | None = None
    transition: str = Transition.cut.value
    transition_seconds: float = 0.0
    start: float = 0.0
    end: float = 0.0
    preview_job_id: int | None = None
    verdict: str = ""  # the team's verdict on the take (studio/core/team.py)


class TimelineSound(SQLModel):
    """An item on an audio track: a spoken line (dialogue), a shot's sound (effects), the
    film's music."""

    track: str
    shot_id: int | None = None
    job_id: int | None = None
    artifact_id: int | None = None
    start: float
    end: float
    text: str = ""


class TimelinePublic(SQLModel):
    """A project's timeline: its clips (shots), audio items and length, as the next film
    would be assembled (with the script's title card, if it has one)."""

    project_id: int
    title: str = ""
    title_seconds: float = 0.0
    clips: list[TimelineClip]
    sounds: list[TimelineSound] = []
    seconds: float = 0.0
    missing: list[int] = []  # numbers of shots with no take yet
    notes: list[str] = []  # what an import or a restore could not apply


class ClipEdit(SQLModel):
    """A change to one shot on the timeline; fields left out (None) stay as they are.
    `trim_out="end"`: to the take's end. `take_id`: use that take of the shot."""

    shot_id: int
    take_id: int | None = None
    trim_in: float | None = None
    trim_out: float | Literal["end"] | None = None
    transition: str | None = None
    transition_seconds: float | None = None


class CutPublic(SQLModel):
    """An assembled version of the film with the decision list it was made from."""

    job_id: int
    status: str
    artifact_id: int | None = None
    created_at: datetime
    seconds: float
    clips: list[dict[str, Any]]  # shot_id, job_id, trim_in, trim_out, transition, …


@dataclass(frozen=True)
class Decision:
    """One shot's checked edit: what the film job receives."""

    trim_in: float
    trim_out: float | None
    transition: str
    transition_seconds: float

    def params(self) -> dict[str, Any]:
        """Only what differs from a whole take cut to the next, so films assembled before
        the timeline existed keep their params (and their render-cache hits)."""
        found: dict[str, Any] = {}
        if self.trim_in:
            found["trim_in"] = self.trim_in
        if self.trim_out is not None:
            found["trim_out"] = self.trim_out
        if self.transition != Transition.cut:
            found["transition"] = self.transition
            found["transition_seconds"] = self.transition_seconds
        return found


def has_edits(takes: Sequence[Mapping[str, Any]]) -> bool:
    """Whether a film job's takes carry any timeline edit (what `Decision.params` adds)."""
    return any(EDIT_KEYS & take.keys() for take in takes)


def dialogue_item(
    clip: TimelineClip, offset: float, job_id: int | None, artifact: Any, text: str
) -> TimelineSound:
    """A spoken line on the dialogue track: from its shot's start + `offset`, as long as the
    line take (`artifact`, a speech job's WAV) lasts."""
    start = clip.start + float(offset)
    length = float(artifact.provenance.get("speech", {}).get("seconds", 0.0))
    return TimelineSound(
        track="dialogue",
        shot_id=clip.shot_id,
        job_id=job_id,
        artifact_id=artifact.id,
        start=round(start, 3),
        end=round(start + length, 3),
        text=text,
    )


def effects_item(clip: TimelineClip, artifact_id: int | None) -> TimelineSound:
    """A shot's sound on the effects track: under the whole shot."""
    return TimelineSound(
        track="effects",
        shot_id=clip.shot_id,
        artifact_id=artifact_id,
        start=clip.start,
        end=clip.end,
    )


def check_transition(kind: str, seconds: float | None) -> tuple[str, float]:
    """A valid transition and its length (a default length for one given without)."""
    if kind not in Transition.__members__:
        raise InvalidInput(
            f"Unknown transition {kind!r}: use one of {', '.join(Transition)}", "transition"
        )
    if kind == Transition.cut:
        return kind, 0.0
    length = DEFAULT_TRANSITION_SECONDS if seconds is None or seconds == 0 else float(seconds)
    if not 0 < length <= 10:
        raise InvalidInput("A transition lasts more than 0 and at most 10 seconds", "transition")
    return kind, round(length, 3)


def check_trim(
    number: int, trim_in: float, trim_out: float | None, take_seconds: float | None
) -> None:
    """Refuse an in-point after the out-point or beyond the take, naming the shot."""
    if trim_in < 0:
        raise InvalidInput(f"Shot {number}: the in-point cannot be before 0 s", "trim_in")
    if trim_out is not None and trim_out <= trim_in:
        raise InvalidInput(
            f"Shot {number}: the out-point ({trim_out:g} s) must come after the in-point "
            f"({trim_in:g} s)",
            "trim_out",
        )
    if take_seconds is None:
        return
    end = take_seconds if trim_out is None else trim_out
    if trim_in >= take_seconds or end > take_seconds + SLACK:
        raise InvalidInput(
            f"Shot {number}: the take is only {take_seconds:g} s long; trim within it "
            f"(in {trim_in:g} s, out {end:g} s)",
            "trim_out" if trim_in < take_seconds else "trim_in",
        )


def check_fits(clips: Sequence[TimelineClip]) -> None:
    """Each shot is long enough for the transitions at both its ends; the last shot has
    nothing to dissolve into."""
    for index, clip in enumerate(clips):
        shown = _shown(clip)
        if shown is None:
            continue
        before = clips[index - 1].transition_seconds if index else 0.0
        after = clip.transition_seconds
        if before + after > shown + SLACK:
            raise InvalidInput(
                f"Shot {clip.number} shows {shown:g} s, too short for its transitions "
                f"({before:g} s in, {after:g} s out)",
                "transition_seconds",
            )
    if clips and clips[-1].transition == Transition.dissolve:
        raise InvalidInput(
            f"Shot {clips[-1].number} is the last: it has nothing to dissolve into (use fade)",
            "transition",
        )


def _shown(clip: TimelineClip) -> float | None:
    if clip.take_seconds is None:
        return None
    end = clip.take_seconds if clip.trim_out is None else min(clip.trim_out, clip.take_seconds)
    return max(0.0, end - clip.trim_in)


def lay_out(clips: list[TimelineClip], title_seconds: float, durations: Sequence[float]) -> float:
    """Set each clip's start and end in the film, as assembly places them (a dissolve
    overlaps its neighbours); `durations`: each shot's length when it has no take yet.
    Returns the film's length."""
    position = title_seconds
    end = position
    for clip, planned in zip(clips, durations, strict=True):
        shown = _shown(clip)
        length = planned if shown is None else shown
        clip.start, clip.end = round(position, 3), round(position + length, 3)
        end = clip.end
        overlap = clip.transition_seconds if clip.transition == Transition.dissolve else 0.0
        position += length - overlap
    return round(end, 3)
