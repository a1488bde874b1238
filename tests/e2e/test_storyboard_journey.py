"""A creator edits shots on their storyboard cards in headless Chromium: a refused duration
(the studio's message, nothing saved), a prompt and a duration saved from a card (what is
typed on another card stays; Ctrl+Enter saves it), a camera move saved with Ctrl+S, a
preview regenerated with R, focus moved with the arrow keys, a clip rendered from its card;
the board on a desktop (several columns) and on a phone (one column, captions wrapped).

Screenshots of the board at 1400 px and 390 px go to the test's temporary folder; the
desktop one also to docs/images/storyboard.png when STUDIO_UPDATE_SCREENSHOTS is set."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from studio import Studio
from tests.e2e.test_accounts_journey import PASSWORD, log_in
from tests.server import ROOT, StudioServer

pytestmark = pytest.mark.e2e

SCRIPT = """INT. NORTHERN LIGHTHOUSE KEEPER'S COTTAGE, UPSTAIRS BEDROOM - NIGHT

A storm lamp swings over the charts on the desk.

EXT. PIER - NIGHT

The ferry pulls away into the fog.

EXT. CLIFF PATH - DAWN

Wide shot of the keeper walking into the wind.
"""
PROMPT = "The ferry's lights vanish one by one into the fog"
LAST_PROMPT = "Wide shot: the keeper leans into the wind on the cliff path at dawn"


@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[StudioServer, int, list[int]]]:
    data = tmp_path / "data"
    # Alice's storyboard with its previews, made through the Studio API on the data dir the
    # server then uses.
    with Studio.local(data, auth=True, credits=True) as studio:
        studio.create_user("alice", PASSWORD)
        studio.grant_credits("alice", 50, "test")
        alice = studio.as_user("alice")
        project = alice.create_project("Lighthouse", height=240)
        shots = [s.id for s in alice.breakdown(project.id, SCRIPT)]
        alice.preview(project.id, wait=True, progress=False)
    env = {"STUDIO_AUTH": "true", "STUDIO_CREDITS": "true"}
    with StudioServer(data, tmp_path / "server.log", env=env) as running:
        yield running, project.id, shots


def _studio(server: StudioServer) -> Studio:
    return Studio.local(server.data_dir, start_worker=False, auth=True, credits=True)


def test_a_creator_edits_shots_on_their_cards(
    server: tuple[StudioServer, int, list[int]], page, tmp_path: Path
) -> None:
    from playwright.sync_api import expect

    running, project_id, shots = server
    with _studio(running) as studio:
        before = studio.shot(shots[1])
    log_in(page, running.url, "alice")
    expect(page.locator("#project-select input")).to_have_value(f"#{project_id} Lighthouse")
    page.get_by_role("tab", name="Storyboard").click()
    cards = page.locator("#storyboard .sb-card")
    expect(cards).to_have_count(3)
    expect(page.locator("#storyboard img")).to_have_count(3)
    status = page.locator("#storyboard-status")
    card = page.locator(f'#storyboard .sb-card[data-shot="{shots[1]}"]')
    prompt = card.locator("textarea[name=prompt]")
    duration = card.locator("input[name=duration]")
    expect(prompt).to_have_value(before.prompt)
    expect(card.locator(".sb-head")).to_contain_text("Shot 2")
    expect(card.locator(".sb-head")).to_contain_text("EXT. PIER - NIGHT")

    # A duration the studio refuses: its message, and the shot as it was.
    duration.fill("0")
    card.get_by_role("button", name="Save", exact=True).click()
    expect(page.get_by_text("Duration (s) must be > 0")).to_be_visible()
    with _studio(running) as studio:
        assert studio.shot(shots[1]).duration == before.duration

    # The prompt and the duration, saved from the card; what is typed on another card and
    # not saved yet stays through the update, and Ctrl+Enter saves it.
    last_prompt = page.locator(f'#storyboard [data-shot="{shots[2]}"] textarea[name=prompt]')
    last_prompt.fill(LAST_PROMPT)
    prompt.fill(PROMPT)
    duration.fill("4.5")
    card.get_by_role("button", name="Save", exact=True).click()
    expect(status).to_have_text("Shot 2: saved (prompt, duration).")
    with _studio(running) as studio:
        saved = studio.shot(shots[1])
        assert studio.shot(shots[2]).prompt != LAST_PROMPT
    assert (saved.prompt, saved.duration) == (PROMPT, 4.5)
    expect(prompt).to_have_value(PROMPT)
    expect(last_prompt).to_have_value(LAST_PROMPT)
    last_prompt.press("Control+Enter")
    expect(status).to_have_text("Shot 3: saved (prompt).")
    with _studio(running) as studio:
        assert studio.shot(shots[2]).prompt == LAST_PROMPT

    # Ctrl+S saves the card being edited, from inside its text field.
    card.locator("select[name=camera_move]").select_option("pan-left")
    prompt.click()
    page.keyboard.press("Control+s")
    expect(status).to_have_text("Shot 2: saved (camera move).")
    with _studio(running) as studio:
        assert studio.shot(shots[1]).camera_move == "pan-left"

    # R on the focused card: a new seed and a new picture.
    picture = card.locator("img")
    old_picture = picture.get_attribute("src")
    card.focus()
    page.keyboard.press("r")
    expect(status).to_contain_text("Preview: 1 succeeded", timeout=60_000)
    expect(status).to_contain_text("Shot 2: new seed")
    with _studio(running) as studio:
        regenerated = studio.shot(shots[1])
    assert regenerated.seed != saved.seed and regenerated.preview_job_id != saved.preview_job_id
    expect(card.locator("input[name=seed]")).to_have_value(str(regenerated.seed))
    expect(picture).not_to_have_attribute("src", old_picture or "")
    page.wait_for_function(  # the new frame is decoded, not a broken image
        f"() => {{ const i = document.querySelector('[data-shot=\"{shots[1]}\"] img');"
        " return i && i.complete && i.naturalWidth >= 320; }"
    )

    # ← → move between cards (the focus stays on the card through the update).
    shot_in_focus = "() => document.activeElement.closest('.sb-card')?.dataset.shot"
    assert page.evaluate(shot_in_focus) == str(shots[1])
    page.keyboard.press("ArrowRight")
    assert page.evaluate(shot_in_focus) == str(shots[2])
    page.keyboard.press("ArrowLeft")
    page.keyboard.press("ArrowLeft")
    assert page.evaluate(shot_in_focus) == str(shots[0])

    # Render clip: a take of the shot as the card says, in the queue.
    card.get_by_role("button", name="Render clip").click()
    expect(status).to_contain_text("Shot 2: clip queued as job #")
    deadline = time.monotonic() + 90
    while True:
        with _studio(running) as studio:
            clips = studio.jobs(project_id, kinds=["clip"])
        if clips and clips[0].status == "succeeded":
            break
        assert time.monotonic() < deadline, clips
        time.sleep(0.5)
    (clip,) = clips
    assert clip.shot_id == shots[1] and PROMPT in clip.params["request"]["prompt"]
    assert clip.params["request"]["duration"] == 4.5
    assert clip.params["request"]["camera_move"] == "pan-left"

    # A desktop shows the cards in several columns.
    boxes = [cards.nth(i).bounding_box() for i in range(3)]
    assert all(boxes) and abs(boxes[0]["y"] - boxes[1]["y"]) < 2, boxes
    page.mouse.move(0, 0)
    for close in page.locator(".toast-close").all():  # the earlier message, read already
        close.click()
    expect(page.locator(".toast-close")).to_have_count(0)
    desktop = tmp_path / "storyboard-1400.png"
    page.screenshot(path=str(desktop), full_page=True)
    if os.environ.get("STUDIO_UPDATE_SCREENSHOTS"):
        page.screenshot(path=str(ROOT / "docs" / "images" / "storyboard.png"), full_page=True)

    # A phone: one column, each card's number, scene and prompt wrapped in full.
    page.set_viewport_size({"width": 390, "height": 844})
    card.scroll_into_view_if_needed()
    boxes = [cards.nth(i).bounding_box() for i in range(3)]
    assert all(boxes), boxes
    lefts = {round(b["x"]) for b in boxes}
    assert len(lefts) == 1 and all(b["width"] >= 300 for b in boxes), boxes
    assert boxes[0]["y"] < boxes[1]["y"] < boxes[2]["y"]
    first = cards.nth(0)
    expect(first.locator(".sb-scene")).to_have_text(
        "INT. NORTHERN LIGHTHOUSE KEEPER'S COTTAGE, UPSTAIRS BEDROOM - NIGHT"
    )
    overflow = page.evaluate(
        """() => [...document.querySelectorAll(
                '#storyboard .sb-card, #storyboard .sb-head > span, #storyboard textarea')]
            .filter(e => e.scrollWidth > e.clientWidth + 1).map(e => e.className || e.tagName)"""
    )
    assert overflow == []
    scene = first.locator(".sb-scene").bounding_box()
    assert scene and boxes[0] and scene["x"] + scene["width"] <= boxes[0]["x"] + boxes[0]["width"]
    assert scene["height"] > 25  # wrapped onto more lines, not cut to one
    page.screenshot(path=str(tmp_path / "storyboard-390.png"), full_page=True)
