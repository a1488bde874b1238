"""Voices tab: who says what, in which voice. The project's spoken lines (speak them all in
the render queue; each sets its shot's duration), each speaker's voice (engine, voice, speed,
pitch) with a preview to listen to, where a line starts inside its shot, and the sound under
a shot (room tone, effects) in the film's mix."""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import Any

import gradio as gr

from studio.api import Studio
from studio.api.voices import PREVIEW_TEXT
from studio.core.models import JobPublic, JobStatus, ProjectPublic, ShotPublic, VoicePublic
from studio.core.validation import AUDIO_SUFFIXES
from studio.core.voices import spoken_line
from studio.ui.common import (
    Refresh,
    for_request,
    guarded,
    project_or_none,
    require_project,
    shot_label,
    summary,
    wait_with_progress,
)

LINE_HEADERS = ["#", "Speaker", "Line", "Voice", "Spoken", "Shot (s)"]
NARRATOR = "narrator"  # the speaker choice for the narrator (members are chosen by id)


def voice_label(engine: str, voice: str, speed: float, pitch: float) -> str:
    """ "espeak en-gb ×1.2 +3 st": how a line will sound, short."""
    parts = [engine, voice or "default voice"]
    if speed != 1.0:
        parts.append(f"×{speed:g}")
    if pitch:
        parts.append(f"{pitch:+g} st")
    return " ".join(parts)


def line_rows(view: Studio, project: ProjectPublic) -> list[list[Any]]:
    """A row per shot with a line: who, what, in which voice, whether it is spoken."""
    members = {m.name: m for m in view.cast(project.id)}
    rows = []
    for number, shot in enumerate(view.shots(project.id), 1):
        line = spoken_line(shot.dialogue)
        if line is None:
            continue
        member = members.get(line.speaker.upper())
        if member is not None:
            voice = voice_label(
                member.voice_engine or project.speech_pipeline,
                member.voice,
                member.voice_speed,
                member.voice_pitch,
            )
        else:
            voice = "narrator: " + voice_label(
                project.speech_pipeline,
                project.narrator_voice,
                project.narrator_speed,
                project.narrator_pitch,
            )
        rows.append(
            [
                number,
                line.speaker.title() or "—",
                line.text,
                voice,
                _spoken(view, shot, line.text),
                round(shot.duration, 2),
            ]
        )
    return rows


def _spoken(view: Studio, shot: ShotPublic, text: str) -> str:
    takes = view.lines(shot.id)
    chosen = next((t for t in takes if t.id == shot.chosen_line_id), takes[0] if takes else None)
    if chosen is None:
        return "not yet"
    if chosen.params["request"]["text"] != text:
        return "words changed: speak again"
    return f"yes (job #{chosen.id})"


def line_take_label(take: JobPublic, chosen_id: int | None) -> str:
    """ "Line #31 · espeak en-gb · “Where were you?” (chosen)": which words, in which voice."""
    request = take.params.get("request") or {}
    engine = (take.params.get("pipeline") or {}).get("name", "")
    words = str(request.get("text", ""))
    words = words if len(words) <= 40 else words[:39] + "…"
    voice = voice_label(
        engine, request.get("voice", ""), request.get("speed", 1.0), request.get("pitch", 0.0)
    )
    label = f"Line #{take.id} · {voice} · “{words}”"
    return label + (" (chosen)" if take.id == chosen_id else "")


def build(studio: Studio, project: gr.Dropdown) -> Refresh:
    gr.Markdown(
        "Each line of dialogue is spoken in its speaker's voice (a cast member's, else the "
        "narrator's) as a job in the render queue; a spoken line sets its shot's duration "
        "(the line, from its start, and a short pause) unless the duration is pinned. The "
        "film places each line in its shot and writes subtitles."
    )
    status = gr.Markdown("", elem_id="voices-status")
    table = gr.Dataframe(
        headers=LINE_HEADERS,
        value=[],
        interactive=False,
        wrap=True,
        type="array",
        label="Lines",
        elem_id="lines-table",
    )
    speak = gr.Button("Speak all lines", variant="primary", elem_id="speak-lines")
    gr.Markdown("**Voices**: choose a speaker, change its voice, listen, save.")
    with gr.Row():
        speaker = gr.Dropdown(label="Voice of", choices=[], elem_id="voice-of", scale=2)
        engine = gr.Dropdown(label="Engine", choices=[], elem_id="voice-engine", scale=2)
        voice = gr.Dropdown(label="Voice", choices=[], elem_id="voice-id", scale=2, filterable=True)
    with gr.Row():
        speed = gr.Slider(0.5, 2, value=1, step=0.05, label="Speed", elem_id="voice-speed")
        pitch = gr.Slider(
            -12, 12, value=0, step=1, label="Pitch (semitones)", elem_id="voice-pitch"
        )
    sample = gr.Textbox(label="Try it with", value=PREVIEW_TEXT, elem_id="voice-sample")
    with gr.Row():
        preview = gr.Button("Preview voice", elem_id="preview-voice")
        save = gr.Button("Save voice", elem_id="save-voice")
    audio = gr.Audio(label="Preview", type="filepath", interactive=False, elem_id="voice-audio")
    gr.Markdown("**Timing**: where a shot's line starts, and whether its duration is pinned.")
    with gr.Row():
        shot = gr.Dropdown(label="Shot", choices=[], elem_id="line-shot", scale=3)
        offset = gr.Number(
            label="Line starts at (s into the shot)", minimum=0, elem_id="line-offset", scale=1
        )
        pinned = gr.Checkbox(label="Pin the shot's duration", elem_id="line-pinned", scale=1)
        save_timing = gr.Button("Save timing", elem_id="save-timing", scale=1)
    with gr.Row():
        line_take = gr.Dropdown(
            label="Its spoken takes (the film uses the chosen one)",
            choices=[],
            elem_id="line-take",
            scale=4,
        )
        use_take = gr.Button("Use this take", elem_id="use-line-take", scale=1)
        new_take = gr.Button("Speak it again (a new take)", elem_id="new-line-take", scale=1)
    gr.Markdown(
        "**Sound under a shot**: room tone or effects (rain, traffic), looped or cut to the "
        "shot's time on screen in the film, under the lines and the soundtrack."
    )
    with gr.Row():
        sound_shot = gr.Dropdown(label="Shot", choices=[], elem_id="sound-shot", scale=3)
        sound = gr.File(
            label="Sound (WAV, MP3, Ogg, FLAC, M4A)",
            file_types=list(AUDIO_SUFFIXES),
            type="filepath",
            elem_id="shot-sound",
            scale=3,
        )
        with gr.Column(scale=2):
            gain = gr.Slider(-40, 12, value=0, step=1, label="Level (dB)", elem_id="sound-gain")
            sound_state = gr.Markdown("", elem_id="sound-state")
            with gr.Row():
                save_gain = gr.Button("Save level", elem_id="save-sound-gain")
                clear_sound = gr.Button("Remove sound", elem_id="clear-sound")

    def voice_choices(found: list[VoicePublic], name: str) -> list[tuple[str, str]]:
        found = [v for v in found if v.pipeline == name]
        return [("Default", "")] + [
            (f"{v.name} ({v.language})" if v.language else v.name, v.id) for v in found
        ]

    def speaker_values(view: Studio, project_id: int | None, chosen: Any = NARRATOR) -> list[Any]:
        p = project_or_none(view, project_id)
        if p is None:
            empty = gr.Dropdown(choices=[], value=None)
            return [empty, empty, empty, 1.0, 0.0]
        members = [m for m in view.cast(p.id) if m.kind == "character"]
        choices = [("Narrator", NARRATOR)] + [(m.name.title(), str(m.id)) for m in members]
        member = next((m for m in members if str(m.id) == str(chosen)), None)
        if member is None:
            name, values = p.speech_pipeline, (p.narrator_voice, p.narrator_speed, p.narrator_pitch)
            picked = NARRATOR
        else:
            name = member.voice_engine or p.speech_pipeline
            values = (member.voice, member.voice_speed, member.voice_pitch)
            picked = str(member.id)
        offered = view.voices()  # once: every engine's voices
        return [
            gr.Dropdown(choices=choices, value=picked),
            gr.Dropdown(choices=sorted({v.pipeline for v in offered}), value=name),
            gr.Dropdown(choices=voice_choices(offered, name), value=values[0]),
            values[1],
            values[2],
        ]

    def shot_values(view: Studio, project_id: int | None, chosen: Any = None) -> list[Any]:
        shots = view.shots(project_id) if project_id is not None else []
        with_lines = [(n, s) for n, s in enumerate(shots, 1) if spoken_line(s.dialogue)]
        choices = [
            (f"Shot {n}: {spoken_line(s.dialogue).text[:50]}", s.id)  # type: ignore[union-attr]
            for n, s in with_lines
        ]
        picked = next((s for _, s in with_lines if s.id == chosen), None)
        picked = picked or (with_lines[0][1] if with_lines else None)
        if picked is None:
            empty = gr.Dropdown(choices=[], value=None)
            return [empty, None, False, gr.Dropdown(choices=[], value=None)]
        takes = view.lines(picked.id)
        chosen_take = picked.chosen_line_id or (takes[0].id if takes else None)
        return [
            gr.Dropdown(choices=choices, value=picked.id),
            picked.line_offset,
            picked.duration_pinned,
            gr.Dropdown(
                choices=[(line_take_label(t, picked.chosen_line_id), t.id) for t in takes],
                value=chosen_take,
            ),
        ]

    def sound_values(view: Studio, project_id: int | None, chosen: Any = None) -> list[Any]:
        shots = view.shots(project_id) if project_id is not None else []
        picked = next((s for s in shots if s.id == chosen), shots[0] if shots else None)
        if picked is None:
            return [gr.Dropdown(choices=[], value=None), 0, ""]
        choices = [(shot_label(n, s), s.id) for n, s in enumerate(shots, 1)]
        state = "No sound."
        if picked.sound_artifact_id is not None:
            stored = view.artifact(picked.sound_artifact_id)
            name = stored.provenance.get("source_name") or "uploaded"
            state = f"Sound: {name} ({stored.bytes / 1e3:,.0f} kB)"
        return [gr.Dropdown(choices=choices, value=picked.id), picked.sound_gain_db, state]

    def values(view: Studio, project_id: Any, message: str = "", **chosen: Any) -> list[Any]:
        p = project_or_none(view, project_id)
        rows = line_rows(view, p) if p is not None else []
        pid = p.id if p is not None else None
        speakers = speaker_values(view, pid, chosen.get("speaker", NARRATOR))
        return [
            message,
            rows,
            *speakers,
            *shot_values(view, pid, chosen.get("shot")),
            *sound_values(view, pid, chosen.get("sound_shot")),
        ]

    def refresh(view: Studio, project_id: Any) -> list[Any]:
        return values(view, project_id)

    @guarded
    def on_speaker(project_id: Any, chosen: Any, request: gr.Request) -> list[Any]:
        view = for_request(studio, request)
        return speaker_values(view, require_project(project_id), chosen)

    @guarded
    def on_engine(name: Any, request: gr.Request) -> Any:
        view = for_request(studio, request)
        return gr.Dropdown(choices=voice_choices(view.voices(), str(name)), value="")

    @guarded
    def on_save(
        project_id: Any,
        chosen: Any,
        name: Any,
        voice_id: Any,
        new_speed: Any,
        new_pitch: Any,
        request: gr.Request,
    ) -> list[Any]:
        view = for_request(studio, request)
        pid = require_project(project_id)
        voice_id = voice_id or ""
        if chosen in (None, NARRATOR):
            view.update_project(
                pid,
                speech_pipeline=name,
                narrator_voice=voice_id,
                narrator_speed=new_speed,
                narrator_pitch=new_pitch,
            )
            message = "Saved the narrator's voice."
        else:
            member = view.update_cast_member(
                int(chosen),
                voice_engine=name,
                voice=voice_id,
                voice_speed=new_speed,
                voice_pitch=new_pitch,
            )
            message = f"Saved {member.name.title()}'s voice: speak the lines again to hear it."
        return values(view, pid, message, speaker=chosen)

    @guarded
    def on_preview(
        project_id: Any,
        chosen: Any,
        name: Any,
        voice_id: Any,
        new_speed: Any,
        new_pitch: Any,
        text: str,
        request: gr.Request,
        progress: gr.Progress = gr.Progress(),
    ) -> list[Any]:
        view = for_request(studio, request)
        pid = require_project(project_id)
        member_id = None if chosen in (None, NARRATOR) else int(chosen)
        job = view.preview_voice(
            pid,
            text or "",
            member_id=member_id,
            engine=name or None,
            voice=voice_id or "",
            speed=new_speed,
            pitch=new_pitch,
            wait=False,
        )
        (job,) = wait_with_progress(view, [job], progress, "Voice preview")
        if job.status != JobStatus.succeeded.value:
            raise gr.Error(summary([job], "Voice preview"), print_exception=False)
        seconds = view.artifact(job.artifact_id).provenance.get("speech", {}).get("seconds", 0)  # type: ignore[arg-type]
        path = str(view.artifact_path(job.artifact_id))  # type: ignore[arg-type]
        return [path, f"Preview: {seconds:.1f} s (job #{job.id})."]

    @guarded
    def on_speak(
        project_id: Any, request: gr.Request, progress: gr.Progress = gr.Progress()
    ) -> list[Any]:
        view = for_request(studio, request)
        pid = require_project(project_id)
        jobs = wait_with_progress(view, view.speak(pid), progress, "Lines")
        return values(view, pid, summary(jobs, "Lines"))

    @guarded
    def on_shot(project_id: Any, chosen: Any, request: gr.Request) -> list[Any]:
        view = for_request(studio, request)
        return shot_values(view, require_project(project_id), chosen)

    @guarded
    def on_timing(
        project_id: Any, chosen: Any, start: Any, pin: bool, request: gr.Request
    ) -> list[Any]:
        view = for_request(studio, request)
        pid = require_project(project_id)
        if chosen is None:
            raise gr.Error("Choose a shot with a line.", print_exception=False)
        if start is None:
            raise gr.Error("Say where the line starts, in seconds.", print_exception=False)
        saved = view.update_shot(int(chosen), line_offset=start, duration_pinned=bool(pin))
        message = f"Saved: the line starts {saved.line_offset:g} s in; the shot lasts "
        message += f"{saved.duration:g} s{' (pinned)' if saved.duration_pinned else ''}."
        return values(view, pid, message, shot=saved.id)

    @guarded
    def on_use_take(project_id: Any, chosen: Any, take_id: Any, request: gr.Request) -> list[Any]:
        view = for_request(studio, request)
        pid = require_project(project_id)
        if chosen is None or take_id is None:
            raise gr.Error("Choose a shot and one of its spoken takes.", print_exception=False)
        shot = view.choose_take(int(chosen), int(take_id))
        message = f"The film uses line #{take_id} now; the shot lasts {shot.duration:g} s."
        return values(view, pid, message, shot=shot.id)

    @guarded
    def on_new_take(
        project_id: Any, chosen: Any, request: gr.Request, progress: gr.Progress = gr.Progress()
    ) -> list[Any]:
        view = for_request(studio, request)
        pid = require_project(project_id)
        if chosen is None:
            raise gr.Error("Choose a shot with a line.", print_exception=False)
        seed = secrets.randbelow(2**31)  # another seed: another reading of the same words
        jobs = wait_with_progress(view, view.speak(pid, [int(chosen)], seed=seed), progress, "Line")
        return values(view, pid, summary(jobs, "New take"), shot=int(chosen))

    def chosen_shot(chosen: Any) -> int:
        if chosen is None:
            raise gr.Error("Choose a shot first.", print_exception=False)
        return int(chosen)

    @guarded
    def on_sound_shot(project_id: Any, chosen: Any, request: gr.Request) -> list[Any]:
        view = for_request(studio, request)
        return sound_values(view, require_project(project_id), chosen)

    @guarded
    def on_sound(
        project_id: Any, chosen: Any, path: Any, level: Any, request: gr.Request
    ) -> list[Any]:
        view = for_request(studio, request)
        pid = require_project(project_id)
        shot_id = chosen_shot(chosen)
        if not path:
            return values(view, pid, "", sound_shot=shot_id)
        view.set_shot_sound(shot_id, Path(path), gain_db=level)
        return values(view, pid, "Sound saved: assemble the film to hear it.", sound_shot=shot_id)

    @guarded
    def on_gain(project_id: Any, chosen: Any, level: Any, request: gr.Request) -> list[Any]:
        view = for_request(studio, request)
        pid = require_project(project_id)
        saved = view.update_shot(chosen_shot(chosen), sound_gain_db=level)
        return values(view, pid, f"Sound level {saved.sound_gain_db:+g} dB.", sound_shot=saved.id)

    @guarded
    def on_clear_sound(project_id: Any, chosen: Any, request: gr.Request) -> list[Any]:
        view = for_request(studio, request)
        pid = require_project(project_id)
        cleared = view.clear_shot_sound(chosen_shot(chosen))
        return values(view, pid, "Sound removed.", sound_shot=cleared.id)

    voice_fields = [speaker, engine, voice, speed, pitch]
    sound_fields = [sound_shot, gain, sound_state]
    timing_fields = [shot, offset, pinned, line_take]
    outputs = [status, table, *voice_fields, *timing_fields, *sound_fields]
    speaker.input(on_speaker, [project, speaker], voice_fields)
    engine.input(on_engine, engine, voice)
    shot.input(on_shot, [project, shot], timing_fields)
    saved_voice = save.click(on_save, [project, *voice_fields], outputs)
    preview.click(on_preview, [project, *voice_fields, sample], [audio, status])
    spoken = speak.click(on_speak, project, outputs)
    timed = save_timing.click(on_timing, [project, shot, offset, pinned], outputs)
    used = use_take.click(on_use_take, [project, shot, line_take], outputs)
    retaken = new_take.click(on_new_take, [project, shot], outputs)
    sound_shot.input(on_sound_shot, [project, sound_shot], sound_fields)
    sound.upload(on_sound, [project, sound_shot, sound, gain], outputs)
    save_gain.click(on_gain, [project, sound_shot, gain], outputs)
    clear_sound.click(on_clear_sound, [project, sound_shot], outputs)
    changes = [spoken, timed, saved_voice, used, retaken]
    return Refresh(refresh, outputs, changes, submits=[spoken, retaken])
