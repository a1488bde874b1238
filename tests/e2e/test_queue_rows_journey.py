"""The render queue's actions on its rows, in headless Chromium: alice's renders wait in her
paused queue; she cancels one from its row and retries it from its row, drags one queued row
before another, ticks two and cancels them together, sees a failed bulk action replace the
status line with its warning, then resumes: the project's job events bring the finished
renders into the table, and a row's "Takes" fills the takes picker. On a phone-wide screen
the live panel sits under the table, which scrolls sideways inside its box. A change no job
event reports (a reorder by a script) reaches an open table at its timed refresh.

Screenshots go to the test's temporary folder; the one of the ticked rows (1400 px wide) to
docs/images/queue.png instead when STUDIO_UPDATE_SCREENSHOTS is set."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from studio import Studio
from tests.e2e.redraw import click_across_a_redraw
from tests.e2e.test_accounts_journey import PASSWORD, log_in
from tests.server import ROOT, StudioServer

pytestmark = pytest.mark.e2e

SCRIPT = """INT. ATTIC - DAY

Dust turns in a shaft of light.

EXT. ROOFTOP - DAY

A kite tugs at its string.

INT. STAIRWELL - NIGHT

Footsteps echo below.

EXT. ALLEY - NIGHT

A cat watches from a bin.
"""


@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[StudioServer, list[int]]]:
    data = tmp_path / "data"
    # Alice's four renders, submitted through the Studio API while her queue is paused, so
    # they wait (queued) in the server that then opens the same data dir.
    with Studio.local(data, start_worker=False, auth=True, credits=True) as studio:
        studio.create_user("alice", PASSWORD)
        studio.grant_credits("alice", 50, "test")
        alice = studio.as_user("alice")
        project = alice.create_project("Rooftops", height=144, fps=8)
        for shot in alice.breakdown(project.id, SCRIPT):
            alice.update_shot(shot.id, duration=1.0)
        alice.pause_queue()
        jobs = [job.id for job in alice.render(project.id)]
    env = {"STUDIO_AUTH": "true", "STUDIO_CREDITS": "true"}
    with StudioServer(data, tmp_path / "server.log", env=env) as running:
        yield running, jobs


def _statuses(running: StudioServer, *jobs: int) -> list[str]:
    """What the studio's database says of alice's jobs (read as she would, through the API)."""
    with Studio.local(running.data_dir, start_worker=False, auth=True, credits=True) as studio:
        return [studio.as_user("alice").job(job).status for job in jobs]


def _positions(running: StudioServer) -> dict[int, int]:
    with Studio.local(running.data_dir, start_worker=False, auth=True, credits=True) as studio:
        return studio.as_user("alice").queue_positions()


def test_queue_rows_cancel_retry_drag_and_bulk(
    server: tuple[StudioServer, list[int]], page, tmp_path: Path
) -> None:
    from playwright.sync_api import expect

    running, (first, second, third, fourth) = server
    log_in(page, running.url, "alice")
    page.get_by_role("tab", name="Render queue").click()
    table = page.locator("#queue-table")
    status = page.locator("#queue-status")

    def row(job: int) -> Any:  # a Playwright locator
        return table.locator(f"tr.job-row[data-job='{job}']")

    expect(table.locator("tr.job-row[data-status='queued']")).to_have_count(4)
    expect(page.locator("#queue-paused")).to_contain_text("Queue paused")
    # The table listens to the project's job events (the session cookie opens the stream).
    expect(page.locator("#queue [data-live='open']")).to_have_count(1)

    # Cancel from the row, then retry from the same row. She presses Cancel and the table is
    # drawn anew before she lets go (a job event's refresh does that): it still counts.
    cancel = row(first).get_by_role("button", name=f"Cancel job #{first}")
    click_across_a_redraw(page, cancel, "#queue-table")
    expect(status).to_contain_text(f"Cancel requested for job #{first}.")
    expect(row(first)).to_have_attribute("data-status", "cancelled")
    assert _statuses(running, first) == ["cancelled"]
    row(first).get_by_role("button", name=f"Retry job #{first}").click()
    expect(status).to_contain_text(f"Re-queued for job #{first}.")
    expect(row(first)).to_have_attribute("data-status", "queued")

    # Drag the last queued job onto the second: it now runs right before it.
    before = _positions(running)
    assert before[fourth] > before[second]
    row(fourth).drag_to(row(second))
    expect(status).to_contain_text(f"Job #{fourth} now runs before job #{second}.")
    after = _positions(running)
    assert after[fourth] == after[second] - 1, after
    expect(row(fourth).locator("td").nth(6)).to_have_text(str(after[fourth]))

    # Tick two jobs and cancel them together.
    bulk_cancel = page.locator("#queue button[data-bulk='cancel']")
    expect(bulk_cancel).to_be_disabled()
    row(second).locator("input.job-pick").check()
    row(third).locator("input.job-pick").check()
    expect(page.locator("#queue .picked-count")).to_have_text("2 selected:")
    page.mouse.move(0, 0)
    page.screenshot(path=str(_docs_or(tmp_path, "queue.png")), full_page=True)
    bulk_cancel.click()
    expect(status).to_contain_text(f"Cancelled #{second}, #{third}.")
    assert _statuses(running, second, third) == ["cancelled", "cancelled"]
    expect(table.locator("tr.job-row[data-status='cancelled']")).to_have_count(2)
    expect(page.locator("#queue .picked-count")).to_have_text("Tick jobs to act on several:")

    # A bulk action that cannot be done: the toast and the status line say why; the earlier
    # success is gone from the status line.
    row(second).locator("input.job-pick").check()
    bulk_cancel.click()
    expect(page.locator(".toast-body, [data-testid=toast-body]").first).to_contain_text(
        f"#{second} already cancelled", timeout=10_000
    )
    expect(status).to_have_text(f"⚠ #{second} already cancelled; nothing to cancel")

    # Resume: the renders run, and the job events bring them into the table.
    page.locator("#resume-queue").click()
    expect(status).to_contain_text("Your queue is resumed.")
    expect(table.locator("tr.job-row[data-status='succeeded']")).to_have_count(2, timeout=90_000)
    # "Takes" on a finished clip's row fills the takes picker with its shot.
    row(fourth).get_by_role("button", name=f"Show the takes of the shot of job #{fourth}").click()
    expect(status).to_contain_text(f"take #{fourth} is shown")
    expect(page.locator("#take-shot input")).to_have_value(re.compile(r"^Shot 4: "))
    expect(page.locator("#takes input[type=radio]:checked")).to_have_count(1)
    page.screenshot(path=str(tmp_path / "queue-done.png"), full_page=True)

    # A phone: the live panel is under the table, the table scrolls inside its box and the
    # page itself does not scroll sideways.
    page.set_viewport_size({"width": 390, "height": 844})
    page.get_by_role("tab", name="Render queue").scroll_into_view_if_needed()
    box, live = page.locator("#queue").bounding_box(), page.locator("#live-preview").bounding_box()
    assert box and live and live["y"] >= box["y"] + box["height"] - 1, (box, live)
    scroll = page.locator("#queue .queue-scroll")
    widths = scroll.evaluate("(el) => [el.scrollWidth, el.clientWidth]")
    assert widths[0] > widths[1] and widths[1] <= 390, widths
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    page.screenshot(path=str(tmp_path / "queue-390.png"), full_page=True)


def _docs_or(tmp_path: Path, name: str) -> Path:
    target = ROOT / "docs" / "images" if os.environ.get("STUDIO_UPDATE_SCREENSHOTS") else tmp_path
    return target / name


def test_the_table_catches_up_with_what_no_job_event_reports(
    server: tuple[StudioServer, list[int]], page
) -> None:
    """The job events bring progress and ends; a change they do not report (here alice
    reorders her queue from a script) reaches an open table at its next timed refresh, a
    few seconds later, while the job events keep flowing."""
    from playwright.sync_api import expect

    running, (first, *_, fourth) = server
    log_in(page, running.url, "alice")
    page.get_by_role("tab", name="Render queue").click()
    row = page.locator(f"#queue-table tr.job-row[data-job='{fourth}']")
    expect(row).to_have_attribute("data-status", "queued")
    expect(page.locator("#queue [data-live='open']")).to_have_count(1)
    page.wait_for_timeout(1500)  # the stream's first events have refreshed the table
    shown = row.locator("td").nth(6)
    expect(shown).to_have_text(str(_positions(running)[fourth]))
    with Studio.local(running.data_dir, start_worker=False, auth=True, credits=True) as studio:
        studio.as_user("alice").move_before(fourth, first)
    moved = _positions(running)[fourth]
    assert moved == 1, _positions(running)
    expect(shown).to_have_text(str(moved), timeout=20_000)  # the timer ticks every 5 s
