"""The voice part of the studio's public surface: engines' voices, spoken lines, voice
previews, a shot's sound. `StudioAPI` (studio/surface/protocol.py) inherits it;
`routes_of` walks both."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

from studio.core.models import JobPublic, Priority, ShotPublic, VoicePublic
from studio.surface.routes import route


class VoicesAPI(Protocol):
    """Voices and spoken lines (see `StudioAPI` for the rest)."""

    @route("GET", "/voices", tag="voices")
    def voices(self) -> list[VoicePublic]:
        """Every voice of every text-to-speech engine in the catalogue: what a cast member's
        `voice_engine` and `voice` (or a project's narrator) may name."""
        ...

    @route("GET", "/shots/{shot_id}/lines", tag="voices")
    def lines(self, shot_id: int) -> list[JobPublic]:
        """The shot's spoken lines (succeeded speech jobs, WAV artifacts), newest first."""
        ...

    def speak(
        self,
        project_id: int,
        shot_ids: Sequence[int] | None = None,
        *,
        seed: int | None = None,
        wait: bool = False,
        priority: int = Priority.normal,
        progress: bool = True,
    ) -> list[JobPublic]:
        """Queue a speech job for each shot's line (shots without one are skipped): its
        speaker's voice, else the narrator's, with the shot's seed (`seed`: another take of
        the same line; the same words in the same voice and seed are served by the render
        cache). A line's take sets its shot's duration (the line, a pause) unless the shot's
        duration is pinned."""
        ...

    def preview_voice(
        self,
        project_id: int,
        text: str = "",
        *,
        member_id: int | None = None,
        engine: str | None = None,
        voice: str | None = None,
        speed: float | None = None,
        pitch: float | None = None,
        wait: bool = True,
        progress: bool = False,
    ) -> JobPublic:
        """Speak `text` (a sample sentence when empty) in a member's voice (`member_id`), else
        the narrator's, with any of engine/voice/speed/pitch changed: a queued speech job whose
        artifact is the WAV. Waits for it by default."""
        ...

    def set_shot_sound(
        self, shot_id: int, sound: bytes | str | Path, gain_db: float | None = None
    ) -> ShotPublic:
        """Put a sound under a shot in the film (room tone, rain, traffic: an audio file's path
        or bytes, as the Film's soundtrack takes them, up to `max_audio_bytes`), at `gain_db`
        (−40 to 12; the shot's `sound_gain_db`); looped or cut to the shot's time on screen.
        Over the REST API: `PUT /shots/{shot_id}/sound` with the file as the body."""
        ...

    @route("DELETE", "/shots/{shot_id}/sound", tag="voices")
    def clear_shot_sound(self, shot_id: int) -> ShotPublic:
        """Take the sound from under a shot."""
        ...
