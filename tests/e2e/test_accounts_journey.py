"""Two creators in one studio, in headless Chromium: accounts and credits on.

alice logs in → creates a project → breaks down a script → sees the cost estimate → renders
(draft pipeline) → the balance in the top bar drops → logs out; bob logs in and sees none of
her projects or jobs. A screenshot of alice's screen goes to docs/images/accounts.png when
STUDIO_UPDATE_SCREENSHOTS is set.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from studio import Studio
from tests.server import ROOT, StudioServer

pytestmark = pytest.mark.e2e

PASSWORD = "correct-horse-1"
SCRIPT = """INT. KITCHEN - NIGHT

Anna stands by the window, rain streaking the glass.

EXT. STREET - NIGHT

Wide shot of the empty street.
"""
SCREENSHOT = ROOT / "docs" / "images" / "accounts.png"


@pytest.fixture
def server(tmp_path: Path) -> Iterator[StudioServer]:
    data = tmp_path / "data"
    # The users exist before the server starts: created through the Studio API on the same
    # data dir (and so the same database) the server uses.
    with Studio.local(data, start_worker=False, auth=True, credits=True) as studio:
        for name in ("alice", "bob"):
            studio.create_user(name, PASSWORD)
            studio.grant_credits(name, 50, "test")
    env = {"STUDIO_AUTH": "true", "STUDIO_CREDITS": "true"}
    with StudioServer(data, tmp_path / "server.log", env=env) as running:
        yield running


def log_in(page, url: str, name: str) -> None:
    from playwright.sync_api import expect

    page.goto(url)
    expect(page).to_have_url(re.compile(r"/login"))
    page.locator("input[name=username]").fill(name)
    page.locator("input[name=password]").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page.locator("#account-bar")).to_contain_text(f"Signed in as {name}")


def balance(page) -> float:
    text = page.locator("#account-bar").inner_text()
    found = re.search(r"Balance:\s*([\d,]+\.\d\d) credits", text)
    assert found, text
    return float(found.group(1).replace(",", ""))


def test_two_creators_with_credits(server: StudioServer, page, tmp_path: Path) -> None:
    from playwright.sync_api import expect

    # The UI is behind the login page.
    page.goto(server.url)
    expect(page).to_have_url(re.compile(r"/login"))
    page.locator("input[name=username]").fill("alice")
    page.locator("input[name=password]").fill("wrong-password")
    page.get_by_role("button", name="Log in").click()
    expect(page.locator("[role=alert]")).to_be_visible()

    log_in(page, server.url, "alice")
    expect(page.locator("#account-bar")).to_contain_text("Balance: 50.00 credits")
    expect(page.get_by_role("tab", name="Account")).to_be_visible()
    expect(page.get_by_role("tab", name="Admin")).to_have_count(0)  # creators only

    page.locator("#new-project-name textarea, #new-project-name input").first.fill("Rain")
    page.locator("#create-project").click()
    expect(page.locator("#project-select input")).to_have_value("#1 Rain")
    page.locator("#script-text textarea").fill(SCRIPT)
    page.locator("#break-down").click()
    expect(page.locator("#script-status")).to_contain_text("2 shots")

    page.get_by_role("tab", name="Render queue").click()
    expect(page.locator("#render-cost")).to_contain_text(re.compile(r"Estimated cost: \d"))
    estimate = float(
        re.search(r"([\d.]+) credits", page.locator("#render-cost").inner_text()).group(1)  # type: ignore[union-attr]
    )
    assert 0 < estimate < 50
    page.locator("#render-all").click()
    expect(page.locator("#queue-status")).to_contain_text("Submitted")
    rows = page.locator("#queue-table tr.job-row")
    expect(rows.first).to_be_visible()
    expect(page.locator("#queue-table tr.job-row:not([data-status='succeeded'])")).to_have_count(
        0, timeout=90_000
    )
    # The bar follows the ledger: the renders were paid for.
    expect(page.locator("#account-bar")).not_to_contain_text("50.00 credits", timeout=10_000)
    spent = 50 - balance(page)
    assert 0 < spent <= estimate + 0.01, (spent, estimate)
    # Rendered shots are in the render cache now: rendering them again costs nothing.
    expect(page.locator("#render-cost")).to_contain_text("Estimated cost: 0.00 credits")
    # The docs' picture is refreshed on request only; a normal run leaves the tree clean.
    shot = SCREENSHOT if os.environ.get("STUDIO_UPDATE_SCREENSHOTS") else tmp_path / "a.png"
    page.screenshot(path=str(shot))
    alice_jobs = rows.count()

    page.get_by_role("tab", name="Account").click()
    expect(page.locator("#ledger")).to_contain_text("settle")
    expect(page.locator("#account-balance")).to_contain_text(f"{50 - spent:,.2f} credits")

    # A change the studio's own page sends with the session cookie passes the same-origin
    # check (a foreign page's is refused: tests/studio/test_same_origin.py).
    created = page.evaluate(
        """() => fetch('/api/v1/tokens', {method: 'POST',
             headers: {'content-type': 'application/json'},
             body: JSON.stringify({name: 'sent from the page'})}).then(r => r.status)"""
    )
    assert created == 201

    page.locator("#log-out").click()
    expect(page).to_have_url(re.compile(r"/login"))
    page.goto(server.url)  # the session really ended
    expect(page).to_have_url(re.compile(r"/login"))

    log_in(page, server.url, "bob")
    expect(page.locator("#account-bar")).to_contain_text("Balance: 50.00 credits")
    expect(page.locator("#project-select input")).to_have_value("")
    page.locator("#project-select input").click()
    expect(page.get_by_role("option")).to_have_count(0)  # none of alice's projects
    page.keyboard.press("Escape")
    page.get_by_role("tab", name="Render queue").click()
    expect(page.locator("#queue")).to_contain_text("No project selected")
    page.locator("#new-project-name textarea, #new-project-name input").first.fill("Snow")
    page.locator("#create-project").click()
    expect(page.locator("#project-select input")).to_have_value("#2 Snow")
    expect(page.locator("#queue")).to_contain_text("No renders yet")
    page.locator("#project-select input").click()
    expect(page.get_by_role("option")).to_have_count(1)  # his own, and only his
    expect(page.get_by_role("option", name="#2 Snow")).to_have_count(1)
    assert alice_jobs > 0
