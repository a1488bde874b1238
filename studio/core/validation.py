"""Checks on what creators send, at one place, so UI, API and CLI refuse the same things."""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pipelines.requests import CAMERA_MOVES, SHOT_SIZES
from studio.core.config import Settings
from studio.core.errors import InvalidInput
from studio.core.models import ASPECT_RATIOS

MAX_PROMPT = 2000
MAX_NAME = 200
MAX_SEED = 2**31 - 1
MAX_CAST_NAME = 100
MAX_SHOT_CAST = 20  # cast members in one shot
MIN_HEIGHT = 64

PROJECT_FIELDS = {
    "chain_clips",
    "chain_within_scene",
    "scene_style_reference",
    "name",
    "style_prompt",
    "negative_prompt",
    "aspect_ratio",
    "height",
    "fps",
    "preview_pipeline",
    "clip_pipeline",
    "speech_pipeline",
    "narrator_voice",
    "narrator_speed",
    "narrator_pitch",
}
SHOT_FIELDS = {
    "prompt",
    "negative_prompt",
    "duration",
    "shot_size",
    "camera_move",
    "seed",
    "preview_pipeline",
    "clip_pipeline",
    "scene",
    "dialogue",
    "characters",
    "line_offset",
    "duration_pinned",
    "sound_gain_db",
}
MAX_LINE_OFFSET = 60.0  # seconds into its shot a line may start
# A voice id as engines name them: "en-us", "en-gb+f3", "fr", "0" (a speaker number).
_VOICE_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_+.\-]{0,63}")


# Characters no creator types and the databases or terminals mishandle: NUL (PostgreSQL
# refuses it in text), other C0/C1 controls and DEL (ANSI escapes in logs and terminals),
# and unpaired UTF-16 surrogates (not encodable as UTF-8: SQLite and PostgreSQL both fail).
# Tab, line feed and carriage return are text.
_UNTYPABLE = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff]")


def plain_text(value: str, field: str) -> str:
    """`value`, or InvalidInput naming the field and the first character no text holds."""
    found = _UNTYPABLE.search(value)
    if found is not None:
        char = found.group()
        kind = "an unpaired surrogate" if "\ud800" <= char <= "\udfff" else "a control character"
        raise InvalidInput(
            f"{field} contains {kind} (U+{ord(char):04X}) at position {found.start() + 1}; "
            "remove it",
            field,
        )
    return value


def text(value: Any, field: str, limit: int, required: bool = False) -> str:
    if value is None:
        value = ""
    if not isinstance(value, str):
        raise InvalidInput(f"{field} must be text", field)
    value = plain_text(value, field).strip()
    if required and not value:
        raise InvalidInput(f"{field} must not be empty", field)
    if len(value) > limit:
        raise InvalidInput(f"{field} is {len(value)} characters; the limit is {limit}", field)
    return value


def number(
    value: Any,
    field: str,
    low: float,
    high: float,
    *,
    integer: bool = False,
    low_inclusive: bool = True,
) -> float:
    try:
        parsed = float(value)
    except (TypeError, ValueError):
        raise InvalidInput(f"{field} must be a number, not {value!r}", field) from None
    if not math.isfinite(parsed):
        raise InvalidInput(f"{field} must be a finite number", field)
    if integer and parsed != int(parsed):
        raise InvalidInput(f"{field} must be a whole number", field)
    too_low = parsed < low if low_inclusive else parsed <= low
    if too_low or parsed > high:
        bound = "≥" if low_inclusive else ">"
        raise InvalidInput(
            f"{field} must be {bound} {low:g} and ≤ {high:g} (got {parsed:g})", field
        )
    return parsed


def id_list(values: Any, field: str, limit: int = 500) -> list[int]:
    """Ids asked for in one call (`shots(ids=…)`): whole positive numbers, at most `limit`."""
    if isinstance(values, (str, bytes)) or not isinstance(values, Iterable):
        raise InvalidInput(f"{field} must be a list of ids", field)
    ids = list(values)
    if len(ids) > limit:
        raise InvalidInput(f"{field} lists {len(ids)} ids; the limit is {limit}", field)
    for value in ids:
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise InvalidInput(f"{field} must hold positive whole numbers, not {value!r}", field)
    return ids


def choice(value: Any, field: str, options: tuple[str, ...] | list[str]) -> str:
    if value not in options:
        raise InvalidInput(f"{field} must be one of {', '.join(options)} (got {value!r})", field)
    return str(value)


def project_fields(
    settings: Settings,
    pipelines: list[str],
    changes: dict[str, Any],
    current_aspect: str = "16:9",
    current_height: int = 360,
) -> dict[str, Any]:
    unknown = set(changes) - PROJECT_FIELDS
    if unknown:
        raise InvalidInput(f"Unknown project field(s): {', '.join(sorted(unknown))}")
    out: dict[str, Any] = {}
    for key, value in changes.items():
        if key == "name":
            out[key] = text(value, "Project name", MAX_NAME, required=True)
        elif key in ("chain_clips", "chain_within_scene", "scene_style_reference"):
            if not isinstance(value, bool):
                raise InvalidInput(
                    f"{key.replace('_', ' ').capitalize()} must be true or false", key
                )
            out[key] = value
        elif key in ("style_prompt", "negative_prompt"):
            out[key] = text(value, key.replace("_", " ").capitalize(), 1000)
        elif key == "aspect_ratio":
            out[key] = choice(value, "Aspect ratio", list(ASPECT_RATIOS))
        elif key == "height":
            out[key] = int(number(value, "Height", MIN_HEIGHT, 4320, integer=True))
        elif key == "fps":
            out[key] = int(number(value, "Frames per second", 1, settings.max_fps, integer=True))
        elif key == "narrator_voice":
            out[key] = voice_id(value, "Narrator voice")
        elif key == "narrator_speed":
            out[key] = voice_speed(value, "Narrator speed")
        elif key == "narrator_pitch":
            out[key] = voice_pitch(value, "Narrator pitch")
        else:
            out[key] = choice(value, key.replace("_", " ").capitalize(), pipelines)
    aspect = out.get("aspect_ratio", current_aspect)
    height = out.get("height", current_height)
    w, h = ASPECT_RATIOS[aspect]
    pixels = round(height * w / h) * height
    if pixels > settings.max_pixels:
        raise InvalidInput(
            f"{aspect} at height {height} is {pixels:,} pixels per frame; the limit is "
            f"{settings.max_pixels:,}",
            "height",
        )
    return out


def shot_fields(
    settings: Settings, pipelines: list[str], changes: dict[str, Any]
) -> dict[str, Any]:
    unknown = set(changes) - SHOT_FIELDS
    if unknown:
        raise InvalidInput(f"Unknown shot field(s): {', '.join(sorted(unknown))}")
    out: dict[str, Any] = {}
    for key, value in changes.items():
        if key in ("prompt", "dialogue"):
            out[key] = text(value, key.capitalize(), MAX_PROMPT)
        elif key == "scene":
            out[key] = text(value, "Scene", 300)
        elif key == "negative_prompt":
            out[key] = text(value, "Negative prompt", 1000)
        elif key == "duration":
            out[key] = number(value, "Duration (s)", 0, settings.max_duration, low_inclusive=False)
        elif key == "shot_size":
            out[key] = choice(value, "Shot size", SHOT_SIZES)
        elif key == "camera_move":
            out[key] = choice(value, "Camera move", CAMERA_MOVES)
        elif key == "seed":
            out[key] = int(number(value, "Seed", 0, MAX_SEED, integer=True))
        elif key == "characters":
            out[key] = shot_cast(value)
        elif key == "line_offset":
            out[key] = number(value, "Line offset (s)", 0, MAX_LINE_OFFSET)
        elif key == "sound_gain_db":
            out[key] = number(value, "Sound gain (dB)", -40, 12)
        elif key == "duration_pinned":
            if not isinstance(value, bool):
                raise InvalidInput("Duration pinned must be true or false", key)
            out[key] = value
        else:
            out[key] = None if value in (None, "") else choice(value, "Pipeline", pipelines)
    return out


def voice_id(value: Any, field: str = "voice") -> str:
    """An engine's voice id, or "" for the engine's default; the engine itself says at
    submission whether it has that voice (`studio.core.voices`)."""
    name = text(value, field, 64)
    if name and not _VOICE_ID.fullmatch(name):
        raise InvalidInput(
            f"{field} {name!r} is not a voice id: letters, digits and _ + . - (like en-us)",
            field,
        )
    return name


def voice_speed(value: Any, field: str = "voice_speed") -> float:
    return number(value, field, 0.5, 2.0)


def voice_pitch(value: Any, field: str = "voice_pitch") -> float:
    return number(value, field, -12.0, 12.0)


def cast_name(value: Any, field: str = "name") -> str:
    """A member's name as the script writes cues: upper case, single spaces."""
    name = " ".join(text(value, "Name", MAX_CAST_NAME, required=True).split()).upper()
    if not any(c.isalpha() for c in name):
        raise InvalidInput(f"A cast name needs a letter (got {value!r})", field)
    return name


def shot_cast(value: Any) -> list[str]:
    """A shot's `characters`: cast names, each once, in the order given."""
    if not isinstance(value, list | tuple):
        raise InvalidInput("Characters must be a list of cast names", "characters")
    names = list(dict.fromkeys(cast_name(v, "characters") for v in value))
    if len(names) > MAX_SHOT_CAST:
        raise InvalidInput(f"A shot has at most {MAX_SHOT_CAST} cast members", "characters")
    return names


AUDIO_SUFFIXES = (".aac", ".flac", ".m4a", ".mp3", ".ogg", ".opus", ".wav")


@dataclass(frozen=True)
class FilmOptions:
    crossfade: float
    title: str | None
    title_seconds: float
    audio: Path | None


def film_options(
    settings: Settings,
    crossfade: Any = 0.0,
    title: Any = None,
    title_seconds: Any = 2.0,
    audio: Any = None,
) -> FilmOptions:
    """Check assembly options up front, before anything is rendered or stored."""
    fade = number(crossfade, "Crossfade (s)", 0, 5)
    seconds = number(title_seconds, "Title card (s)", 0.5, 10)
    heading = text(title, "Title", 200) or None
    if heading and fade > seconds:
        raise InvalidInput(
            f"Crossfade ({fade:g}s) must not be longer than the title card ({seconds:g}s)",
            "crossfade",
        )
    path = Path(audio) if audio else None
    if path is not None:
        audio_file(path, settings.max_audio_bytes)
    return FilmOptions(fade, heading, seconds, path)


DEFAULT_LOUDNESS = -16.0  # LUFS, integrated: what web and streaming players expect


@dataclass(frozen=True)
class SoundOptions:
    dialogue: bool
    subtitles: bool
    burn_subtitles: bool
    speaker_names: bool
    loudness: float | None


def sound_options(
    dialogue: Any = True,
    subtitles: Any = True,
    burn_subtitles: Any = False,
    speaker_names: Any = False,
    loudness: Any = DEFAULT_LOUDNESS,
) -> SoundOptions:
    """A film's spoken lines, subtitles and loudness target (None: levels left as mixed)."""
    flags = {
        "dialogue": dialogue,
        "subtitles": subtitles,
        "burn_subtitles": burn_subtitles,
        "speaker_names": speaker_names,
    }
    for name, value in flags.items():
        if not isinstance(value, bool):
            raise InvalidInput(f"{name.replace('_', ' ').capitalize()} must be true or false", name)
    target = None if loudness is None else number(loudness, "Loudness (LUFS)", -40, -5)
    return SoundOptions(dialogue, subtitles, burn_subtitles, speaker_names, target)


def audio_file(path: Path, max_bytes: int, field: str = "audio") -> None:
    """A soundtrack (or a shot's sound) must exist, be small enough and hold an audio stream
    PyAV can decode."""
    if not path.is_file():
        raise InvalidInput(f"Audio file not found: {path.name}", field)
    if path.suffix.lower() not in AUDIO_SUFFIXES:
        raise InvalidInput(f"Audio must be one of {', '.join(AUDIO_SUFFIXES)}", field)
    size = path.stat().st_size
    if size > max_bytes:
        raise InvalidInput(
            f"Audio file is {size / 2**20:.1f} MiB; the limit is {max_bytes / 2**20:.0f} MiB",
            field,
        )
    import av

    try:
        with av.open(str(path)) as container:
            if not container.streams.audio:
                raise InvalidInput(f"{path.name} has no audio stream", field)
            if next(container.decode(container.streams.audio[0]), None) is None:
                raise InvalidInput(f"{path.name} holds no sound", field)
    except av.FFmpegError:
        raise InvalidInput(f"{path.name} is not an audio file PyAV can decode", field) from None
