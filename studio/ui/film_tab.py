"""Film tab: assemble the timeline (studio/ui/timeline_panel.py: the chosen takes in shot
order, trimmed, with their transitions) with the spoken lines, subtitles and soundtrack; play
it (subtitles shown) and download it with its SRT and WebVTT files."""

from __future__ import annotations

from typing import Any

import gradio as gr

from studio.api import Studio
from studio.core.models import JobKind, JobPublic, JobStatus
from studio.core.validation import AUDIO_SUFFIXES, DEFAULT_LOUDNESS
from studio.film.breakdown import script_title
from studio.ui import timeline_panel
from studio.ui.common import (
    Refresh,
    for_request,
    guarded,
    project_id_or_none,
    require_project,
    summary,
    wait_with_progress,
)


def latest_film(view: Studio, project_id: int | None) -> JobPublic | None:
    """The project's newest film job."""
    if project_id is None:
        return None
    films = view.jobs(project_id, statuses=[JobStatus.succeeded.value], kinds=[JobKind.film.value])
    return films[0] if films and films[0].artifact_id is not None else None


def film_files(view: Studio, job: JobPublic | None, name: str) -> tuple[Any, list[str]]:
    """The film for the player (with its WebVTT subtitles, which it shows) and the files to
    download: the film as the same named copy assembling gives ("Rain-1a2b3c4d.mp4", so its
    download name does not change after a reload), then its subtitle files beside it."""
    if job is None or job.artifact_id is None:
        return None, []
    path = str(view.export(job.artifact_id, name))
    attachments = view.artifact(job.artifact_id).provenance.get("attachments", {})
    files = {
        role: str(view.export(artifact_id, name))
        for role, artifact_id in sorted(attachments.items())
    }
    player = gr.Video(value=path, subtitles=files.get("vtt"))
    return player, [path, *files.values()]


def build(studio: Studio, project: gr.Dropdown) -> Refresh:
    with gr.Row():
        with gr.Column(scale=1):
            title = gr.Textbox(
                label="Title card (optional)",
                info="From the script's title page; clear it for no title card",
                elem_id="film-title",
            )
            crossfade = gr.Slider(
                0,
                2,
                value=0,
                step=0.1,
                label="Dissolve at every cut (s)",
                info="0: the timeline's own transitions only",
            )
            audio = gr.File(
                label="Soundtrack (optional; trimmed or padded to the film, lowered under speech)",
                file_types=list(AUDIO_SUFFIXES),
                type="filepath",
            )
            with gr.Row():
                dialogue = gr.Checkbox(
                    value=True, label="Spoken lines (Voices tab)", elem_id="film-dialogue"
                )
                subtitles = gr.Checkbox(value=True, label="Subtitles", elem_id="film-subtitles")
            with gr.Row():
                burn = gr.Checkbox(
                    value=False, label="Burn subtitles into the picture", elem_id="film-burn"
                )
                names = gr.Checkbox(value=False, label="Speaker names in subtitles")
            loudness = gr.Number(
                value=DEFAULT_LOUDNESS,
                label="Loudness (LUFS, integrated; −16 for the web, −23 for broadcast)",
                minimum=-40,
                maximum=-5,
                elem_id="film-loudness",
            )
            assemble = gr.Button("Assemble film", variant="primary", elem_id="assemble")
            status = gr.Markdown("", elem_id="film-status")
        with gr.Column(scale=2):
            video = gr.Video(label="Film", interactive=False, elem_id="film-video", height=400)
            download = gr.File(
                label="Download (film, SRT, WebVTT)",
                interactive=False,
                file_count="multiple",
                elem_id="film-download",
            )
    timeline = timeline_panel.build(studio, project)

    def refresh(view: Studio, project_id: Any) -> list[Any]:
        pid = project_id_or_none(project_id)
        name = view.project(pid).name if pid is not None else ""
        player, files = film_files(view, latest_film(view, pid), name)
        # The title card starts as the script's title page (clear it for none).
        heading = script_title(view.project(pid).script) if pid is not None else ""
        return [player, files or None, "", heading, *timeline.refresh(view, pid)]

    @guarded
    def on_assemble(
        project_id: Any,
        title_text: str,
        fade: float,
        audio_path: str | None,
        spoken: bool,
        subtitled: bool,
        burned: bool,
        named: bool,
        target: Any,
        request: gr.Request,
        progress: gr.Progress = gr.Progress(),
    ) -> list[Any]:
        view = for_request(studio, request)
        pid = require_project(project_id)
        # An empty box means no title card ("" rather than None, which takes the script's).
        heading = title_text or ""
        job = view.assemble(
            pid,
            title=heading,
            crossfade=fade or 0.0,
            audio=audio_path,
            dialogue=bool(spoken),
            subtitles=bool(subtitled),
            burn_subtitles=bool(burned),
            speaker_names=bool(named),
            loudness=target,
        )
        (job,) = wait_with_progress(view, [job], progress, "Film")
        if job.status != JobStatus.succeeded.value:
            raise gr.Error(summary([job], "Film"), print_exception=False)
        player, files = film_files(view, job, view.project(pid).name)
        assembly = view.artifact(job.artifact_id).provenance.get("assembly", {})  # type: ignore[arg-type]
        note = " (served from the render cache)" if job.cache_hit else ""
        name = f"{view.project(pid).name}.mp4"
        link = view.download_url(job.artifact_id, filename=name)  # type: ignore[arg-type]
        direct = f" [Direct download]({link}) (link expires)." if link else ""
        lines = len(job.params.get("lines", []))
        heard = f", {lines} spoken line{'s' if lines != 1 else ''}" if lines else ""
        unspoken = job.params.get("unspoken") or []
        missing = (
            f" Not spoken yet (silent): shot {', '.join(map(str, unspoken))} — Voices → "
            "Speak all lines, then assemble again."
            if unspoken
            else ""
        )
        return [
            player,
            files,
            f"Film ready{note}: {assembly.get('seconds', 0):.1f} s, "
            f"{assembly.get('method', '')}{heard}.{direct}{missing}",
        ]

    options = [dialogue, subtitles, burn, names, loudness]
    assembled = assemble.click(
        on_assemble, [project, title, crossfade, audio, *options], [video, download, status]
    )
    # The new film is a new version in the cuts list.
    assembled.success(timeline.handler(studio), project, timeline.outputs)
    tab = Refresh(refresh, [video, download, status, title, *timeline.outputs], submits=[assembled])
    # Opening the tab shows the timeline as other tabs left it (takes chosen, verdicts,
    # comments), without touching the film options being filled in.
    tab.looks = timeline.looks
    return tab
