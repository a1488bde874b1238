"""Workers tab: every render worker, where it runs, what it has loaded, what it is doing."""

from __future__ import annotations

import html
from typing import Any

import gradio as gr

from studio.api import Studio
from studio.models import utcnow
from studio.ui.common import Refresh


def workers_html(studio: Studio) -> str:
    rows = []
    now = utcnow()
    stale = studio.settings.worker_stale_seconds
    for worker in studio.workers():
        age = (now - worker.heartbeat_at).total_seconds()
        state = worker.state if worker.state == "stopped" or age <= stale else "lost"
        job = f"#{worker.current_job_id}" if worker.current_job_id else "—"
        memory = f"{worker.memory_bytes / 2**30:.1f} GiB" if worker.memory_bytes else "—"
        rows.append(
            f"<tr class='worker-row' data-state='{state}'><td>{html.escape(worker.name)}</td>"
            f"<td>{worker.kind}</td><td>{html.escape(worker.host)} (pid {worker.pid})</td>"
            f"<td>{html.escape(', '.join(worker.pipelines) or '—')}</td><td>{memory}</td>"
            f"<td>{job}</td><td>{state}</td><td>{age:.0f} s ago</td></tr>"
        )
    if not rows:
        return "<p>No worker has reported yet.</p>"
    mode = studio.settings.resolved_queue
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
    table = gr.HTML(workers_html(studio), elem_id="workers")
    timer = gr.Timer(2.0)
    timer.tick(lambda: workers_html(studio), None, table, show_progress="hidden")

    def refresh(_project_id: Any) -> list[Any]:
        return [workers_html(studio)]

    return Refresh(refresh, [table])
