"""Storyboard tab: a card per shot with its preview frame, edited where it is (prompt,
duration, camera move, seed: Save, Regenerate preview, Render clip, keyboard shortcuts);
Preview all. The cards themselves (HTML, script, style) are in storyboard_cards."""

from __future__ import annotations

import random
from typing import Any

import gradio as gr

from studio.api import Studio
from studio.core.validation import MAX_SEED
from studio.ui.common import (
    Refresh,
    estimate_text,
    event_data,
    for_request,
    guarded,
    project_id_or_none,
    require_project,
    summary,
    wait_with_progress,
)
from studio.ui.storyboard_cards import ACTIONS, BOARD_CSS, BOARD_JS, board_html, changes


def cost(view: Studio, project_id: Any) -> str:
    """What "Preview all" costs now (shots whose preview is cached cost the cache-hit price).
    Regenerating a card picks a new seed, so it costs a full preview of that shot."""
    return estimate_text(view, project_id, "preview", all_label="preview all")


def build(studio: Studio, project: gr.Dropdown) -> Refresh:
    with gr.Row(equal_height=True):
        preview_all = gr.Button("Preview all", variant="primary", elem_id="preview-all")
        regenerate = gr.Button("Regenerate selected (new seed)", elem_id="regenerate")
        estimate = gr.Markdown("", elem_id="storyboard-cost")
    status = gr.Markdown("", elem_id="storyboard-status")
    board = gr.HTML(
        "",
        elem_id="storyboard",
        elem_classes=["shot-cards"],
        js_on_load=BOARD_JS,
        css_template=BOARD_CSS,
    )
    selected = gr.State(None)  # the card last focused (clicked, tabbed or arrowed to)

    def refresh(view: Studio, project_id: Any) -> list[Any]:
        pid = project_id_or_none(project_id)
        return [board_html(view, pid), None, cost(view, pid)]

    @guarded
    def on_preview_all(
        project_id: Any, request: gr.Request, progress: gr.Progress = gr.Progress()
    ) -> list[Any]:
        view = for_request(studio, request)
        pid = require_project(project_id)
        jobs = wait_with_progress(view, view.preview(pid), progress, "Previews")
        return [board_html(view, pid), summary(jobs, "Previews"), cost(view, pid)]

    @guarded
    def on_select(project_id: Any, evt: gr.EventData, request: gr.Request) -> Any:
        shot = _shot_id(event_data(evt))
        shots = for_request(studio, request).shots(require_project(project_id))
        return shot if shot in [s.id for s in shots] else None

    def new_preview(view: Studio, pid: int, shot_id: int, progress: Any) -> tuple[str, str]:
        """A new random seed for the shot and its preview drawn again (waits)."""
        seed = random.randint(0, MAX_SEED)
        view.update_shot(shot_id, seed=seed)
        jobs = wait_with_progress(view, view.preview(pid, [shot_id]), progress, "Preview")
        return f"new seed {seed}", summary(jobs, "Preview")

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
            raise gr.Error(
                "Select a card first: click it, or move to it with ← →.", print_exception=False
            )
        ids = [s.id for s in view.shots(pid)]
        if shot_id not in ids:
            raise gr.Error("That shot is no longer in this project.", print_exception=False)
        seed, result = new_preview(view, pid, shot_id, progress)
        note = f"Shot {ids.index(shot_id) + 1}: {seed}. {result}"
        return [board_html(view, pid), note, cost(view, pid)]

    @guarded
    def on_card(
        project_id: Any,
        evt: gr.EventData,
        request: gr.Request,
        progress: gr.Progress = gr.Progress(),
    ) -> list[Any]:
        """A card's Save, Regenerate preview or Render clip: its edits are saved first (all
        or none: a value the studio refuses leaves the shot as it was), then the action."""
        view = for_request(studio, request)
        pid = require_project(project_id)
        sent = event_data(evt)
        action = sent.get("action")
        if action not in ACTIONS:
            raise gr.Error(f"Unknown card action {action!r}.", print_exception=False)
        shots = view.shots(pid)
        number, shot = next(
            ((n, s) for n, s in enumerate(shots, 1) if s.id == _shot_id(sent)), (0, None)
        )
        if shot is None:
            raise gr.Error(
                "That shot is no longer in this project; the storyboard shows its shots now.",
                print_exception=False,
            )
        edits = changes(shot, sent)
        if action == "regenerate":
            edits.pop("seed", None)  # a new seed is the point of regenerating
        if edits:
            view.update_shot(shot.id, **edits)
        done = [f"saved ({', '.join(k.replace('_', ' ') for k in edits)})"] if edits else []
        result = ""
        if action == "regenerate":
            seed, result = new_preview(view, pid, shot.id, progress)
            done.append(seed)
        elif action == "render":
            (job,) = view.render(pid, [shot.id])
            done.append(
                f"clip job #{job.id} served from the render cache"
                if job.cache_hit
                else f"clip queued as job #{job.id}: follow it on the Render queue tab"
            )
        note = f"Shot {number}: {'; '.join(done) or 'nothing changed'}. {result}".strip()
        return [board_html(view, pid), note, cost(view, pid)]

    previewed = preview_all.click(on_preview_all, project, [board, status, estimate])
    board.select(on_select, project, selected, show_progress="hidden")
    regenerated = regenerate.click(on_regenerate, [project, selected], [board, status, estimate])
    edited = board.submit(on_card, project, [board, status, estimate])
    return Refresh(
        refresh,
        [board, selected, estimate],
        shot_changes=[regenerated, edited],
        submits=[previewed, regenerated, edited],
    )


def _shot_id(sent: dict[str, Any]) -> int | None:
    try:
        return int(sent["shot"])
    except (KeyError, TypeError, ValueError):
        return None
