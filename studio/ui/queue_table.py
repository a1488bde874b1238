"""The Render queue tab's table: the newest jobs of a project, each row with its own actions
(Cancel, Retry, ▲ raise, Takes), a checkbox for the bulk buttons, queued rows that drag onto
each other, and a live link to the project's job events that refreshes it.

The browser side (`TABLE_JS`) sends what the creator did as the table's events: `row_action`
`{job, action}`, `bulk` `{action, jobs}`, `reorder` `{job, before}`, `older` and
`jobs_changed` (a job event arrived on `/api/v1/projects/{id}/events`: refresh). Not one of
Gradio's own event names: its `stream` is a media stream, an event that never ends and holds
its handler's one slot, so the fallback timer's refresh (the same handler) never ran. The
ticked jobs live in the browser, so a refresh of the table keeps them ticked."""

from __future__ import annotations

import html

from studio.api import Studio
from studio.core.models import JobPublic, JobStatus
from studio.ui.activation import ACTIVATE_JS

PAGE = 50  # jobs shown at first; "Show older" adds as many again

STATUS_COLOURS = {
    "queued": "#888",
    "running": "#1f6feb",
    "succeeded": "#1a7f37",
    "failed": "#cf222e",
    "cancelled": "#9a6700",
}
BULK = (("cancel", "Cancel selected"), ("retry", "Retry selected"), ("bump", "▲ Raise selected"))

TABLE_JS = (
    ACTIVATE_JS
    + """
const picked = new Set();
let focusKey = null, dragged = null, source = null, project = null, soon = null, last = 0;
const rows = () => [...element.querySelectorAll('tr.job-row')];
const keyOf = (el) => el.dataset.action ? `${el.dataset.action}-${el.dataset.job}`
  : el.dataset.bulk ? `bulk-${el.dataset.bulk}` : el.classList.contains('job-pick')
  ? `pick-${el.dataset.job}` : null;
const sync = () => {
  const present = new Set(rows().map((row) => row.dataset.job));
  for (const id of [...picked]) { if (!present.has(id)) { picked.delete(id); } }
  element.querySelectorAll('input.job-pick').forEach((box) => {
    box.checked = picked.has(box.dataset.job);
    box.closest('tr').classList.toggle('picked', box.checked);
  });
  const all = element.querySelector('input.pick-all');
  if (all) { all.checked = picked.size > 0 && picked.size === present.size; }
  const count = element.querySelector('.picked-count');
  if (count) {
    count.textContent = picked.size ? `${picked.size} selected:` : 'Tick jobs to act on several:';
  }
  element.querySelectorAll('button[data-bulk]').forEach((b) => { b.disabled = picked.size === 0; });
  // A refresh replaces the rows: give the keyboard its place back.
  const active = document.activeElement;
  if (focusKey && (!active || active === document.body)) {
    const again = [...element.querySelectorAll('button, input')]
      .find((el) => keyOf(el) === focusKey);
    if (again) { again.focus({preventScroll: true}); }
  }
};
const refresh = () => {  // at most one refresh a second, however many events arrive
  if (soon) { return; }
  soon = setTimeout(() => { soon = null; last = Date.now(); trigger('jobs_changed', {}); },
    Math.max(150, 1000 - (Date.now() - last)));
};
const listen = () => {
  const root = element.querySelector('[data-project]');
  const id = root ? root.dataset.project : '';
  if (id === project) { return; }
  project = id;
  if (source) { source.close(); source = null; element.removeAttribute('data-live'); }
  if (!id || !window.EventSource) { return; }
  source = new EventSource(`/api/v1/projects/${id}/events`);
  source.onopen = () => element.setAttribute('data-live', 'open');
  source.onerror = () => element.setAttribute('data-live', 'reconnecting');
  for (const name of ['snapshot', 'progress', 'status', 'gap', 'gone']) {
    source.addEventListener(name, refresh);
  }
};
element.addEventListener('focusin', (event) => { focusKey = keyOf(event.target); });
document.addEventListener('mousedown', (event) => {
  if (!element.contains(event.target)) { focusKey = null; }
});
// Buttons act on release, even over the same button drawn again by a refresh (activation).
const buttonKey = (b) => keyOf(b) || (b.classList.contains('show-older') ? 'older' : null);
activate('button', buttonKey, (button) => {
  if (button.disabled) { return; }
  if (button.dataset.action) {
    trigger('row_action', {job: Number(button.dataset.job), action: button.dataset.action});
  } else if (button.dataset.bulk) {
    const jobs = [...picked].map(Number).sort((a, b) => a - b);
    picked.clear();
    sync();
    trigger('bulk', {action: button.dataset.bulk, jobs: jobs});
  } else if (button.classList.contains('show-older')) {
    trigger('older', {});
  }
});
element.addEventListener('change', (event) => {
  const box = event.target;
  if (box.matches('input.job-pick')) {
    if (box.checked) { picked.add(box.dataset.job); } else { picked.delete(box.dataset.job); }
  } else if (box.matches('input.pick-all')) {
    for (const row of rows()) {
      if (box.checked) { picked.add(row.dataset.job); } else { picked.delete(row.dataset.job); }
    }
  }
  sync();
});
const target = (event) => {
  const row = event.target.closest('tr.job-row[data-status="queued"]');
  return row && dragged && row.dataset.job !== dragged ? row : null;
};
const unmark = () => element.querySelectorAll('tr.drop-before, tr.dragging')
  .forEach((row) => row.classList.remove('drop-before', 'dragging'));
element.addEventListener('dragstart', (event) => {
  const row = event.target.closest('tr.job-row[draggable="true"]');
  if (!row) { return; }
  dragged = row.dataset.job;
  event.dataTransfer.effectAllowed = 'move';
  event.dataTransfer.setData('text/plain', dragged);
  row.classList.add('dragging');
});
element.addEventListener('dragover', (event) => {
  const row = target(event);
  if (!row) { return; }
  event.preventDefault();
  event.dataTransfer.dropEffect = 'move';
  element.querySelectorAll('tr.drop-before').forEach((r) => r.classList.remove('drop-before'));
  row.classList.add('drop-before');
});
element.addEventListener('drop', (event) => {
  const row = target(event);
  const moved = dragged;
  dragged = null;
  unmark();
  if (!row) { return; }
  event.preventDefault();
  trigger('reorder', {job: Number(moved), before: Number(row.dataset.job)});
});
element.addEventListener('dragend', () => { dragged = null; unmark(); });
watch('value', () => { sync(); listen(); });
sync();
listen();
"""
)

TABLE_CSS = """
.queue-bulk { display: flex; flex-wrap: wrap; gap: 6px; align-items: center; margin: 0 0 6px; }
.queue-scroll { overflow-x: auto; max-width: 100%; -webkit-overflow-scrolling: touch; }
#queue-table { width: 100%; min-width: 820px; border-collapse: collapse; }
#queue-table th, #queue-table td { padding: 4px 6px; text-align: left; vertical-align: middle;
  border-bottom: 1px solid var(--border-color-primary, #ddd); white-space: nowrap; }
#queue-table td.details { white-space: normal; min-width: 140px; }
#queue-table tr.picked { background: rgba(31, 111, 235, .08); }
#queue-table tr[draggable="true"] { cursor: grab; }
#queue-table tr.dragging { opacity: .5; }
#queue-table tr.drop-before td { box-shadow: inset 0 3px 0 #1f6feb; }
.queue-box input[type="checkbox"] { appearance: auto; -webkit-appearance: checkbox; opacity: 1;
  width: 16px; height: 16px; margin: 0; cursor: pointer; }
.grip { opacity: .6; user-select: none; }
.row-actions { display: flex; gap: 4px; }
.queue-box button { padding: 2px 8px; border-radius: 4px; font-size: 12px; cursor: pointer;
  border: 1px solid var(--border-color-primary, #888); color: inherit;
  background: var(--button-secondary-background-fill, #f4f4f5); }
.queue-box button.stop { color: #cf222e; }
.queue-box button:disabled { opacity: .45; cursor: default; }
.queue-box button:focus-visible, .queue-box input:focus-visible { outline: 2px solid #1f6feb; }
.queue-more { margin: 6px 0 0; font-size: 13px; }
"""


def queue_state(
    view: Studio, project_id: int | None, shown: int = PAGE
) -> tuple[str, list[int], bool]:
    """The queue table with the newest `shown` jobs, the ids of its jobs that succeeded
    (when they change, the render cache can serve more shots: the cost estimate changes) and
    whether any of them is still queued or running.
    Reads only the rows it shows: `shown` + 1 jobs, their shots and the queue positions of
    those queued (benchmarks/queue_refresh.py: as fast with 3,000 jobs queued as with 30)."""
    if project_id is None:
        return "<div class='queue-box' data-project=''><p>No project selected.</p></div>", [], False
    shown = max(PAGE, int(shown or PAGE))
    jobs = view.jobs(project_id, limit=shown + 1)
    older = len(jobs) > shown
    # The user's Lab runs still queued or running, first: watched and cancelled here too.
    lab = [j for j in view.lab_jobs(limit=PAGE) if not JobStatus(j.status).finished]
    jobs = lab + jobs[:shown]
    succeeded = sorted(job.id for job in jobs if job.status == JobStatus.succeeded.value)
    active = any(not JobStatus(job.status).finished for job in jobs)
    box = f"<div class='queue-box' data-project='{project_id}'>"
    if not jobs:
        empty = "<p id='queue-empty'>No renders yet. Render a shot to start the queue.</p>"
        return f"{box}{empty}</div>", [], False
    banner = (
        "<p id='queue-paused'><b>Queue paused</b>: queued jobs wait until you resume.</p>"
        if view.queue_paused()
        else ""
    )
    shot_ids = sorted({j.shot_id for j in jobs if j.shot_id is not None})
    # Positions are 0…n−1 in shot order (studio.core.shot_order), so a shot's number is
    # its position + 1: no need to read the project's other shots.
    numbers = {
        s.id: s.position + 1 for ids in in_chunks(shot_ids) for s in view.shots(project_id, ids=ids)
    }
    lab_ids = {j.id for j in lab}
    queued = [j.id for j in jobs if j.status == JobStatus.queued.value]
    positions = {k: v for ids in in_chunks(queued) for k, v in view.queue_positions(ids).items()}
    rows = "".join(_row(job, numbers, positions, job.id in lab_ids) for job in jobs)
    bulk = "".join(
        f"<button type='button' data-bulk='{action}' disabled>{label}</button>"
        for action, label in BULK
    )
    more = (
        f"<p class='queue-more'>Showing the newest {shown} jobs; older ones are hidden. "
        f"<button type='button' class='show-older'>Show {PAGE} older jobs</button></p>"
        if older
        else ""
    )
    table = (
        f"{box}{banner}<div class='queue-bulk' role='toolbar' aria-label='Ticked jobs'>"
        f"<span class='picked-count'>Tick jobs to act on several:</span>{bulk}</div>"
        "<div class='queue-scroll'><table id='queue-table'><thead><tr>"
        "<th><input type='checkbox' class='pick-all' aria-label='Tick all jobs shown'></th>"
        "<th>Job</th><th>Kind</th><th>Shot</th><th>Status</th><th style='width:18%'>Progress"
        "</th><th>Queue pos.</th><th>Priority</th><th>Attempts</th><th>Actions</th>"
        f"<th>Details</th></tr></thead><tbody>{rows}</tbody></table></div>{more}</div>"
    )
    return table, succeeded, active


def in_chunks(ids: list[int], size: int = 500) -> list[list[int]]:
    """At most `size` ids per call (the API's limit): "Show older" can show more jobs."""
    return [ids[i : i + size] for i in range(0, len(ids), size)]


def row_actions(job: JobPublic) -> list[tuple[str, str]]:
    """The (action, label) buttons a job's row offers for its status."""
    actions = []
    if job.status in (JobStatus.queued.value, JobStatus.running.value):
        actions.append(("cancel", "Cancel"))
    if job.status in (JobStatus.failed.value, JobStatus.cancelled.value):
        actions.append(("retry", "Retry"))
    if job.status == JobStatus.queued.value:
        actions.append(("bump", "▲ Raise"))
    if job.status == JobStatus.succeeded.value and job.kind == "clip" and job.shot_id:
        actions.append(("takes", "Takes"))
    return actions


_TITLES = {
    "cancel": "Cancel job #{id}",
    "retry": "Retry job #{id}",
    "bump": "Raise job #{id} to the front of the queue",
    "takes": "Show the takes of the shot of job #{id}",
}


def _row(
    job: JobPublic, numbers: dict[int, int], positions: dict[int, int], lab: bool = False
) -> str:
    pct = round(job.progress * 100)
    colour = STATUS_COLOURS.get(job.status, "#888")
    position = positions.get(job.id)
    detail = job.error if job.status == JobStatus.failed.value else job.message
    cache = "<span class='cache-hit'>⚡ render cache</span> " if job.cache_hit else ""
    shot: int | str = numbers.get(job.shot_id, "—") if job.shot_id else "—"
    shot = "Lab" if lab else shot  # a Lab run (the Lab tab's), in the queue like any render
    queued = job.status == JobStatus.queued.value
    buttons = "".join(
        f"<button type='button' class='{'stop' if action == 'cancel' else ''}' "
        f"data-action='{action}' data-job='{job.id}' title='{title}' aria-label='{title}'>"
        f"{label}</button>"
        for action, label in row_actions(job)
        for title in [html.escape(_TITLES[action].format(id=job.id), quote=True)]
    )
    drag = " draggable='true'" if queued else ""
    grip = (
        "<span class='grip' title='Drag onto another queued job to run it before that one'>"
        "⠿</span> "
        if queued
        else ""
    )
    return (
        f"<tr class='job-row' data-job='{job.id}' data-status='{job.status}'{drag}>"
        f"<td><input type='checkbox' class='job-pick' data-job='{job.id}' "
        f"aria-label='Tick job #{job.id}'></td>"
        f"<td>{grip}#{job.id}</td><td>{job.kind}</td><td>{shot}</td>"
        f"<td style='color:{colour};font-weight:600'>{job.status}</td>"
        f"<td><progress max='100' value='{pct}' style='width:70%'></progress> {pct}%</td>"
        f"<td>{position or ''}</td><td>{job.priority}</td><td>{job.attempts}</td>"
        f"<td><div class='row-actions'>{buttons}</div></td>"
        f"<td class='details'>{cache}{html.escape((detail or '')[:300])}</td></tr>"
    )
