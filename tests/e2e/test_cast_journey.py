"""The cast in a real browser: the breakdown finds it, a description edited in the Cast tab
and a reference picture uploaded there reach the renders of exactly that member's shots,
and the consistency report shows her shots side by side."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from PIL import Image

from studio import Studio
from tests.server import StudioServer

pytestmark = pytest.mark.e2e

SCRIPT = """EXT. PRAIRIE RAILWAY - DAY

MARA (40s, weathered coat) steps off a rusted handcar.

TOMAS (10, barefoot) watches from the water tower.

MARA
Where is everyone?
"""


@pytest.fixture
def server(tmp_path: Path) -> Iterator[StudioServer]:
    with StudioServer(tmp_path / "data", tmp_path / "server.log") as running:
        yield running


def test_the_cast_from_a_script_to_its_renders(server: StudioServer, page, tmp_path: Path) -> None:
    from playwright.sync_api import expect

    page.goto(server.url)
    page.locator("#new-project-name textarea, #new-project-name input").first.fill("Rails")
    page.locator("#create-project").click()
    expect(page.locator("#project-select input")).to_have_value("#1 Rails")
    page.locator("#script-text textarea").fill(SCRIPT)
    page.locator("#break-down").click()
    expect(page.locator("#script-status")).to_contain_text("3 shots")
    expect(page.locator("#shot-cast")).to_contain_text("MARA")  # shot 1 names her

    page.get_by_role("tab", name="Cast").click()
    table = page.locator("#cast-table")
    expect(table).to_contain_text("40s, weathered coat")
    expect(table).to_contain_text("10, barefoot")
    page.locator("#cast-description textarea, #cast-description input").first.fill("40s, red scarf")
    page.locator("#save-cast").click()
    expect(page.locator("#cast-status")).to_contain_text("Saved Mara")
    expect(table).to_contain_text("40s, red scarf")

    # Her reference picture: uploaded in the Cast tab, shown there, drawn in her shots.
    picture = tmp_path / "mara.png"
    Image.new("RGB", (480, 640), (190, 40, 40)).save(picture)
    page.locator("#cast-reference input[type=file]").set_input_files(str(picture))
    expect(page.locator("#cast-status")).to_contain_text("Mara has a reference picture now")
    expect(page.locator("#cast-reference img")).to_have_count(1)

    # The consistency report: Mara's two shots side by side, once they have previews.
    expect(page.locator("#cast-missing")).to_contain_text("No preview yet: shot 1, 3")
    page.get_by_role("tab", name="Storyboard").click()
    page.locator("#preview-all").click()
    expect(page.locator("#storyboard-status")).to_contain_text("3 succeeded", timeout=60_000)
    page.get_by_role("tab", name="Cast").click()
    expect(page.locator("#cast-looks img")).to_have_count(2)
    expect(page.locator("#cast-missing")).to_have_text("")
    page.screenshot(path=str(tmp_path / "cast.png"), full_page=True)

    page.get_by_role("tab", name="Render queue").click()
    page.locator("#render-all").click()
    expect(page.locator("#queue-table tr[data-status='succeeded']")).to_have_count(
        6, timeout=90_000
    )  # 3 previews + 3 clips

    with Studio.local(server.data_dir, start_worker=False) as studio:
        takes = studio.jobs(kinds=["clip"])
        by_shot = {t.shot_id: t.params["request"]["prompt"] for t in takes}
        mara = {s.id for s in studio.shots(1) if "MARA" in s.characters}
        previews = {j.shot_id: j for j in studio.jobs(kinds=["preview"])}
        reference = studio.cast_member(1).reference_artifact_id
        digest = studio.artifact(reference).sha256 if reference else None
    assert len(mara) == 2
    for shot_id, prompt in by_shot.items():
        assert ("Mara (40s, red scarf)" in prompt) == (shot_id in mara), prompt
    for shot_id, job in previews.items():
        digests = [r["digest"] for r in job.params.get("references", [])]
        assert digests == ([digest] if shot_id in mara else []), shot_id
