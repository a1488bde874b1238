"""Voices and sounds: the engines and voices on offer, a shot's line spoken as a queued speech
job, a voice preview (any text, in a member's or any voice) through the same queue, and the
room tone or effects a shot carries into the film's mix."""

from __future__ import annotations

import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pipelines.catalogue import UnknownPipelineError
from pipelines.errors import PipelineError
from studio.api.cast import CastArea
from studio.core import cast, lifecycle, voices
from studio.core.artifacts import store_file
from studio.core.errors import InvalidInput, NotFound
from studio.core.models import (
    JobKind,
    JobPublic,
    Priority,
    RenderJob,
    ShotPublic,
    VoicePublic,
    public,
)
from studio.core.sounds import CONTENT_TYPES, sound_file
from studio.core.team import Access
from studio.core.validation import MAX_SEED, number, voice_id, voice_pitch, voice_speed
from studio.core.voices import Voice

COMMON_VOICES = ("en-us", "en-gb", "fr", "de", "es", "it", "pt", "ja", "cmn", "ar", "hi", "ru")
PREVIEW_TEXT = "The last train leaves at midnight. Will you be on it?"


class VoicesArea(CastArea):
    def voices(self) -> list[VoicePublic]:
        found: list[VoicePublic] = []
        for entry in self.catalogue.for_task(voices.TASK):
            try:
                listed = self._engine_voices(entry.name)
            except InvalidInput:  # its model is not here: it offers no voice
                continue
            found += [
                VoicePublic(pipeline=entry.name, id=v.id, name=v.name, language=v.language)
                for v in listed
            ]
        return found

    def _engine_voices(self, name: str) -> list[Any]:
        """The engine's voices, from the engine itself, through the process's pipeline cache
        (loaded once, shared with the in-process worker and every user's view): eSpeak NG in
        milliseconds, a neural voice only from a local folder (a hub id is never looked up
        from the app: offline, that alone takes the hub's retries; its worker says)."""
        try:
            entry = self.catalogue.get(name)
            if entry.implementation != "espeak" and not Path(entry.model_id).is_dir():
                raise PipelineError(f"its model {entry.model_id!r} is not a local folder")
            return list(self.services.runner.pipeline(name).voices())
        except (PipelineError, UnknownPipelineError) as exc:
            raise InvalidInput(
                f"Voice engine {name!r} lists no voices here: {exc}", "engine"
            ) from None

    def _check_voice(self, voice: Voice, field: str) -> None:
        """A voice the engine lacks is refused now, with the ones it has, not after a wait
        in the queue (engines whose voices cannot be listed here say so when they run)."""
        if not voice.voice:
            return
        try:
            ids = [v.id for v in self._engine_voices(voice.engine)]
        except InvalidInput:
            return
        if voice.voice not in ids:
            # Suggest the same language's voices, else well-known ones, not the alphabet's A.
            language = voice.voice.split("-")[0].lower()
            close = [i for i in ids if i.split("-")[0].lower() == language]
            common = [i for i in COMMON_VOICES if i in ids]
            examples = (close or common or ids)[:12]
            raise InvalidInput(
                f"{voice.engine} has no voice {voice.voice!r}; it has {len(ids)}, such as "
                f"{', '.join(examples)} (the Voices tab and voices() list them all)",
                field,
            )

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
        with self._session(write=True) as session:
            project = self._project(session, project_id, Access.render)
            shots = self._shots(session, project_id)
            if shot_ids is not None:
                missing = set(shot_ids) - {s.id for s in shots}
                if missing:
                    raise NotFound(
                        f"No shot(s) {', '.join(map(str, sorted(missing)))} in project "
                        f"#{project_id}"
                    )
                shots = [s for s in shots if s.id in set(shot_ids)]
            members = {m.name: m for m in cast.members(session, project_id)}
            jobs: list[RenderJob] = []
            for shot in shots:
                if seed is not None:
                    seed = int(number(seed, "Seed", 0, MAX_SEED, integer=True))
                params = voices.shot_speech(self.catalogue, project, shot, members, seed)
                if params is None:
                    continue
                line = voices.spoken_line(shot.dialogue)
                assert line is not None
                self._check_voice(voices.voice_for(project, line.speaker, members), "voice")
                jobs.append(self._submit_speech(session, project.id, shot.id, params, priority))
            if not jobs:
                raise InvalidInput(
                    "None of these shots has a line to speak: give a shot dialogue "
                    "(NAME: what they say)",
                    "shot_ids",
                )
        self._wake(jobs)
        queued = [public(j) for j in jobs]
        return self.wait(queued, progress=progress) if wait else queued

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
        with self._session(write=True) as session:
            project = self._project(session, project_id, Access.render)
            if member_id is not None:
                member = self._member(session, member_id, Access.view)
                if member.project_id != project.id:
                    raise NotFound(f"No cast member #{member_id} in project #{project_id}")
                base = voices.member_voice(project, member)
            else:
                base = voices.narrator(project)
            chosen = Voice(
                engine=base.engine if engine is None else engine,
                voice=base.voice if voice is None else voice_id(voice, "voice"),
                speed=base.speed if speed is None else voice_speed(speed, "speed"),
                pitch=base.pitch if pitch is None else voice_pitch(pitch, "pitch"),
            )
            voices.check_engine(self.catalogue, chosen.engine, "engine")
            self._check_voice(chosen, "voice")
            params = voices.speech_params(
                self.catalogue, project, text or PREVIEW_TEXT, chosen, seed=0
            )
            job = self._submit_speech(session, project.id, None, params, Priority.high)
        self._wake([job])
        queued = public(job)
        return self.wait([queued], progress=progress)[0] if wait else queued

    def set_shot_sound(
        self, shot_id: int, sound: bytes | str | Path, gain_db: float | None = None
    ) -> ShotPublic:
        with self._session() as session:
            self._shot(session, shot_id)  # NotFound before looking at the file
        with tempfile.TemporaryDirectory(prefix="sound-") as tmp:
            path = sound_file(sound, self.settings.max_audio_bytes, Path(tmp))
            content_type = CONTENT_TYPES[path.suffix.lower()]
            named = isinstance(sound, str | Path)
            prov = {"kind": "sound", "source_name": path.name if named else ""}
            with self._session(write=True) as session:
                shot = self._shot(session, shot_id)
                owner = self._project(session, shot.project_id).owner
                artifact = store_file(self.storage, path, content_type, prov, owner, path.suffix)
                session.add(artifact)
                session.flush()
                shot.sound_artifact_id = artifact.id
                if gain_db is not None:
                    shot.sound_gain_db = number(gain_db, "Sound gain (dB)", -40, 12)
                session.add(shot)
                return public(shot)

    def clear_shot_sound(self, shot_id: int) -> ShotPublic:
        with self._session(write=True) as session:
            shot = self._shot(session, shot_id)
            shot.sound_artifact_id = None
            session.add(shot)
            return public(shot)

    def _submit_speech(
        self,
        session: Any,
        project_id: int | None,
        shot_id: int | None,
        params: dict[str, Any],
        priority: int,
    ) -> RenderJob:
        assert project_id is not None
        return lifecycle.submit(
            session,
            kind=JobKind.speech,
            project_id=project_id,
            shot_id=shot_id,
            params=params,
            owner=self._project(session, project_id, Access.render).owner,
            priority=priority,
            max_attempts=self.settings.max_attempts,
            cost=self._price(params),
            artifact_available=self._artifact_available,
            **self._billing(),
        )
