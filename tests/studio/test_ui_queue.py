"""The Render queue tab as its handlers serve a creator: the buttons on a job's row, ticked
jobs acted on together, a queued row dragged before another, a failed action's message in
the status line, and a table that shows the newest 50 jobs however many the project has.

Handlers are called the way Gradio calls them (see test_ui_accounts.UI), with the event data
the table's script sends (`gr.EventData`)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import gradio as gr
import pytest
from sqlalchemy import event

from studio import Studio
from studio.core import lifecycle
from studio.core.db import session_scope
from studio.core.models import Artifact, Shot
from studio.ui import build_ui
from tests.studio.test_ui_accounts import UI, as_, output

PASSWORD = "correct-horse-7"
SCRIPT = "".join(f"INT. ROOM {n} - DAY\n\nA clock ticks {n} times.\n\n" for n in range(1, 5))


@pytest.fixture
def studio(tmp_path: Path) -> Iterator[Studio]:
    with Studio.local(tmp_path / "data", auth=True, credits=True) as local:
        for name in ("alice", "bob"):
            local.create_user(name, PASSWORD)
            local.grant_credits(name, 50, "test")
        yield local


@pytest.fixture
def ui(studio: Studio) -> UI:
    return UI(build_ui(studio))


def _queued(studio: Studio, user: str = "alice", script: str = SCRIPT) -> tuple[int, list[int]]:
    """A project whose renders wait in the user's paused queue: (project, job ids, oldest
    first)."""
    me = studio.as_user(user)
    project = me.create_project("Clocks", height=72, fps=8)
    me.breakdown(project.id, script)
    me.pause_queue()
    return project.id, [job.id for job in me.render(project.id)]


def _event(**data: Any) -> gr.EventData:
    return gr.EventData(None, data)


def _rows(table: str) -> dict[int, str]:
    """job id → status, as the table's rows say."""
    found = re.findall(r"<tr class='job-row' data-job='(\d+)' data-status='(\w+)'", table)
    return {int(job): status for job, status in found}


def _order(me: Studio) -> list[int]:
    """The queued jobs, next first."""
    positions = me.queue_positions()
    return sorted(positions, key=lambda job: positions[job])


def test_the_buttons_on_a_row(ui: UI, studio: Studio) -> None:
    alice, me = studio.as_user("alice"), as_("alice")
    pid, (first, second, third, _fourth) = _queued(studio)
    row = ui("queue_tab.on_row_action")
    table = str(ui("queue_tab.tick")(pid, None, None, me)[0])
    # Each row offers what its job's status allows, named for screen readers.
    assert f"aria-label='Cancel job #{first}'" in table
    assert f"aria-label='Raise job #{first} to the front of the queue'" in table
    assert f"aria-label='Retry job #{first}'" not in table

    status, table, *takes = row(pid, _event(job=first, action="cancel"), me)
    assert status == f"Cancel requested for job #{first}."
    assert _rows(table)[first] == "cancelled" and alice.job(first).status == "cancelled"
    assert takes == [gr.skip()] * 3  # the takes picker is left alone
    assert f"aria-label='Retry job #{first}'" in table
    status, table, *_ = row(pid, _event(job=first, action="retry"), me)
    assert status == f"Re-queued for job #{first}." and _rows(table)[first] == "queued"
    status, table, *_ = row(pid, _event(job=third, action="bump"), me)
    assert status == f"Priority raised for job #{third}."
    assert alice.queue_positions()[third] == 1
    # The same checks and messages as the typed job number.
    with pytest.raises(gr.Error, match=f"Job #{second} is queued; only failed or cancelled"):
        row(pid, _event(job=second, action="retry"), me)
    with pytest.raises(gr.Error, match=f"Job #{second} is queued; only failed or cancelled"):
        ui("queue_tab.on_retry")(pid, str(second), me)
    with pytest.raises(gr.Error, match="not a finished take"):
        row(pid, _event(job=second, action="takes"), me)


def test_a_row_reaches_only_its_projects_jobs(ui: UI, studio: Studio) -> None:
    pid, (first, *_rest) = _queued(studio)
    other = studio.as_user("alice").create_project("Elsewhere").id
    row = ui("queue_tab.on_row_action")
    with pytest.raises(gr.Error, match=f"Job #{first} belongs to another project."):
        row(other, _event(job=first, action="cancel"), as_("alice"))
    bob_pid = studio.as_user("bob").create_project("Bob's").id
    with pytest.raises(gr.Error, match=f"No render job #{first}"):
        row(bob_pid, _event(job=first, action="cancel"), as_("bob"))
    with pytest.raises(gr.Error, match="Choose a job in the table"):
        row(pid, _event(), as_("alice"))
    assert studio.as_user("alice").job(first).status == "queued"


def test_takes_on_a_finished_clips_row_fill_the_takes_picker(ui: UI, studio: Studio) -> None:
    alice = studio.as_user("alice")
    project = alice.create_project("Clocks", height=72, fps=8)
    shots = alice.breakdown(project.id, SCRIPT)
    (job, *_others) = alice.render(project.id, [shots[1].id], wait=True, progress=False)
    result = ui("queue_tab.on_row_action")(
        project.id, _event(job=job.id, action="takes"), as_("alice")
    )
    name = "queue_tab.on_row_action"
    assert output(ui, name, result, "queue-status").startswith(
        f"Takes of Shot 2 below: take #{job.id}"
    )
    assert output(ui, name, result, "take-shot").value == shots[1].id
    takes = output(ui, name, result, "takes")
    assert takes.value == job.id and [v for _label, v in takes.choices] == [job.id]
    assert str(output(ui, name, result, "take-video")).endswith(".mp4")
    table = str(ui("queue_tab.tick")(project.id, None, None, as_("alice"))[0])
    assert f"aria-label='Show the takes of the shot of job #{job.id}'" in table


def test_ticked_jobs_together(ui: UI, studio: Studio) -> None:
    alice, me = studio.as_user("alice"), as_("alice")
    pid, (first, second, third, fourth) = _queued(studio)
    bulk = ui("queue_tab.on_bulk")
    alice.cancel(third)
    status, table = bulk(pid, _event(action="cancel", jobs=[second, first, third]), me)
    assert status == (
        f"Cancelled #{first}, #{second} · #{third} already cancelled; nothing to cancel."
    )
    assert [_rows(table)[j] for j in (first, second, third)] == ["cancelled"] * 3
    status, _table = bulk(pid, _event(action="retry", jobs=[first, second, fourth]), me)
    assert status == (
        f"Re-queued #{first}, #{second} · #{fourth} is queued; only failed or cancelled jobs "
        "can be retried."
    )
    assert _order(alice) == [fourth, first, second]
    # Raised together: ahead of the rest, in the order they had.
    status, _table = bulk(pid, _event(action="bump", jobs=[second, first]), me)
    assert status == f"Raised #{first}, #{second}."
    assert _order(alice) == [first, second, fourth]
    # Nothing that could be done: an error (the toast), none of it half done.
    with pytest.raises(gr.Error, match=f"#{fourth} is queued; only failed or cancelled"):
        bulk(pid, _event(action="retry", jobs=[fourth]), me)
    with pytest.raises(gr.Error, match="Tick one or more jobs"):
        bulk(pid, _event(action="cancel", jobs=[]), me)
    other = alice.create_project("Elsewhere").id
    with pytest.raises(gr.Error, match=f"#{first} belongs to another project"):
        bulk(other, _event(action="cancel", jobs=[first]), me)
    assert alice.job(first).status == "queued"


def test_dragging_a_queued_row_before_another(ui: UI, studio: Studio) -> None:
    alice, me = studio.as_user("alice"), as_("alice")
    pid, (first, second, third, fourth) = _queued(studio)
    status, _table = ui("queue_tab.on_reorder")(pid, _event(job=fourth, before=second), me)
    assert status == f"Job #{fourth} now runs before job #{second}."
    assert _order(alice) == [first, fourth, second, third]
    alice.cancel(first)
    with pytest.raises(gr.Error, match=f"Job #{first} is cancelled; only queued jobs"):
        ui("queue_tab.on_reorder")(pid, _event(job=third, before=first), me)
    with pytest.raises(gr.Error, match="Drag a queued job onto another"):
        ui("queue_tab.on_reorder")(pid, _event(job=third), me)


def test_a_failed_action_replaces_the_status_line(ui: UI, studio: Studio) -> None:
    pid, (first, *_rest) = _queued(studio)
    me = gr.Request(username="alice", session_hash="tab-1")
    status, _table, *_ = ui("queue_tab.on_row_action")(pid, _event(job=first, action="cancel"), me)
    assert status == f"Cancel requested for job #{first}."
    with pytest.raises(gr.Error) as raised:
        ui("queue_tab.on_cancel")(pid, str(first), me)
    assert f"Job #{first} already cancelled; nothing to cancel" in str(raised.value)
    # The event's failure step puts the message where the success stood, once.
    failed = ui("queue_tab.on_failed")
    assert failed(me) == f"⚠ Job #{first} already cancelled; nothing to cancel"
    assert failed(me) == ""
    with pytest.raises(gr.Error):
        ui("queue_tab.on_cancel")(pid, "", me)
    assert failed(me) == "⚠ Enter a job number from the table."
    assert failed(gr.Request(username="alice", session_hash="tab-2")) == ""  # another page
    # Every action of the tab has that step, writing to the status line.
    fns = list(ui.blocks.fns.values())
    after_failure = {
        f.trigger_after: f for f in fns if f.fn is failed and f.trigger_only_on_failure
    }
    actions = ["on_render_all", "on_render", "on_cancel", "on_retry", "on_bump", "on_move",
               "on_row_action", "on_bulk", "on_reorder", "on_pause", "on_resume",
               "on_choose"]  # fmt: skip
    for name in actions:
        (action,) = [f for f in fns if f.fn is ui(f"queue_tab.{name}")]
        step = after_failure[action._id]
        assert [block.elem_id for block in step.outputs] == ["queue-status"], name


def test_the_table_shows_the_newest_50_jobs(ui: UI, studio: Studio) -> None:
    script = "".join(f"INT. ROOM {n} - DAY\n\nA clock ticks.\n\n" for n in range(1, 62))
    pid, jobs = _queued(studio, script=script)
    assert len(jobs) == 61
    table, _estimate, _seen = ui("queue_tab.tick")(pid, None, None, as_("alice"))
    shown = _rows(table)
    assert len(shown) == 50 and min(shown) == jobs[11]  # the newest 50
    assert "Showing the newest 50 jobs" in table and "Show 50 older jobs" in table
    table, count = ui("queue_tab.on_older")(pid, 50, as_("alice"))
    assert count == 100 and len(_rows(table)) == 61 and "Show 50 older" not in table
    # The polls keep showing as many as asked for.
    table, _estimate, _seen = ui("queue_tab.tick")(pid, None, None, as_("alice"), count)
    assert len(_rows(table)) == 61
    # Choosing the project again (or a new page) starts again at 50.
    again = output(ui, "choose_project", ui("choose_project")(pid, as_("alice")), "queue")
    assert len(_rows(again)) == 50


def _cells(table: str) -> dict[int, tuple[str, str]]:
    """job id → (shot number, queue position), as the table's rows say."""
    found = {}
    for job, row in re.findall(r"<tr class='job-row' data-job='(\d+)'(.*?)</tr>", table, re.S):
        cells = re.findall(r"<td[^>]*>(.*?)</td>", row, re.S)
        found[int(job)] = (cells[3], cells[6])
    return found


def test_a_refresh_reads_only_the_rows_it_shows(ui: UI, studio: Studio) -> None:
    """Shot numbers and queue positions of the rows shown, right, without reading the
    project's other shots (a refresh costs the same with 3,000 jobs queued as with 30:
    benchmarks/queue_refresh.py)."""
    bob = studio.as_user("bob")
    theirs = bob.create_project("Ahead", height=72, fps=8)
    bob.breakdown(theirs.id, SCRIPT)
    bob.pause_queue()
    bob.render(theirs.id)  # queued before alice's: her jobs' positions start at 5
    script = "".join(f"INT. ROOM {n} - DAY\n\nA clock ticks.\n\n" for n in range(1, 62))
    pid, jobs = _queued(studio, script=script)
    alice = studio.as_user("alice")
    alice.move_before(jobs[-1], jobs[-30])  # the queue order is not the id order
    shots = alice.shots(pid)
    alice.move_shot(shots[-1].id, 0)  # nor is the shot order
    numbers = {s.id: n for n, s in enumerate(alice.shots(pid), 1)}
    positions = alice.queue_positions()
    tick = ui("queue_tab.tick")
    _table, _estimate, seen = tick(pid, None, None, as_("alice"))  # the first one: the estimate
    loaded: list[Shot] = []

    def on_load(shot: Shot, _context: object) -> None:
        loaded.append(shot)

    event.listen(Shot, "load", on_load)
    try:
        table, estimate, _seen = tick(pid, None, seen, as_("alice"))
    finally:
        event.remove(Shot, "load", on_load)
    assert estimate == gr.skip()  # nothing finished since: the estimate stands
    cells = _cells(table)
    assert len(cells) == 50
    for job_id, (shot, position) in cells.items():
        job = alice.job(job_id)
        assert job.shot_id is not None and shot == str(numbers[job.shot_id]), job_id
        assert position == str(positions[job_id]) and positions[job_id] > 4, job_id
    shown_shots = {alice.job(j).shot_id for j in cells}
    assert len(loaded) == len(shown_shots) == 50  # not the project's 61


def test_the_estimate_is_repriced_at_most_every_few_seconds(
    ui: UI, studio: Studio, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each job event refreshes the table, but the estimate beside it (which reprices every
    shot of the project) only every `ESTIMATE_EVERY` seconds while renders on the page go
    on, and at once when the last one ends, so it ends right."""
    from studio.ui import queue_tab

    pid, jobs = _queued(studio)
    studio.queue.stop()  # no worker: each job ends when the test says
    studio.as_user("alice").resume_queue()

    def render(job_id: int) -> None:  # what a worker records when a render succeeds
        with session_scope(studio.engine) as session:
            job = lifecycle.claim_job(session, job_id, "gpu-1", 30.0)
            assert job is not None
            artifact = Artifact(owner="alice", key=f"ab/{job_id}.mp4", content_type="video/mp4",
                                bytes=1, sha256="ab")  # fmt: skip
            lifecycle.succeed(session, job_id, artifact)

    monkeypatch.setattr(queue_tab, "ESTIMATE_EVERY", 3600.0)
    tick = ui("queue_tab.tick")
    _table, before, seen = tick(pid, None, None, as_("alice"))
    assert "Estimated cost" in before and "0.00 credits" not in before
    render(jobs[0])
    table, estimate, still = tick(pid, None, seen, as_("alice"))
    assert _rows(table)[jobs[0]] == "succeeded"  # the table follows at once
    assert estimate == gr.skip() and still == seen  # the others go on: not repriced yet
    monkeypatch.setattr(queue_tab, "ESTIMATE_EVERY", 0.0)  # (the interval has passed)
    _table, estimate, seen = tick(pid, None, still, as_("alice"))
    assert "Estimated cost" in estimate and estimate != before  # one shot is cached now
    monkeypatch.setattr(queue_tab, "ESTIMATE_EVERY", 3600.0)
    for job_id in jobs[1:]:
        render(job_id)
    _table, estimate, _seen = tick(pid, None, seen, as_("alice"))
    assert "Estimated cost: **0.00 credits**" in estimate  # none left: repriced at once


def test_the_table_follows_the_job_events(ui: UI) -> None:
    """The table's script refreshes it on the project's job events ("jobs_changed"); the
    timer catches what no job event reports (another user's jobs moving this queue, a
    reorder elsewhere) and what a dropped stream missed."""
    tick = ui("queue_tab.tick")
    refreshes = [f for f in ui.blocks.fns.values() if f.fn is tick]
    # A job event during a refresh refreshes again after it (the last state must show); a
    # timer tick then is dropped.
    modes = {name: f.trigger_mode for f in refreshes for _block, name in f.targets}
    assert modes == {"tick": "once", "jobs_changed": "always_last"}
    timer = next(b for b in ui.blocks.blocks.values() if isinstance(b, gr.Timer))
    assert timer.value == 5.0
    # No handler of the studio is one of Gradio's media streams: such an event never ends
    # and holds its handler's only slot, for every browser (the table's refresh was one,
    # under Gradio's name `stream`, and its timer never refreshed it).
    streams = [f.name for f in ui.blocks.fns.values() if f.connection != "sse"]
    assert streams == []


def test_lab_runs_in_progress_are_in_the_queue_and_can_be_cancelled(ui: UI, studio: Studio) -> None:
    alice, me = studio.as_user("alice"), as_("alice")
    pid, _jobs = _queued(studio)
    run = alice.lab_run("draft", "A lighthouse, Lab try", seed=3, wait=False)
    table = str(ui("queue_tab.tick")(pid, None, None, me)[0])
    assert _rows(table)[run.id] == "queued"
    lab_row = table[table.index(f"data-job='{run.id}'") :].split("</tr>")[0]
    assert "<td>Lab</td>" in lab_row and f"aria-label='Cancel job #{run.id}'" in lab_row
    status, table, *_takes = ui("queue_tab.on_row_action")(
        pid, _event(job=run.id, action="cancel"), me
    )
    assert status == f"Cancel requested for job #{run.id}."
    assert alice.job(run.id).status == "cancelled"
    assert run.id not in _rows(table)  # a finished Lab run stays in the Lab tab only
    # Someone else's Lab run is not theirs to act on.
    bob_run = studio.as_user("bob").lab_run("draft", "bob's try", wait=False)
    with pytest.raises(gr.Error, match=f"No render job #{bob_run.id}"):
        ui("queue_tab.on_row_action")(pid, _event(job=bob_run.id, action="cancel"), me)
