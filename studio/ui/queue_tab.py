"""Render queue tab: submit renders, watch them live, cancel/retry/prioritise, pick takes."""

from __future__ import annotations

import html
from typing import Any

import gradio as gr

from studio.api import Studio
from studio.models import JobStatus, RenderJob
from studio.ui.common import Refresh, guarded, require_project, shot_choices
from studio.validation import number

STATUS_COLOURS = {
    "queued": "#888",
    "running": "#1f6feb",
    "succeeded": "#1a7f37",
    "failed": "#cf222e",
    "cancelled": "#9a6700",
}


def queue_html(studio: Studio, project_id: int | None) -> str:
    if project_id is None:
        return "<p>No project selected.</p>"
    jobs = studio.jobs(project_id)
    paused = studio.queue_paused(studio.project(project_id).owner)
    banner = "<p id='queue-paused'><b>Queue paused</b>: queued jobs wait until you resume.</p>"
    if not jobs:
        return "<p id='queue-empty'>No renders yet. Render a shot to start the queue.</p>"
    numbers = {s.id: i for i, s in enumerate(studio.shots(project_id), 1)}
    positions = studio.queue_positions()
    rows = "".join(_row(job, numbers, positions) for job in jobs)
    return (banner if paused else "") + (
        "<table id='queue-table' style='width:100%;border-collapse:collapse'><thead><tr>"
        "<th>Job</th><th>Kind</th><th>Shot</th><th>Status</th><th style='width:22%'>Progress"
        "</th><th>Queue pos.</th><th>Priority</th><th>Attempts</th><th>Details</th></tr>"
        f"</thead><tbody>{rows}</tbody></table>"
    )


def _row(job: RenderJob, numbers: dict[int | None, int], positions: dict[int, int]) -> str:
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


def take_choices(studio: Studio, shot_id: Any) -> tuple[list[tuple[str, int]], Any]:
    if shot_id is None:
        return [], None
    shot = studio.shot(shot_id)
    takes = studio.takes(shot_id)
    choices = [
        (
            f"Take #{t.id}{' (chosen)' if t.id == shot.chosen_take_id else ''}"
            f"{' ⚡ cached' if t.cache_hit else ''}",
            t.id,
        )
        for t in takes
    ]
    chosen = (
        shot.chosen_take_id
        if shot.chosen_take_id in [t.id for t in takes]
        else (takes[0].id if takes else None)
    )
    return choices, chosen  # type: ignore[return-value]


def build(studio: Studio, project: gr.Dropdown) -> Refresh:
    with gr.Row():
        render_all = gr.Button("Render all shots", variant="primary", elem_id="render-all")
        shots = gr.Dropdown(
            label="Shots", multiselect=True, choices=[], scale=3, elem_id="render-shots"
        )
        render_selected = gr.Button("Render selected", elem_id="render-selected")
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

    def refresh(project_id: Any) -> list[Any]:
        pid = None if project_id in (None, "") else int(project_id)
        choices = shot_choices(studio, pid)
        return [
            gr.Dropdown(choices=choices, value=[]),
            queue_html(studio, pid),
            gr.Dropdown(choices=choices, value=None),
            gr.Radio(choices=[], value=None),
            None,
        ]

    def tick(project_id: Any) -> str:
        return queue_html(studio, None if project_id in (None, "") else int(project_id))

    def live_view(project_id: Any) -> Any:
        if project_id in (None, ""):
            return None
        for job in studio.jobs(int(project_id), statuses=["running"], kinds=["preview"]):
            path = studio.live_preview(job.id)  # type: ignore[arg-type]
            if path is not None:
                return str(path)
        return gr.skip()

    @guarded
    def on_render(project_id: Any, shot_ids: list[int] | None) -> list[Any]:
        pid = require_project(project_id)
        if shot_ids is not None and not shot_ids:
            raise gr.Error("Choose one or more shots to render.", print_exception=False)
        jobs = studio.render(pid, shot_ids)
        cached = sum(1 for j in jobs if j.cache_hit)
        note = f" ({cached} served instantly from the render cache)" if cached else ""
        return [f"Submitted {len(jobs)} render(s){note}.", queue_html(studio, pid)]

    def job_action(action: str) -> Any:
        @guarded
        def handler(project_id: Any, number: Any) -> list[Any]:
            pid = require_project(project_id)
            if number in (None, ""):
                raise gr.Error("Enter a job number from the table.", print_exception=False)
            job = studio.job(job_number(number))
            if job.project_id != pid:
                raise gr.Error(f"Job #{job.id} belongs to another project.", print_exception=False)
            verb = {"cancel": studio.cancel, "retry": studio.retry, "bump": studio.raise_priority}
            verb[action](job.id)  # type: ignore[arg-type]
            done = {"cancel": "Cancel requested", "retry": "Re-queued", "bump": "Priority raised"}
            return [f"{done[action]} for job #{job.id}.", queue_html(studio, pid)]

        return handler

    @guarded
    def on_take_shot(shot_id: Any) -> list[Any]:
        choices, chosen = take_choices(studio, shot_id)
        return [gr.Radio(choices=choices, value=chosen), _take_path(studio, chosen)]

    @guarded
    def on_take(take_id: Any) -> Any:
        return _take_path(studio, take_id)

    @guarded
    def on_choose(shot_id: Any, take_id: Any) -> list[Any]:
        if shot_id is None or take_id is None:
            raise gr.Error("Choose a shot and one of its takes.", print_exception=False)
        studio.choose_take(shot_id, take_id)
        choices, chosen = take_choices(studio, shot_id)
        return [
            gr.Radio(choices=choices, value=chosen),
            f"Take #{take_id} will be used in the film.",
        ]

    render_all.click(lambda p: on_render(p, None), project, [status, table])
    render_selected.click(on_render, [project, shots], [status, table])
    for button, action in ((cancel, "cancel"), (retry, "retry"), (bump, "bump")):
        button.click(job_action(action), [project, job_id], [status, table])

    @guarded
    def on_move(project_id: Any, number: Any, before_number: Any) -> list[Any]:
        pid = require_project(project_id)
        if number in (None, "") or before_number in (None, ""):
            raise gr.Error("Enter both job numbers.", print_exception=False)
        studio.move_before(job_number(number), job_number(before_number))
        return [
            f"Job #{job_number(number)} now runs before job #{job_number(before_number)}.",
            queue_html(studio, pid),
        ]

    def on_pause(project_id: Any, paused: bool) -> list[Any]:
        owner = studio.project(require_project(project_id)).owner
        if paused:
            studio.pause_queue(owner)
        else:
            studio.resume_queue(owner)
        note = "paused: queued jobs wait" if paused else "resumed"
        return [f"Your queue is {note}.", tick(project_id)]

    move.click(on_move, [project, job_id, before], [status, table])
    pause.click(lambda p: on_pause(p, True), project, [status, table])
    resume.click(lambda p: on_pause(p, False), project, [status, table])
    timer.tick(tick, project, table, show_progress="hidden")
    timer.tick(live_view, project, live, show_progress="hidden")
    take_shot.change(on_take_shot, take_shot, [take, take_video])
    take.input(on_take, take, take_video)
    choose.click(on_choose, [take_shot, take], [take, status])
    return Refresh(refresh, [shots, table, take_shot, take, take_video])


def _take_path(studio: Studio, take_id: Any) -> str | None:
    if take_id is None:
        return None
    job = studio.job(int(take_id))
    return str(studio.artifact_path(job.artifact_id)) if job.artifact_id else None
