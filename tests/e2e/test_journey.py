"""A creator's whole journey in the real UI, in headless Chromium (Playwright).

create project → break down → preview all → render all → assemble → the film plays.
Screenshots of each step are saved under the test's tmp dir.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.server import StudioServer

pytestmark = pytest.mark.e2e

SCRIPT = """INT. KITCHEN - NIGHT

Anna stands by the window, rain streaking the glass. Close-up on her hands around a cup.

ANNA
Where were you?

EXT. STREET - NIGHT

Wide shot of the empty street. The camera pans left to a parked car.
"""


@pytest.fixture
def server(tmp_path: Path) -> Iterator[StudioServer]:
    with StudioServer(tmp_path / "data", tmp_path / "server.log") as running:
        yield running


def test_script_to_film_in_the_browser(server: StudioServer, page, tmp_path: Path) -> None:
    from playwright.sync_api import expect

    shots_dir = tmp_path / "screenshots"
    shots_dir.mkdir()

    def snap(name: str) -> None:
        page.screenshot(path=str(shots_dir / f"{name}.png"), full_page=True)

    page.goto(server.url)
    page.locator("#new-project-name textarea, #new-project-name input").first.fill("Rain")
    page.locator("#create-project").click()
    expect(page.locator("#project-select input")).to_have_value("#1 Rain")

    # Bad input gets a clear message, not a traceback.
    page.locator("#break-down").click()
    expect(page.get_by_text("The script is empty")).to_be_visible()

    page.locator("#script-text textarea").fill(SCRIPT)
    page.locator("#break-down").click()
    expect(page.locator("#script-status")).to_contain_text("shots")
    # Gradio's table is virtualised; the grid's row count includes the header row.
    expect(page.locator("#shot-table [role=grid]")).to_have_attribute("aria-rowcount", "6")
    snap("1-breakdown")
    page.locator("#shot-duration input").fill("0")
    page.locator("#save-shot").click()
    expect(page.get_by_text("Duration (s) must be > 0")).to_be_visible()

    page.get_by_role("tab", name="Storyboard").click()
    page.locator("#preview-all").click()
    expect(page.locator("#storyboard-status")).to_contain_text("5 succeeded", timeout=60_000)
    expect(page.locator("#storyboard img")).to_have_count(5)
    page.wait_for_function(  # every card shows a decoded panel, not a broken image
        "() => [...document.querySelectorAll('#storyboard img')]"
        ".every(i => i.complete && i.naturalWidth >= 320)"
    )
    snap("2-storyboard")

    page.get_by_role("tab", name="Render queue").click()
    page.locator("#render-all").click()
    expect(page.locator("#queue-table tr.job-row")).to_have_count(10)  # 5 previews + 5 clips
    expect(page.locator("#queue-table tr[data-status='succeeded']")).to_have_count(
        10, timeout=90_000
    )
    snap("3-queue")

    # A reload shows the same queue: it lives in the database, not in the page.
    page.reload()
    expect(page.locator("#project-select input")).to_have_value("#1 Rain")
    page.get_by_role("tab", name="Render queue").click()
    expect(page.locator("#queue-table tr[data-status='succeeded']")).to_have_count(10)

    page.get_by_role("tab", name="Film").click()
    page.locator("#film-title textarea, #film-title input").first.fill("Rain")
    page.locator("#assemble").click()
    expect(page.locator("#film-status")).to_contain_text("Film ready", timeout=90_000)
    video = page.locator("#film-video video")
    expect(video).to_have_count(1)
    playing = page.evaluate(
        """async () => {
            const v = document.querySelector('#film-video video');
            v.muted = true;
            await v.play();
            await new Promise(r => setTimeout(r, 1500));
            return {time: v.currentTime, duration: v.duration, error: v.error && v.error.code};
        }"""
    )
    snap("4-film")
    assert playing["error"] is None
    assert playing["duration"] > 10  # title card + five shots
    assert playing["time"] > 0.5, playing  # the film really plays
