"""Render queue tab: submit renders, watch them live (the project's job events refresh the
table), act on a job from its row or on ticked jobs together, drag to reorder, pick takes."""

from __future__ import annotations

import functools
import time
from collections.abc import Callable
from typing import Any

import gradio as gr

from studio.api import Studio
from studio.core.errors import StudioError
from studio.core.models import JobPublic, JobStatus
from studio.core.validation import number
from studio.ui.common import (
    Refresh,
    estimate_text,
    event_data,
    for_request,
    guarded,
    project_id_or_none,
    require_project,
    shot_choices,
)
from studio.ui.queue_table import PAGE, TABLE_CSS, TABLE_JS, in_chunks, queue_state

# The estimate reprices every shot of the project (~0.1 ms each): while renders on the page
# finish, at most this often (seconds), not at each job event; once none is left, at once.
ESTIMATE_EVERY = 3.0
DONE = {"cancel": "Cancel requested", "retry": "Re-queued", "bump": "Priority raised"}
BULK_DONE = {"cancel": "Cancelled", "retry": "Re-queued", "bump": "Raised"}


def queue_html(view: Studio, project_id: int | None, shown: int = PAGE) -> str:
    return queue_state(view, project_id, shown)[0]


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


def act(view: Studio, project_id: int, job_id: int, action: str) -> JobPublic:
    """Cancel, retry or raise one of the project's jobs (the same checks wherever asked)."""
    job = view.job(job_id)
    # The table also lists the user's Lab runs in progress: those may be acted on here too.
    if job.project_id != project_id and view.project(job.project_id).kind != "lab":
        raise gr.Error(f"Job #{job.id} belongs to another project.", print_exception=False)
    verbs = {"cancel": view.cancel, "retry": view.retry, "bump": view.raise_priority}
    if action not in verbs:
        raise gr.Error(f"Unknown action {action!r}.", print_exception=False)
    return verbs[action](job.id)


def act_on_many(view: Studio, project_id: int, job_ids: list[int], action: str) -> str:
    """Apply one action to ticked jobs, each on its own: "Cancelled #12, #14 · #9 already
    succeeded; nothing to cancel". Raises (with that text) when none of them could be done."""
    if not job_ids:
        raise gr.Error("Tick one or more jobs in the table first.", print_exception=False)
    order = sorted(set(job_ids))
    if action == "bump":  # the furthest back first: they keep their order, ahead of the rest
        positions = {k: v for ids in in_chunks(order) for k, v in view.queue_positions(ids).items()}
        order.sort(key=lambda i: -positions.get(i, 0))
    done: list[int] = []
    stopping: list[int] = []
    problems: dict[int, str] = {}
    for job_id in order:
        try:
            job = act(view, project_id, job_id, action)
        except gr.Error as exc:  # a ValueError too: first
            problems[job_id] = str(exc.message)
        except (StudioError, ValueError) as exc:
            problems[job_id] = str(exc)
        else:
            running = action == "cancel" and job.status == JobStatus.running.value
            (stopping if running else done).append(job_id)
    parts = []
    if done:
        parts.append(f"{BULK_DONE[action]} " + ", ".join(f"#{i}" for i in sorted(done)))
    if stopping:
        parts.append("Stopping " + ", ".join(f"#{i}" for i in sorted(stopping)) + " (running)")
    for job_id, message in sorted(problems.items()):
        prefix = f"Job #{job_id} "
        text = message[4:] if message.startswith(prefix) else f"#{job_id}: {message}"
        parts.append(text.rstrip("."))
    text = " · ".join(parts)
    if not done and not stopping:
        raise gr.Error(text, print_exception=False)
    return text


def remembering(failures: dict[str | None, str]) -> Callable[[Any], Any]:
    """A handler whose error (a toast) is also kept for its browser session, so that the
    status line can show "⚠ <message>" in place of an earlier success (see `on_failed`)."""

    def decorate(fn: Any) -> Any:
        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            try:
                return fn(*args, **kwargs)
            except gr.Error as exc:
                request = next(
                    (a for a in (*args, *kwargs.values()) if isinstance(a, gr.Request)), None
                )
                key = getattr(request, "session_hash", None)
                failures.pop(key, None)
                failures[key] = str(exc.message)
                while len(failures) > 256:  # sessions that never asked (API clients)
                    failures.pop(next(iter(failures)))
                raise

        return wrapper

    return decorate


def build(studio: Studio, project: gr.Dropdown) -> Refresh:
    with gr.Row():
        render_all = gr.Button("Render all shots", variant="primary", elem_id="render-all")
        shots = gr.Dropdown(
            label="Shots", multiselect=True, choices=[], scale=3, elem_id="render-shots"
        )
        render_selected = gr.Button("Render selected", elem_id="render-selected")
    estimate = gr.Markdown("", elem_id="render-cost")
    status = gr.Markdown("", elem_id="queue-status")
    # The row wraps when both do not fit (a phone): the live picture goes under the table.
    with gr.Row():
        with gr.Column(scale=1, min_width=560):
            table = gr.HTML(
                "<p>No project selected.</p>",
                elem_id="queue",
                js_on_load=TABLE_JS,
                css_template=TABLE_CSS,
            )
        live = gr.Image(
            label="Live: latest step of a running render",
            interactive=False,
            height=200,
            width=220,
            elem_id="live-preview",
            scale=0,
            min_width=220,
        )
    with gr.Accordion("Act on a job by its number (keyboard)", open=False), gr.Row():
        job_id = gr.Textbox(label="Job #", placeholder="e.g. 12", scale=1, elem_id="job-id")
        cancel = gr.Button("Cancel", variant="stop", elem_id="cancel-job")
        retry = gr.Button("Retry", elem_id="retry-job")
        bump = gr.Button("Raise priority", elem_id="raise-job")
        before = gr.Textbox(label="…or move it before job #", scale=1, elem_id="before-id")
        move = gr.Button("Move", elem_id="move-job")
    with gr.Row():
        pause = gr.Button("Pause my queue", elem_id="pause-queue")
        resume = gr.Button("Resume my queue", elem_id="resume-queue")
    gr.Markdown("### Takes\nEach render of a shot is a take; the film uses the chosen one.")
    with gr.Row():
        take_shot = gr.Dropdown(label="Shot", choices=[], elem_id="take-shot")
        take = gr.Radio(label="Takes", choices=[], elem_id="takes")
        choose = gr.Button("Use this take", elem_id="choose-take")
    take_video = gr.Video(label="Take", interactive=False, elem_id="take-video", height=300)
    # The job events refresh the table; the timer is the fallback (a stream that dropped).
    timer = gr.Timer(5.0)
    # (succeeded jobs on the page, when) at the estimate last shown
    succeeded_seen = gr.State(None)
    shown = gr.State(PAGE)  # how many of the newest jobs the table shows
    failures: dict[str | None, str] = {}  # each browser session's last error (status line)
    reported = remembering(failures)

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
            PAGE,
        ]

    def tick(
        project_id: Any,
        shot_ids: list[int] | None,
        seen: Any,
        request: gr.Request,
        count: Any = PAGE,
    ) -> list[Any]:
        view = for_request(studio, request)
        table_html, succeeded, active = queue_state(view, project_id_or_none(project_id), count)
        last, at = seen if isinstance(seen, tuple) else (None, float("-inf"))
        if succeeded == last or (active and time.monotonic() - at < ESTIMATE_EVERY):
            # Nothing finished, or repriced a moment ago while renders go on: a later tick
            # reprices (`seen` keeps the old ids), at the latest the one of the last job's end.
            return [table_html, gr.skip(), seen]
        # Renders finished (or this is the first poll: the tab polls only once shown): the
        # cache serves them now, so the estimate changed.
        return [table_html, cost(view, project_id, shot_ids or None), (succeeded, time.monotonic())]

    def live_view(project_id: Any, request: gr.Request) -> Any:
        if project_id in (None, ""):
            return None
        view = for_request(studio, request)
        for job in view.jobs(int(project_id), statuses=["running"], kinds=["preview"]):
            path = view.live_preview(job.id)
            if path is not None:
                return str(path)
        return gr.skip()

    def on_failed(request: gr.Request) -> str:
        """After an action failed: its message replaces what the status line said."""
        message = failures.pop(getattr(request, "session_hash", None), "")
        return f"⚠ {message}" if message else ""

    @guarded
    def on_shots(project_id: Any, shot_ids: list[int] | None, request: gr.Request) -> str:
        return cost(for_request(studio, request), project_id, shot_ids or None)

    def render(view: Studio, project_id: Any, shot_ids: list[int] | None, count: Any) -> list[Any]:
        pid = require_project(project_id)
        if shot_ids is not None and not shot_ids:
            raise gr.Error("Choose one or more shots to render.", print_exception=False)
        jobs = view.render(pid, shot_ids)
        cached = sum(1 for j in jobs if j.cache_hit)
        note = f" ({cached} served instantly from the render cache)" if cached else ""
        return [f"Submitted {len(jobs)} render(s){note}.", queue_html(view, pid, count)]

    @reported
    @guarded
    def on_render_all(project_id: Any, request: gr.Request, count: Any = PAGE) -> list[Any]:
        return render(for_request(studio, request), project_id, None, count)

    @reported
    @guarded
    def on_render(
        project_id: Any, shot_ids: list[int] | None, request: gr.Request, count: Any = PAGE
    ) -> list[Any]:
        return render(for_request(studio, request), project_id, shot_ids or [], count)

    def job_action(action: str) -> Any:
        @reported
        @guarded
        def handler(
            project_id: Any, number: Any, request: gr.Request, count: Any = PAGE
        ) -> list[Any]:
            view = for_request(studio, request)
            pid = require_project(project_id)
            if number in (None, ""):
                raise gr.Error("Enter a job number from the table.", print_exception=False)
            job = act(view, pid, job_number(number), action)
            return [f"{DONE[action]} for job #{job.id}.", queue_html(view, pid, count)]

        handler.__name__ = handler.__qualname__ = f"on_{action}"
        return handler

    @reported
    @guarded
    def on_row_action(
        project_id: Any, evt: gr.EventData, request: gr.Request, count: Any = PAGE
    ) -> list[Any]:
        """A button on a job's row: cancel, retry, raise (▲) or its shot's takes."""
        view = for_request(studio, request)
        pid = require_project(project_id)
        data = event_data(evt)
        if data.get("job") in (None, ""):
            raise gr.Error("Choose a job in the table.", print_exception=False)
        action = str(data.get("action", ""))
        if action != "takes":
            job = act(view, pid, job_number(data["job"]), action)
            done = f"{DONE[action]} for job #{job.id}."
            return [done, queue_html(view, pid, count), gr.skip(), gr.skip(), gr.skip()]
        job = view.job(job_number(data["job"]))
        if job.project_id != pid:
            raise gr.Error(f"Job #{job.id} belongs to another project.", print_exception=False)
        if job.shot_id is None or job.status != JobStatus.succeeded.value:
            raise gr.Error(f"Job #{job.id} is not a finished take.", print_exception=False)
        choices, _chosen = take_choices(view, job.shot_id)
        listed = shot_choices(view, pid)
        label = next((lbl for lbl, sid in listed if sid == job.shot_id), "its shot")
        return [
            f"Takes of {label.split(':')[0]} below: take #{job.id} is shown.",
            gr.skip(),
            gr.Dropdown(choices=listed, value=job.shot_id),
            gr.Radio(choices=choices, value=job.id),
            _take_path(view, job.id),
        ]

    @reported
    @guarded
    def on_bulk(
        project_id: Any, evt: gr.EventData, request: gr.Request, count: Any = PAGE
    ) -> list[Any]:
        """The ticked jobs: cancel, retry or raise them all, each reported."""
        view = for_request(studio, request)
        pid = require_project(project_id)
        data = event_data(evt)
        ids = [job_number(i) for i in data.get("jobs") or []]
        text = act_on_many(view, pid, ids, str(data.get("action", "")))
        return [f"{text}.", queue_html(view, pid, count)]

    def reorder(view: Studio, pid: int, number: Any, before_number: Any, count: Any) -> list[Any]:
        moved, target = job_number(number), job_number(before_number)
        for job in (view.job(moved), view.job(target)):
            if job.project_id != pid:
                raise gr.Error(f"Job #{job.id} belongs to another project.", print_exception=False)
        view.move_before(moved, target)
        return [f"Job #{moved} now runs before job #{target}.", queue_html(view, pid, count)]

    @reported
    @guarded
    def on_reorder(
        project_id: Any, evt: gr.EventData, request: gr.Request, count: Any = PAGE
    ) -> list[Any]:
        """A queued row dragged onto another: it runs right before that one."""
        data = event_data(evt)
        if data.get("job") in (None, "") or data.get("before") in (None, ""):
            raise gr.Error("Drag a queued job onto another queued job.", print_exception=False)
        view = for_request(studio, request)
        return reorder(view, require_project(project_id), data["job"], data["before"], count)

    @guarded
    def on_older(project_id: Any, count: Any, request: gr.Request) -> list[Any]:
        more = max(PAGE, int(count or PAGE)) + PAGE
        return [
            queue_html(for_request(studio, request), project_id_or_none(project_id), more),
            more,
        ]

    @guarded
    def on_take_shot(shot_id: Any, request: gr.Request) -> list[Any]:
        view = for_request(studio, request)
        choices, chosen = take_choices(view, shot_id)
        return [gr.Radio(choices=choices, value=chosen), _take_path(view, chosen)]

    @guarded
    def on_take(take_id: Any, request: gr.Request) -> Any:
        return _take_path(for_request(studio, request), take_id)

    @reported
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

    @reported
    @guarded
    def on_move(
        project_id: Any, number: Any, before_number: Any, request: gr.Request, count: Any = PAGE
    ) -> list[Any]:
        view = for_request(studio, request)
        pid = require_project(project_id)
        if number in (None, "") or before_number in (None, ""):
            raise gr.Error("Enter both job numbers.", print_exception=False)
        return reorder(view, pid, number, before_number, count)

    def pause_or_resume(
        request: gr.Request, project_id: Any, paused: bool, count: Any
    ) -> list[Any]:
        view = for_request(studio, request)
        if paused:
            view.pause_queue()
        else:
            view.resume_queue()
        note = "paused: queued jobs wait" if paused else "resumed"
        return [f"Your queue is {note}.", queue_html(view, project_id_or_none(project_id), count)]

    @reported
    @guarded
    def on_pause(project_id: Any, request: gr.Request, count: Any = PAGE) -> list[Any]:
        return pause_or_resume(request, project_id, True, count)

    @reported
    @guarded
    def on_resume(project_id: Any, request: gr.Request, count: Any = PAGE) -> list[Any]:
        return pause_or_resume(request, project_id, False, count)

    takes_out = [take_shot, take, take_video]
    submitted = [
        render_all.click(on_render_all, [project, shown], [status, table]),
        render_selected.click(on_render, [project, shots, shown], [status, table]),
    ]
    actions = list(submitted)
    for event in submitted:  # cached shots now cost the cache-hit price
        event.success(on_shots, [project, shots], estimate, show_progress="hidden")
    shots.change(on_shots, [project, shots], estimate, show_progress="hidden")
    for button, action in ((cancel, "cancel"), (retry, "retry"), (bump, "bump")):
        event = button.click(job_action(action), [project, job_id, shown], [status, table])
        actions.append(event)
        if action != "bump":  # a cancel refunds, a retry pays again
            submitted.append(event)
    row = table.row_action(on_row_action, [project, shown], [status, table, *takes_out])
    bulk = table.bulk(on_bulk, [project, shown], [status, table])
    submitted += [row, bulk]  # cancels refund, retries pay again
    actions += [
        row,
        bulk,
        table.reorder(on_reorder, [project, shown], [status, table]),
        move.click(on_move, [project, job_id, before, shown], [status, table]),
        pause.click(on_pause, [project, shown], [status, table]),
        resume.click(on_resume, [project, shown], [status, table]),
        choose.click(on_choose, [take_shot, take], [take, status]),
    ]
    table.older(on_older, [project, shown], [table, shown], show_progress="hidden")
    polled = ([project, shots, succeeded_seen, shown], [table, estimate, succeeded_seen])
    # A job event arrived, or the timer's time. A job event that comes while a refresh runs
    # refreshes again after it (the last one must show); a tick then is skipped.
    for source, mode in ((timer.tick, "once"), (table.jobs_changed, "always_last")):
        source(tick, *polled, show_progress="hidden", trigger_mode=mode)
        source(live_view, project, live, show_progress="hidden", trigger_mode=mode)
    take_shot.input(on_take_shot, take_shot, [take, take_video])
    take.input(on_take, take, take_video)
    for event in actions:  # the status line says what went wrong, not an earlier success
        event.failure(on_failed, None, status, show_progress="hidden")
    return Refresh(
        refresh,
        [shots, table, take_shot, take, take_video, estimate, shown],
        submits=submitted,
        polls=[timer],
    )


def _take_path(view: Studio, take_id: Any) -> str | None:
    if take_id is None:
        return None
    job = view.job(int(take_id))
    return str(view.artifact_path(job.artifact_id)) if job.artifact_id else None
