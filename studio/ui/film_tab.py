"""Film tab: assemble the chosen takes in shot order, play and download the film."""

from __future__ import annotations

from typing import Any

import gradio as gr

from studio.api import Studio
from studio.core.models import JobKind, JobStatus
from studio.core.validation import AUDIO_SUFFIXES
from studio.film.breakdown import script_title
from studio.ui.common import (
    Refresh,
    for_request,
    guarded,
    project_id_or_none,
    require_project,
    summary,
    wait_with_progress,
)


def latest_film(view: Studio, project_id: int | None) -> str | None:
    """The project's newest film, as the same named copy assembling gives ("Rain-1a2b3c4d.mp4"),
    so its download name does not change after a reload."""
    if project_id is None:
        return None
    films = view.jobs(project_id, statuses=[JobStatus.succeeded.value], kinds=[JobKind.film.value])
    if not films or films[0].artifact_id is None:
        return None
    return str(view.export(films[0].artifact_id, view.project(project_id).name))


def build(studio: Studio, project: gr.Dropdown) -> Refresh:
    with gr.Row():
        with gr.Column(scale=1):
            title = gr.Textbox(
                label="Title card (optional)",
                info="From the script's title page; clear it for no title card",
                elem_id="film-title",
            )
            crossfade = gr.Slider(0, 2, value=0, step=0.1, label="Crossfade between shots (s)")
            audio = gr.File(
                label="Soundtrack (optional; trimmed or padded to the film)",
                file_types=list(AUDIO_SUFFIXES),
                type="filepath",
            )
            assemble = gr.Button("Assemble film", variant="primary", elem_id="assemble")
            status = gr.Markdown("", elem_id="film-status")
        with gr.Column(scale=2):
            video = gr.Video(label="Film", interactive=False, elem_id="film-video", height=400)
            download = gr.File(label="Download", interactive=False, elem_id="film-download")

    def refresh(view: Studio, project_id: Any) -> list[Any]:
        pid = project_id_or_none(project_id)
        path = latest_film(view, pid)
        # The title card starts as the script's title page (clear it for none).
        heading = script_title(view.project(pid).script) if pid is not None else ""
        return [path, path, "", heading]

    @guarded
    def on_assemble(
        project_id: Any,
        title_text: str,
        fade: float,
        audio_path: str | None,
        request: gr.Request,
        progress: gr.Progress = gr.Progress(),
    ) -> list[Any]:
        view = for_request(studio, request)
        pid = require_project(project_id)
        # An empty box means no title card ("" rather than None, which takes the script's).
        heading = title_text or ""
        job = view.assemble(pid, title=heading, crossfade=fade or 0.0, audio=audio_path)
        (job,) = wait_with_progress(view, [job], progress, "Film")
        if job.status != JobStatus.succeeded.value:
            raise gr.Error(summary([job], "Film"), print_exception=False)
        path = str(view.export(job.artifact_id, view.project(pid).name))  # type: ignore[arg-type]
        seconds = view.artifact(job.artifact_id).provenance.get("assembly", {})  # type: ignore[arg-type]
        note = " (served from the render cache)" if job.cache_hit else ""
        name = f"{view.project(pid).name}.mp4"
        link = view.download_url(job.artifact_id, filename=name)  # type: ignore[arg-type]
        direct = f" [Direct download]({link}) (link expires)." if link else ""
        return [
            path,
            path,
            f"Film ready{note}: {seconds.get('seconds', 0):.1f} s, "
            f"{seconds.get('method', '')}.{direct}",
        ]

    assembled = assemble.click(
        on_assemble, [project, title, crossfade, audio], [video, download, status]
    )
    return Refresh(refresh, [video, download, status, title], submits=[assembled])
