"""Who says what, in which voice: a shot's spoken line and the params of its speech job.

A shot's `dialogue` is "ANNA: [quietly] Where were you?" (as the breakdown writes it, or as
the creator edits it). The spoken text drops the bracketed directions; the speaker is the
upper-case name before the colon. A speaker in the cast speaks with the member's voice; any
other (NARRATOR, a name that is not in the cast, a line without a name) with the project's
narrator voice. Engines are text-to-speech pipelines of the catalogue.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from pipelines.catalogue import Catalogue
from studio.core.errors import InvalidInput
from studio.core.models import CastMember, JobKind, Project, Shot
from studio.core.params import PARAMS_VERSION, pipeline_params
from studio.core.validation import MAX_PROMPT, plain_text

TASK = "text-to-speech"
PAUSE_AFTER_LINE = 0.5  # seconds of quiet after a line before the shot cuts
_SPEAKER = re.compile(r"^\s*([^:\[\]\n]{1,100}?)\s*:\s*(.*)$", re.DOTALL)
_DIRECTION = re.compile(r"\[[^\]]*\]")
_EXTENSION = re.compile(r"\([^)]*\)")


@dataclass(frozen=True)
class Line:
    """A shot's line: who speaks ("" for nobody named) and what is heard."""

    speaker: str
    text: str


@dataclass(frozen=True)
class Voice:
    """How a line sounds: an engine (pipeline name), its voice id ("" = its default), speed
    (× the engine's normal rate) and pitch (semitones)."""

    engine: str
    voice: str = ""
    speed: float = 1.0
    pitch: float = 0.0


def spoken_line(dialogue: str) -> Line | None:
    """The line a shot's dialogue speaks, or None when nothing is said."""
    match = _SPEAKER.match(dialogue)
    speaker, rest = "", dialogue
    if match and match.group(1) == match.group(1).upper() and any(c.isalpha() for c in match[1]):
        # "ANNA (V.O.)" is ANNA: the extension says where she is, not who speaks.
        speaker = " ".join(_EXTENSION.sub(" ", match.group(1)).split())
        rest = match.group(2)
    words = " ".join(_DIRECTION.sub(" ", rest).split())
    return Line(speaker, words) if any(c.isalnum() for c in words) else None


def narrator(project: Project) -> Voice:
    return Voice(
        project.speech_pipeline,
        project.narrator_voice,
        project.narrator_speed,
        project.narrator_pitch,
    )


def member_voice(project: Project, member: CastMember) -> Voice:
    return Voice(
        member.voice_engine or project.speech_pipeline,
        member.voice,
        member.voice_speed,
        member.voice_pitch,
    )


def voice_for(project: Project, speaker: str, cast: Mapping[str, CastMember]) -> Voice:
    """The speaker's member's voice; the narrator's for anyone not in the cast."""
    member = cast.get(speaker.upper())
    return member_voice(project, member) if member is not None else narrator(project)


def default_engine(catalogue: Catalogue) -> str:
    """A new project's voice engine: eSpeak NG when the catalogue has it (weightless, always
    there), else its first text-to-speech pipeline."""
    engines = [e.name for e in catalogue.for_task(TASK)]
    return "espeak" if "espeak" in engines or not engines else engines[0]


def check_engine(catalogue: Catalogue, name: str, field: str = "speech_pipeline") -> str:
    """`name`, when the catalogue has it as a text-to-speech pipeline."""
    engines = [e.name for e in catalogue.for_task(TASK)]
    if name not in engines:
        raise InvalidInput(
            f"{name!r} is not a voice engine; the catalogue's are: {', '.join(engines) or 'none'}",
            field,
        )
    return name


def speech_params(
    catalogue: Catalogue, project: Project, text: str, voice: Voice, seed: int, speaker: str = ""
) -> dict[str, Any]:
    """The resolved params of one speech job. Equal text in an equal voice is one render:
    the same line in two shots (or said again after an undo) is served by the cache."""
    text = " ".join(plain_text(text, "text").split())
    if not any(c.isalnum() for c in text):
        raise InvalidInput("There is nothing to say: the line has no words", "text")
    if len(text) > MAX_PROMPT:
        raise InvalidInput(
            f"The line is {len(text)} characters; the limit is {MAX_PROMPT}: split it over "
            "two shots",
            "text",
        )
    check_engine(catalogue, voice.engine, "voice_engine")
    return {
        "version": PARAMS_VERSION,
        "kind": JobKind.speech.value,
        "pipeline": pipeline_params(catalogue, voice.engine, TASK),
        "request": {
            "text": text,
            "voice": voice.voice,
            "speed": voice.speed,
            "pitch": voice.pitch,
            "seed": seed,
        },
        "speaker": speaker,
    }


def shot_speech(
    catalogue: Catalogue,
    project: Project,
    shot: Shot,
    cast: Mapping[str, CastMember],
    seed: int | None = None,
) -> dict[str, Any] | None:
    """The speech job params of a shot's line, or None when the shot says nothing. The seed
    is the shot's unless another is asked for (another take of the same line)."""
    line = spoken_line(shot.dialogue)
    if line is None:
        return None
    voice = voice_for(project, line.speaker, cast)
    chosen = shot.seed if seed is None else seed
    return speech_params(catalogue, project, line.text, voice, chosen, line.speaker)


def duration_for(line_offset: float, seconds: float) -> float:
    """How long a shot must last to hold its line and a breath after it."""
    return round(line_offset + seconds + PAUSE_AFTER_LINE, 2)
