"""Workers tab: every render worker, where it runs, what it has loaded, what it is doing."""

from __future__ import annotations

import html
from typing import Any

import gradio as gr

from studio.api import Studio
from studio.core.models import utcnow
from studio.ui.common import Refresh, for_request


def workers_html(view: Studio) -> str:
    """The farm, as the acting user may see it: every worker, but only their own jobs'
    numbers (another user's job shows as "busy")."""
    rows = []
    now = utcnow()
    stale = view.settings.worker_stale_seconds
    found = view.workers()
    busy = {w.current_job_id for w in found if w.current_job_id}
    mine = busy
    if busy and not view.is_admin:
        mine = {j.id for j in view.jobs(statuses=["running"])} & busy
    for worker in found:
        age = (now - worker.heartbeat_at).total_seconds()
        state = worker.state if worker.state == "stopped" or age <= stale else "lost"
        job = "—"
        if worker.current_job_id:
            job = f"#{worker.current_job_id}" if worker.current_job_id in mine else "busy"
        memory = f"{worker.memory_bytes / 2**30:.1f} GiB" if worker.memory_bytes else "—"
        rows.append(
            f"<tr class='worker-row' data-state='{state}'><td>{html.escape(worker.name)}</td>"
            f"<td>{worker.kind}</td><td>{html.escape(worker.host)} (pid {worker.pid})</td>"
            f"<td>{html.escape(', '.join(worker.pipelines) or '—')}</td><td>{memory}</td>"
            f"<td>{job}</td><td>{state}</td><td>{age:.0f} s ago</td></tr>"
        )
    if not rows:
        return "<p>No worker has reported yet.</p>"
    mode = view.settings.resolved_queue
    return (
        f"<p>Queue backend: <b>{mode}</b>.</p><table id='workers-table' style='width:100%'>"
        "<thead><tr><th>Worker</th><th>Kind</th><th>Machine</th><th>Pipelines loaded</th>"
        "<th>Memory</th><th>Current job</th><th>State</th><th>Heartbeat</th></tr></thead>"
        f"<tbody>{''.join(rows)}</tbody></table>"
    )


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
