"""Render queue tab: submit renders, watch them live, cancel/retry/prioritise, pick takes."""

from __future__ import annotations

import html
from typing import Any

import gradio as gr

from studio.api import Studio
from studio.core.models import JobPublic, JobStatus
from studio.core.validation import number
from studio.ui.common import (
    Refresh,
    estimate_text,
    for_request,
    guarded,
    project_id_or_none,
    require_project,
    shot_choices,
)

STATUS_COLOURS = {
    "queued": "#888",
    "running": "#1f6feb",
    "succeeded": "#1a7f37",
    "failed": "#cf222e",
    "cancelled": "#9a6700",
}


def queue_html(view: Studio, project_id: int | None) -> str:
    return queue_state(view, project_id)[0]


def queue_state(view: Studio, project_id: int | None) -> tuple[str, int]:
    """The queue table, and how many of its jobs succeeded (when that changes, the render
    cache can serve more shots: the cost estimate changes)."""
    if project_id is None:
        return "<p>No project selected.</p>", 0
    jobs = view.jobs(project_id)
    succeeded = sum(1 for job in jobs if job.status == JobStatus.succeeded.value)
    paused = view.queue_paused()
    banner = "<p id='queue-paused'><b>Queue paused</b>: queued jobs wait until you resume.</p>"
    if not jobs:
        return "<p id='queue-empty'>No renders yet. Render a shot to start the queue.</p>", 0
    numbers = {s.id: i for i, s in enumerate(view.shots(project_id), 1)}
    positions = view.queue_positions()
    rows = "".join(_row(job, numbers, positions) for job in jobs)
    table = (banner if paused else "") + (
        "<table id='queue-table' style='width:100%;border-collapse:collapse'><thead><tr>"
        "<th>Job</th><th>Kind</th><th>Shot</th><th>Status</th><th style='width:22%'>Progress"
        "</th><th>Queue pos.</th><th>Priority</th><th>Attempts</th><th>Details</th></tr>"
        f"</thead><tbody>{rows}</tbody></table>"
    )
    return table, succeeded


def _row(job: JobPublic, numbers: dict[int, int], positions: dict[int, int]) -> str:
    pct = round(job.progress * 100)
    colour = STATUS_COLOURS.get(job.status, "#888")
    position = positions.get(job.id) if job.id is not None else None
    detail = job.error if job.status == JobStatus.failed.value else job.message
    cache = "<span class='cache-hit'>⚡ render cache</span> " if job.cache_hit else ""
    shot = numbers.get(job.shot_id, "—") if job.shot_id else "—"
    return (
        f"<tr class='job-row' data-job='{job.id}' data-status='{job.status}'>"
        f"<td>#{job.id}</td><td>{job.kind}</td><td>{shot}</td>"
        f"<td style='color:{colour};font-weight:600'>{job.status}</td>"
        f"<td><progress max='100' value='{pct}' style='width:80%'></progress> {pct}%</td>"
        f"<td>{position or ''}</td><td>{job.priority}</td><td>{job.attempts}</td>"
        f"<td>{cache}{html.escape((detail or '')[:300])}</td></tr>"
    )


def job_number(value: Any) -> int:
    return int(number(str(value).strip().lstrip("#"), "Job #", 1, 2**31 - 1, integer=True))


def take_label(take: Any, chosen_id: int | None) -> str:
    """ "Take #24 · seed 7 · 5 Dec 16:40 (chosen)": enough to tell takes apart."""
    parts = [f"Take #{take.id}"]
    seed = (take.params.get("request") or {}).get("seed", take.params.get("seed"))
    if seed is not None:
        parts.append(f"seed {seed}")
    if take.finished_at is not None:
        parts.append(f"{take.finished_at:%d %b %H:%M}")
    label = " · ".join(parts)
    label += " (chosen)" if take.id == chosen_id else ""
    return label + (" ⚡ cached" if take.cache_hit else "")


def take_choices(view: Studio, shot_id: Any) -> tuple[list[tuple[str, int]], Any]:
    if shot_id is None:
        return [], None
    shot = view.shot(shot_id)
    takes = view.takes(shot_id)
    choices = [(take_label(t, shot.chosen_take_id), t.id) for t in takes]
    chosen = (
        shot.chosen_take_id
        if shot.chosen_take_id in [t.id for t in takes]
        else (takes[0].id if takes else None)
    )
    return choices, chosen


def cost(view: Studio, project_id: Any, shot_ids: list[int] | None = None) -> str:
    return estimate_text(view, project_id, "clip", shot_ids)


def build(studio: Studio, project: gr.Dropdown) -> Refresh:
    with gr.Row():
        render_all = gr.Button("Render all shots", variant="primary", elem_id="render-all")
        shots = gr.Dropdown(
            label="Shots", multiselect=True, choices=[], scale=3, elem_id="render-shots"
        )
        render_selected = gr.Button("Render selected", elem_id="render-selected")
    estimate = gr.Markdown("", elem_id="render-cost")
    status = gr.Markdown("", elem_id="queue-status")
    with gr.Row():
        table = gr.HTML("<p>No project selected.</p>", elem_id="queue")
        live = gr.Image(
            label="Live: latest step of a running render",
            interactive=False,
            height=200,
            width=220,
            elem_id="live-preview",
            scale=0,
            min_width=220,
        )
    with gr.Row():
        job_id = gr.Textbox(label="Job #", placeholder="e.g. 12", scale=1, elem_id="job-id")
        cancel = gr.Button("Cancel", variant="stop")
        retry = gr.Button("Retry")
        bump = gr.Button("Raise priority")
        before = gr.Textbox(label="…or move it before job #", scale=1, elem_id="before-id")
        move = gr.Button("Move")
    with gr.Row():
        pause = gr.Button("Pause my queue", elem_id="pause-queue")
        resume = gr.Button("Resume my queue", elem_id="resume-queue")
    gr.Markdown("### Takes\nEach render of a shot is a take; the film uses the chosen one.")
    with gr.Row():
        take_shot = gr.Dropdown(label="Shot", choices=[], elem_id="take-shot")
        take = gr.Radio(label="Takes", choices=[], elem_id="takes")
        choose = gr.Button("Use this take", elem_id="choose-take")
    take_video = gr.Video(label="Take", interactive=False, elem_id="take-video", height=300)
    timer = gr.Timer(1.0)
    succeeded_seen = gr.State(None)  # succeeded jobs when the estimate was last shown

    def refresh(view: Studio, project_id: Any) -> list[Any]:
        pid = project_id_or_none(project_id)
        choices = shot_choices(view, pid)
        return [
            gr.Dropdown(choices=choices, value=[]),
            queue_html(view, pid),
            gr.Dropdown(choices=choices, value=None),
            gr.Radio(choices=[], value=None),
            None,
            cost(view, pid),
        ]

    def tick(
        project_id: Any, shot_ids: list[int] | None, seen: Any, request: gr.Request
    ) -> list[Any]:
        view = for_request(studio, request)
        table_html, succeeded = queue_state(view, project_id_or_none(project_id))
        if succeeded == seen:
            return [table_html, gr.skip(), succeeded]
        # Renders finished (or this is the first poll: the tab polls only once shown): the
        # cache serves them now, so the estimate changed.
        return [table_html, cost(view, project_id, shot_ids or None), succeeded]

    def live_view(project_id: Any, request: gr.Request) -> Any:
        if project_id in (None, ""):
            return None
        view = for_request(studio, request)
        for job in view.jobs(int(project_id), statuses=["running"], kinds=["preview"]):
            path = view.live_preview(job.id)
            if path is not None:
                return str(path)
        return gr.skip()

    @guarded
    def on_shots(project_id: Any, shot_ids: list[int] | None, request: gr.Request) -> str:
        return cost(for_request(studio, request), project_id, shot_ids or None)

    def render(view: Studio, project_id: Any, shot_ids: list[int] | None) -> list[Any]:
        pid = require_project(project_id)
        if shot_ids is not None and not shot_ids:
            raise gr.Error("Choose one or more shots to render.", print_exception=False)
        jobs = view.render(pid, shot_ids)
        cached = sum(1 for j in jobs if j.cache_hit)
        note = f" ({cached} served instantly from the render cache)" if cached else ""
        return [f"Submitted {len(jobs)} render(s){note}.", queue_html(view, pid)]

    @guarded
    def on_render_all(project_id: Any, request: gr.Request) -> list[Any]:
        return render(for_request(studio, request), project_id, None)

    @guarded
    def on_render(project_id: Any, shot_ids: list[int] | None, request: gr.Request) -> list[Any]:
        return render(for_request(studio, request), project_id, shot_ids or [])

    def job_action(action: str) -> Any:
        @guarded
        def handler(project_id: Any, number: Any, request: gr.Request) -> list[Any]:
            view = for_request(studio, request)
            pid = require_project(project_id)
            if number in (None, ""):
                raise gr.Error("Enter a job number from the table.", print_exception=False)
            job = view.job(job_number(number))
            if job.project_id != pid:
                raise gr.Error(f"Job #{job.id} belongs to another project.", print_exception=False)
            verb = {"cancel": view.cancel, "retry": view.retry, "bump": view.raise_priority}
            verb[action](job.id)
            done = {"cancel": "Cancel requested", "retry": "Re-queued", "bump": "Priority raised"}
            return [f"{done[action]} for job #{job.id}.", queue_html(view, pid)]

        handler.__name__ = f"on_{action}"
        return handler

    @guarded
    def on_take_shot(shot_id: Any, request: gr.Request) -> list[Any]:
        view = for_request(studio, request)
        choices, chosen = take_choices(view, shot_id)
        return [gr.Radio(choices=choices, value=chosen), _take_path(view, chosen)]

    @guarded
    def on_take(take_id: Any, request: gr.Request) -> Any:
        return _take_path(for_request(studio, request), take_id)

    @guarded
    def on_choose(shot_id: Any, take_id: Any, request: gr.Request) -> list[Any]:
        view = for_request(studio, request)
        if shot_id is None or take_id is None:
            raise gr.Error("Choose a shot and one of its takes.", print_exception=False)
        view.choose_take(shot_id, take_id)
        choices, chosen = take_choices(view, shot_id)
        return [
            gr.Radio(choices=choices, value=chosen),
            f"Take #{take_id} will be used in the film.",
        ]

    @guarded
    def on_move(project_id: Any, number: Any, before_number: Any, request: gr.Request) -> list[Any]:
        view = for_request(studio, request)
        pid = require_project(project_id)
        if number in (None, "") or before_number in (None, ""):
            raise gr.Error("Enter both job numbers.", print_exception=False)
        view.move_before(job_number(number), job_number(before_number))
        return [
            f"Job #{job_number(number)} now runs before job #{job_number(before_number)}.",
            queue_html(view, pid),
        ]

    def pause_or_resume(request: gr.Request, project_id: Any, paused: bool) -> list[Any]:
        view = for_request(studio, request)
        if paused:
            view.pause_queue()
        else:
            view.resume_queue()
        note = "paused: queued jobs wait" if paused else "resumed"
        return [f"Your queue is {note}.", queue_html(view, project_id_or_none(project_id))]

    @guarded
    def on_pause(project_id: Any, request: gr.Request) -> list[Any]:
        return pause_or_resume(request, project_id, True)

    @guarded
    def on_resume(project_id: Any, request: gr.Request) -> list[Any]:
        return pause_or_resume(request, project_id, False)

    submitted = [
        render_all.click(on_render_all, project, [status, table]),
        render_selected.click(on_render, [project, shots], [status, table]),
    ]
    for event in submitted:  # cached shots now cost the cache-hit price
        event.success(on_shots, [project, shots], estimate, show_progress="hidden")
    shots.change(on_shots, [project, shots], estimate, show_progress="hidden")
    for button, action in ((cancel, "cancel"), (retry, "retry"), (bump, "bump")):
        event = button.click(job_action(action), [project, job_id], [status, table])
        if action != "bump":  # a cancel refunds, a retry pays again
            submitted.append(event)
    move.click(on_move, [project, job_id, before], [status, table])
    pause.click(on_pause, project, [status, table])
    resume.click(on_resume, project, [status, table])
    timer.tick(
        tick,
        [project, shots, succeeded_seen],
        [table, estimate, succeeded_seen],
        show_progress="hidden",
    )
    timer.tick(live_view, project, live, show_progress="hidden")
    take_shot.change(on_take_shot, take_shot, [take, take_video])
    take.input(on_take, take, take_video)
    choose.click(on_choose, [take_shot, take], [take, status])
    return Refresh(
        refresh,
        [shots, table, take_shot, take, take_video, estimate],
        submits=submitted,
        polls=[timer],
    )


def _take_path(view: Studio, take_id: Any) -> str | None:
    if take_id is None:
        return None
    job = view.job(int(take_id))
    return str(view.artifact_path(job.artifact_id)) if job.artifact_id else None
