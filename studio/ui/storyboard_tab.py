"""Storyboard tab: a grid of shot cards with preview frames; preview all, regenerate one."""

from __future__ import annotations

import random
from typing import Any

import gradio as gr
from PIL import Image

from studio.api import Studio
from studio.core.validation import MAX_SEED
from studio.ui.common import (
    Refresh,
    estimate_text,
    for_request,
    guarded,
    project_id_or_none,
    require_project,
    summary,
    wait_with_progress,
)


def _placeholder(width: int, height: int) -> Image.Image:
    return Image.new("RGB", (max(width // 4, 16), max(height // 4, 16)), (200, 200, 205))


def cards(view: Studio, project_id: int | None) -> list[tuple[Any, str]]:
    if project_id is None:
        return []
    project = view.project(project_id)
    items: list[tuple[Any, str]] = []
    for number, shot in enumerate(view.shots(project_id), 1):
        path = view.preview_path(shot)
        caption = (
            f"{number}. [{shot.shot_size}, {shot.camera_move}, {shot.duration:g}s] {shot.prompt}"
        )
        items.append(
            (
                str(path) if path else _placeholder(project.width, project.height),
                caption if path else caption + " — no preview yet",
            )
        )
    return items


def cost(view: Studio, project_id: Any) -> str:
    """What "Preview all" costs now (shots whose preview is cached cost the cache-hit price).
    Regenerating a card picks a new seed, so it costs a full preview of that shot."""
    return estimate_text(view, project_id, "preview", all_label="preview all")


def build(studio: Studio, project: gr.Dropdown) -> Refresh:
    with gr.Row(equal_height=True):
        preview_all = gr.Button("Preview all", variant="primary", elem_id="preview-all")
        regenerate = gr.Button("Regenerate selected (new seed)", elem_id="regenerate")
        estimate = gr.Markdown("", elem_id="storyboard-cost")
    status = gr.Markdown("Select a card to regenerate it.", elem_id="storyboard-status")
    gallery = gr.Gallery(
        label="Storyboard",
        columns=4,
        height="auto",
        object_fit="contain",
        format="png",
        elem_id="storyboard",
        elem_classes=["shot-card"],
        allow_preview=True,
    )
    selected = gr.State(None)

    def refresh(view: Studio, project_id: Any) -> list[Any]:
        pid = project_id_or_none(project_id)
        return [cards(view, pid), None, cost(view, pid)]

    @guarded
    def on_preview_all(
        project_id: Any, request: gr.Request, progress: gr.Progress = gr.Progress()
    ) -> list[Any]:
        view = for_request(studio, request)
        pid = require_project(project_id)
        jobs = wait_with_progress(view, view.preview(pid), progress, "Previews")
        return [cards(view, pid), summary(jobs, "Previews"), cost(view, pid)]

    @guarded
    def on_select(project_id: Any, request: gr.Request, evt: gr.SelectData) -> tuple[Any, str]:
        shots = for_request(studio, request).shots(require_project(project_id))
        if evt.index is None or not 0 <= int(evt.index) < len(shots):
            return None, ""
        shot = shots[int(evt.index)]
        return shot.id, f"Selected shot {int(evt.index) + 1}."

    @guarded
    def on_regenerate(
        project_id: Any,
        shot_id: Any,
        request: gr.Request,
        progress: gr.Progress = gr.Progress(),
    ) -> list[Any]:
        view = for_request(studio, request)
        pid = require_project(project_id)
        if shot_id is None:
            raise gr.Error("Select a card first.", print_exception=False)
        view.update_shot(shot_id, seed=random.randint(0, MAX_SEED))
        jobs = wait_with_progress(view, view.preview(pid, [shot_id]), progress, "Preview")
        return [cards(view, pid), summary(jobs, "Preview"), cost(view, pid)]

    previewed = preview_all.click(on_preview_all, project, [gallery, status, estimate])
    gallery.select(on_select, project, [selected, status])
    regenerated = regenerate.click(on_regenerate, [project, selected], [gallery, status, estimate])
    return Refresh(
        refresh,
        [gallery, selected, estimate],
        shot_changes=[regenerated],
        submits=[previewed, regenerated],
    )
