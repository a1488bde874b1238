"""Workers tab: every render worker, where it runs, what it has loaded, what it is doing."""

from __future__ import annotations

import html
from typing import Any

import gradio as gr

from studio.api import Studio
from studio.core.models import utcnow
from studio.ui.common import Refresh, for_request

# Workers stopped or lost longer ago than this are folded into one line, not listed.
FORGET_SECONDS = 3600


def workers_html(view: Studio) -> str:
    """The farm, as the acting user may see it: every worker, but only their own jobs'
    numbers (another user's job shows as "busy"). A lost worker shows a job only while that
    job is still running on it (a finished or re-queued one is not its job any more); those
    gone for over an hour are counted, not listed."""
    rows = []
    now = utcnow()
    stale = view.settings.worker_stale_seconds
    found = view.workers()
    busy = {w.current_job_id for w in found if w.current_job_id}
    running = {j.id: j.worker for j in view.jobs(statuses=["running"])} if busy else {}
    mine = busy if view.is_admin else set(running) & busy
    forgotten = 0
    for worker in found:
        age = (now - worker.heartbeat_at).total_seconds()
        state = worker.state if worker.state == "stopped" or age <= stale else "lost"
        shown = "waiting for Redis" if state == "waiting" else state
        if state in ("stopped", "lost") and age > FORGET_SECONDS:
            forgotten += 1
            continue
        job = "—"
        current = worker.current_job_id
        # A lost worker's job is shown while it still runs on it (until its lease expires).
        if current and (state != "lost" or running.get(current) == worker.name):
            job = f"#{current}" if current in mine else "busy"
        memory = f"{worker.memory_bytes / 2**30:.1f} GiB" if worker.memory_bytes else "—"
        rows.append(
            f"<tr class='worker-row' data-state='{state}'><td>{html.escape(worker.name)}</td>"
            f"<td>{worker.kind}</td><td>{html.escape(worker.host)} (pid {worker.pid})</td>"
            f"<td>{html.escape(', '.join(worker.pipelines) or '—')}</td><td>{memory}</td>"
            f"<td>{job}</td><td>{shown}</td><td>{age:.0f} s ago</td></tr>"
        )
    if not rows:
        return "<p>No worker has reported yet.</p>" if not forgotten else _gone(forgotten)
    mode = view.settings.resolved_queue
    note = _gone(forgotten) if forgotten else ""
    return note + (
        f"<p>Queue backend: <b>{mode}</b>.</p><table id='workers-table' style='width:100%'>"
        "<thead><tr><th>Worker</th><th>Kind</th><th>Machine</th><th>Pipelines loaded</th>"
        "<th>Memory</th><th>Current job</th><th>State</th><th>Heartbeat</th></tr></thead>"
        f"<tbody>{''.join(rows)}</tbody></table>"
    )


def _gone(count: int) -> str:
    plural = "s" if count != 1 else ""
    return f"<p id='workers-gone'>{count} worker{plural} gone for over an hour (not listed).</p>"


def build(studio: Studio) -> Refresh:
    gr.Markdown(
        "Workers report a heartbeat every few seconds. A worker whose heartbeat stops is "
        "*lost*: its job goes back to the queue when its lease expires."
    )
    table = gr.HTML("<p>Loading…</p>", elem_id="workers")
    timer = gr.Timer(2.0)

    def on_tick(request: gr.Request) -> str:
        return workers_html(for_request(studio, request))

    timer.tick(on_tick, None, table, show_progress="hidden")

    def refresh(view: Studio, _project_id: Any) -> list[Any]:
        return [workers_html(view)]

    return Refresh(refresh, [table])
