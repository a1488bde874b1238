"""The studio's layout on a phone (390 px), a tablet (768 px) and a desktop (1400 px), in
headless Chromium: every tab of a rendered project (previews, clips, a film), checked with
the boxes the browser laid out —

(a) no two blocks of a tab overlap: every Gradio block, and every child of a row, column or
    group of fields, with what it paints (its box and its content, clipped where a box
    clips), against every other one that neither holds nor lies in;
(b) nothing runs off the side of the page: the page does not scroll sideways, and whatever
    pokes out of the screen sits in a box that scrolls sideways;
(c) on the phone, buttons and text fields are tap targets: at least 32 px tall as seen.

The Script tab's shots table shows every column on the desktop and scrolls sideways in its
own box on the narrower screens. Screenshots of each go to the test's temporary folder; those
of the Script, Storyboard, Render queue and Film tabs also to docs/images/layout-<width>-<tab>.png
when STUDIO_UPDATE_SCREENSHOTS is set.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from studio import Studio
from tests.e2e.conftest import CHROMIUM_ARGS
from tests.e2e.test_accounts_journey import PASSWORD, log_in
from tests.server import ROOT, StudioServer

pytestmark = pytest.mark.e2e

WIDTHS = (390, 768, 1400)
PHONE = 390
TABS = {
    "script": "Script & shots",
    "cast": "Cast",
    "voices": "Voices",
    "storyboard": "Storyboard",
    "queue": "Render queue",
    "film": "Film",
    "review": "Review",
    "lab": "Lab",
    "workers": "Workers",
}
PICTURED = ("script", "storyboard", "queue", "film")  # the docs' pictures, at each width

SCRIPT = """INT. HARBOUR OFFICE - NIGHT

A lamp swings over the charts. Close-up on the harbour master's weathered hands as she
unrolls an old map of the coastline.

MARA (50s, oilskin coat)
The ferry never came back.

EXT. PIER - NIGHT

Wide shot: the ferry pulls away into the fog, its lights dimming one by one. The camera
pans left along the empty pier.
"""

# The three checks, run in the page on the open tab. Returns what fails, in words.
CHECKS = """(phone) => {
  const panel = [...document.querySelectorAll('[role=tabpanel]')]
    .find(p => p.offsetParent !== null);
  const W = document.documentElement.clientWidth;
  const name = (el) => {
    const cls = (typeof el.className === 'string' ? el.className : '')
      .replace(/svelte-\\w+/g, '').trim().split(/\\s+/).filter(Boolean).slice(0, 3);
    const label = (el.querySelector('label span, [data-testid=block-info], .label p')
      || el).textContent || '';
    return el.tagName.toLowerCase() + (el.id ? '#' + el.id : '')
      + (cls.length ? '.' + cls.join('.') : '') + ` "${label.trim().slice(0, 30)}"`;
  };
  const shown = (el) => {
    const r = el.getBoundingClientRect();
    const s = getComputedStyle(el);
    return r.width > 1 && r.height > 1 && s.visibility !== 'hidden' && s.display !== 'none';
  };
  // What of an element is painted: its box, clipped by the boxes around it (up to `top`)
  // whose overflow is not visible. [left, top, right, bottom]
  const painted = (el, top) => {
    const r = el.getBoundingClientRect();
    let [l, t, rt, b] = [r.left, r.top, r.right, r.bottom];
    for (let up = el.parentElement; up && up !== top.parentElement; up = up.parentElement) {
      const u = up.getBoundingClientRect();
      const s = getComputedStyle(up);
      if (s.overflowX !== 'visible') { l = Math.max(l, u.left); rt = Math.min(rt, u.right); }
      if (s.overflowY !== 'visible') { t = Math.max(t, u.top); b = Math.min(b, u.bottom); }
    }
    return [l, t, rt, b];
  };
  // What a block paints: itself and everything in it.
  const extent = (el) => {
    let [l, t, r, b] = painted(el, el);
    for (const d of el.querySelectorAll('*')) {
      if (!shown(d)) continue;
      const [dl, dt, dr, db] = painted(d, el);
      if (dr - dl < 1 || db - dt < 1) continue;
      l = Math.min(l, dl); t = Math.min(t, dt); r = Math.max(r, dr); b = Math.max(b, db);
    }
    return [l, t, r, b];
  };
  // (a) Overlaps.
  const blocks = [...panel.querySelectorAll('.block, .form, .row > *, .column > *, .form > *')]
    .filter(shown);
  const extents = new Map(blocks.map(el => [el, extent(el)]));
  const overlaps = [];
  for (let i = 0; i < blocks.length; i++) {
    for (let j = i + 1; j < blocks.length; j++) {
      const a = blocks[i], b = blocks[j];
      if (a.contains(b) || b.contains(a)) continue;
      const p = extents.get(a), q = extents.get(b);
      const dx = Math.min(p[2], q[2]) - Math.max(p[0], q[0]);
      const dy = Math.min(p[3], q[3]) - Math.max(p[1], q[1]);
      if (dx > 1 && dy > 1) {
        const by = `${Math.round(dx)}×${Math.round(dy)} px`;
        overlaps.push(`${name(a)} and ${name(b)} overlap by ${by}`);
      }
    }
  }
  // (b) Off the side of the page, unless held by a box that scrolls sideways.
  const wide = [];
  const scrollWidth = document.documentElement.scrollWidth;
  if (scrollWidth > W + 1) wide.push(`the page is ${scrollWidth} px wide`);
  for (const el of panel.querySelectorAll('*')) {
    if (!shown(el)) continue;
    const r = el.getBoundingClientRect();
    if (r.right <= W + 1 && r.left >= -1) continue;
    let held = false;
    for (let up = el.parentElement; up && up !== panel; up = up.parentElement) {
      const o = getComputedStyle(up).overflowX;
      const u = up.getBoundingClientRect();
      if ((o === 'auto' || o === 'scroll') && u.right <= W + 1 && u.left >= -1) {
        held = true;
        break;
      }
    }
    if (!held) wide.push(`${name(el)} spans ${Math.round(r.left)}..${Math.round(r.right)} px`);
  }
  // (c) Tap targets on a phone, as tall as they are seen (a dropdown's is its whole field).
  const small = [];
  if (phone) {
    const targets = panel.querySelectorAll(
      'button.lg, button.md, button.sm, button[id], .html-container button, '
      + 'input[type=text], input[type=number], input[type=password], input:not([type]), '
      + 'textarea');
    for (const el of targets) {
      if (!shown(el)) continue;
      const box = el.closest('.secondary-wrap') ? el.closest('.wrap') : el;
      const [, t, , b] = painted(box, panel);
      if (b - t < 32) small.push(`${name(el)} is ${Math.round(b - t)} px tall`);
    }
  }
  return {overlaps, wide: wide.slice(0, 10), small};
}"""

# A sign of the open tab's layout: it stops changing once the tab has settled.
LAYOUT = """() => {
  const panel = [...document.querySelectorAll('[role=tabpanel]')]
    .find(p => p.offsetParent !== null);
  if (!panel) return null;
  const loading = document.querySelectorAll('.wrap.default:not(.hide), .eta-bar').length;
  const images = [...panel.querySelectorAll('img')].filter(i => !i.complete).length;
  return [panel.scrollHeight, panel.scrollWidth, panel.querySelectorAll('*').length,
          loading, images].join(' ');
}"""


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StudioServer]:
    tmp = tmp_path_factory.mktemp("layout")
    data = tmp / "data"
    # A project with what every tab shows filled in: shots, a cast member, previews, clips,
    # a film and a comment, made through the Studio API on the data dir the server uses.
    with Studio.local(data, auth=True, credits=True) as studio:
        studio.create_user("alice", PASSWORD)
        studio.grant_credits("alice", 100, "test")
        alice = studio.as_user("alice")
        project = alice.create_project("Harbour", height=144, fps=8)
        for shot in alice.breakdown(project.id, SCRIPT):
            alice.update_shot(shot.id, duration=1.0)
        alice.preview(project.id, wait=True, progress=False)
        alice.render(project.id, wait=True, progress=False)
        film = alice.assemble(project.id, wait=True, progress=False)
        alice.comment(project.id, "The fog comes in too early", job_id=film.id, seconds=0.5)
    env = {"STUDIO_AUTH": "true", "STUDIO_CREDITS": "true"}
    with StudioServer(data, tmp / "server.log", env=env) as running:
        yield running


@pytest.fixture(scope="module")
def browser(server: StudioServer, chromium_path: str) -> Iterator[Any]:
    """One browser, logged in once, for every width and tab."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        chromium = pw.chromium.launch(
            executable_path=chromium_path, headless=True, args=CHROMIUM_ARGS
        )
        context = chromium.new_context(viewport={"width": 1400, "height": 1000})
        page = context.new_page()
        page.set_default_timeout(30_000)
        log_in(page, server.url, "alice")
        yield page
        context.close()
        chromium.close()


def open_tab(page: Any, width: int, tab: str) -> None:
    from playwright.sync_api import expect

    page.set_viewport_size({"width": width, "height": 900})
    button = page.get_by_role("tab", name=TABS[tab], exact=True)
    button.click()
    expect(button).to_have_attribute("aria-selected", "true")
    settle(page)


def settle(page: Any, timeout: float = 20.0) -> None:
    """Wait until the tab's layout has not changed for half a second (its refresh answered,
    its pictures loaded)."""
    deadline = time.monotonic() + timeout
    last, since = None, time.monotonic()
    while time.monotonic() < deadline:
        now = page.evaluate(LAYOUT)
        if now != last:
            last, since = now, time.monotonic()
        elif time.monotonic() - since >= 0.5:
            return
        page.wait_for_timeout(100)
    raise AssertionError(f"the tab did not settle in {timeout} s ({last})")


def picture(page: Any, tmp_path: Path, width: int, tab: str) -> None:
    name = f"layout-{width}-{tab}.png"
    page.screenshot(path=str(tmp_path / name), full_page=True)
    if os.environ.get("STUDIO_UPDATE_SCREENSHOTS") and tab in PICTURED:
        page.screenshot(path=str(ROOT / "docs" / "images" / name), full_page=True)


@pytest.mark.parametrize("tab", list(TABS))
@pytest.mark.parametrize("width", WIDTHS)
def test_nothing_overlaps_or_runs_off_the_screen(
    browser: Any, tmp_path: Path, width: int, tab: str
) -> None:
    open_tab(browser, width, tab)
    picture(browser, tmp_path, width, tab)
    found = browser.evaluate(CHECKS, width == PHONE)
    problems = [
        *(f"(a) {line}" for line in found["overlaps"]),
        *(f"(b) {line}" for line in found["wide"]),
        *(f"(c) {line}" for line in found["small"]),
    ]
    assert not problems, f"{TABS[tab]} at {width} px:\n" + "\n".join(problems)


# The shots table: its scrolling box, its cells and its column headings (those in view).
TABLE = """() => {
  const box = document.querySelector('#shot-table .virtual-table-viewport');
  const view = box.getBoundingClientRect();
  const cells = [...document.querySelectorAll('#shot-table .body-cell')]
    .filter(c => c.offsetParent !== null);
  const cut = cells
    .filter(c => c.scrollWidth > c.clientWidth + 1 || c.scrollHeight > c.clientHeight + 1)
    .map(c => c.textContent.trim());
  const headers = [...document.querySelectorAll('#shot-table th[title]')]
    .filter(h => h.offsetParent !== null);
  const inView = headers.filter(h => {
    const r = h.getBoundingClientRect();
    return r.left >= view.left - 1 && r.right <= view.right + 1;
  });
  return {scrollWidth: box.scrollWidth, clientWidth: box.clientWidth, cut,
          headers: inView.map(h => h.title), cells: cells.map(c => c.textContent.trim())};
}"""


@pytest.mark.parametrize("width", WIDTHS)
def test_the_shots_table_fits_a_desktop_and_scrolls_on_a_small_screen(
    browser: Any, width: int
) -> None:
    from studio.ui.script_tab import TABLE_HEADERS

    open_tab(browser, width, "script")
    table = browser.evaluate(TABLE)
    assert "harbour office, night, Mara speaking" in table["cells"]
    assert "preview, 1 take" in table["cells"]  # what each shot has rendered
    assert table["cut"] == [], "cells whose text is cut off"
    if width == 1400:
        # Every column in view, the prompt wrapped: no sideways scrolling.
        assert table["scrollWidth"] <= table["clientWidth"] + 1, table
        assert table["headers"] == TABLE_HEADERS
    else:
        # Too wide for the screen: it scrolls inside its own box (the page does not).
        assert table["scrollWidth"] > table["clientWidth"], table
        assert table["headers"][:2] == ["#", "Scene"]
        assert len(table["headers"]) < len(TABLE_HEADERS)


def test_opening_the_script_tab_shows_what_was_rendered_since(browser: Any) -> None:
    """Last (it adds a take): a take rendered on the Render queue tab is in the shots table
    as soon as the Script tab is opened again."""
    import re

    from playwright.sync_api import expect

    from studio.ui.script_tab import TABLE_HEADERS

    page = browser
    open_tab(page, 1400, "script")
    table = page.locator("#shot-table")
    expect(table).not_to_contain_text("2 takes")
    page.get_by_role("tab", name="Render queue", exact=True).click()
    page.locator("#render-shots input").click()
    page.get_by_role("option", name=re.compile(r"^Shot 1:")).click()
    page.locator("#render-selected").click()
    expect(page.locator("#queue-table tr[data-status='succeeded']")).to_have_count(
        12,
        timeout=90_000,  # 5 previews, 5 clips and the film, and now this take
    )
    page.get_by_role("tab", name="Script & shots", exact=True).click()
    expect(table).to_contain_text("preview, 2 takes")
    cells = page.evaluate(TABLE)["cells"]
    assert cells[: len(TABLE_HEADERS)] == [
        "1",
        "INT. HARBOUR OFFICE - NIGHT",
        "harbour office, night, A lamp swings over the charts",
        "",
        "1",
        "wide",
        "static",
        "",
        cells[8],  # the seed
        "preview, 2 takes",
    ]
