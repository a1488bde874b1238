"""The Storyboard tab's cards, as their handlers serve a creator: a card's prompt, duration,
camera move and seed saved where they are, a value the studio refuses refused with its
message (nothing saved), a regenerated preview with a new seed and a new picture, a clip
rendered from its card; what the cards show, and who may change them."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import gradio as gr
import pytest

from pipelines.requests import CAMERA_MOVES
from studio import Studio
from studio.core.models import JobStatus
from studio.ui import build_ui
from tests.studio.test_ui_accounts import UI, as_, output

PASSWORD = "correct-horse-7"
SCRIPT = """INT. HARBOUR OFFICE - NIGHT

A lamp swings over the charts.

EXT. PIER - NIGHT

The ferry pulls away into the fog.
"""


@pytest.fixture
def studio(tmp_path: Path) -> Iterator[Studio]:
    with Studio.local(tmp_path / "data", auth=True, credits=True) as local:
        for name in ("alice", "bob"):
            local.create_user(name, PASSWORD)
            local.grant_credits(name, 100, "test")
        yield local


@pytest.fixture
def ui(studio: Studio) -> UI:
    return UI(build_ui(studio))


def _project(studio: Studio, previews: bool = True) -> tuple[int, list[int]]:
    alice = studio.as_user("alice")
    project = alice.create_project("Harbour", height=72, fps=8)
    shots = alice.breakdown(project.id, SCRIPT)
    if previews:
        alice.preview(project.id, wait=True, progress=False)
    return project.id, [s.id for s in shots]


def card(ui: UI, project_id: int, user: str, **sent: Any) -> list[Any]:
    """What the board's script sends when a card's button (or shortcut) is pressed."""
    return list(ui("storyboard_tab.on_card")(project_id, gr.EventData(None, sent), as_(user)))


def fields(studio: Studio, shot_id: int, **edits: Any) -> dict[str, Any]:
    """A card's fields as the browser sends them (strings), with some of them edited."""
    shot = studio.shot(shot_id)
    values = {
        "prompt": shot.prompt,
        "duration": f"{shot.duration:g}",
        "camera_move": shot.camera_move,
        "seed": str(shot.seed),
    }
    return {"shot": shot_id, **values, **edits}


def board(ui: UI, result: list[Any]) -> str:
    return str(output(ui, "storyboard_tab.on_card", result, "storyboard"))


def status(ui: UI, result: list[Any]) -> str:
    return str(output(ui, "storyboard_tab.on_card", result, "storyboard-status"))


def test_the_board_shows_a_card_per_shot_to_edit_in_place(ui: UI, studio: Studio) -> None:
    pid, shots = _project(studio)
    html, note, estimate = ui("storyboard_tab.on_preview_all")(pid, as_("alice"))
    assert note.startswith("Previews: 2 succeeded")
    assert html.count('class="sb-card"') == 2
    first = html[: html.index(f'data-shot="{shots[1]}"')]
    assert "Shot 1" in first and "INT. HARBOUR OFFICE - NIGHT" in first
    assert "harbour office, night, A lamp swings over the charts</textarea>" in first
    assert first.count("<img ") == 1 and "/files/" in first  # its preview by a signed link
    # The camera move is a choice of the renderer's moves, the shot's own selected.
    move = studio.shot(shots[0]).camera_move
    assert re.findall(r'<option value="([^"]+)"', first) == list(CAMERA_MOVES)
    assert f'<option value="{move}" selected>' in first
    for action in ("save", "regenerate", "render"):
        assert f'data-action="{action}"' in first
    assert "regenerates its preview" in html  # the shortcuts, under the board
    assert "Estimated cost" in estimate


def test_a_card_is_saved(ui: UI, studio: Studio) -> None:
    pid, shots = _project(studio)
    sent = fields(
        studio,
        shots[1],
        prompt="The ferry's <lights> vanish into the fog",
        duration="4.5",
        camera_move="dolly-out",
        seed="1234",
        action="save",
    )
    result = card(ui, pid, "alice", **sent)
    shot = studio.shot(shots[1])
    assert (shot.prompt, shot.duration, shot.camera_move, shot.seed) == (
        "The ferry's <lights> vanish into the fog",
        4.5,
        "dolly-out",
        1234,
    )
    assert status(ui, result) == "Shot 2: saved (prompt, duration, camera move, seed)."
    shown = board(ui, result)
    assert "The ferry&#x27;s &lt;lights&gt; vanish into the fog</textarea>" in shown
    assert 'name="duration" step="any" min="0" value="4.5"' in shown
    assert '<option value="dolly-out" selected>' in shown and 'value="1234"' in shown

    # Only what changed is saved: a prompt saved alone leaves the duration free to follow
    # the shot's spoken line (a duration the creator sets is pinned).
    first = fields(studio, shots[0], prompt="A lamp swings; the charts flutter", action="save")
    assert status(ui, card(ui, pid, "alice", **first)) == "Shot 1: saved (prompt)."
    assert studio.shot(shots[0]).duration_pinned is False
    assert studio.shot(shots[1]).duration_pinned is True
    again = card(ui, pid, "alice", **fields(studio, shots[0], action="save"))
    assert status(ui, again) == "Shot 1: nothing changed."


def test_a_value_the_studio_refuses_changes_nothing(ui: UI, studio: Studio) -> None:
    pid, shots = _project(studio)
    before = studio.shot(shots[0])
    refused = [
        ({"duration": "0"}, "Duration (s) must be > 0 and ≤"),
        ({"duration": ""}, "Duration (s) must be a number"),
        ({"seed": "-1"}, "Seed must be ≥ 0"),
        ({"camera_move": "barrel-roll"}, "Camera move must be one of static, pan-left"),
    ]
    for edit, message in refused:
        for action in ("save", "render"):
            sent = fields(studio, shots[0], prompt="Something else entirely", action=action)
            with pytest.raises(gr.Error, match=re.escape(message)):
                card(ui, pid, "alice", **{**sent, **edit})
    # The Script tab's editor says the same for the same value.
    with pytest.raises(gr.Error, match=re.escape("Duration (s) must be > 0 and ≤")):
        ui("script_tab.on_save_shot")(
            as_("alice"), pid, shots[0], 1, "x", "", 0, "medium", "static", 1, "", "", []
        )
    assert studio.shot(shots[0]) == before  # nothing saved
    assert studio.jobs(pid, kinds=["clip"]) == []  # nothing queued


def test_regenerate_gives_a_new_seed_and_a_new_picture(ui: UI, studio: Studio) -> None:
    pid, shots = _project(studio)
    before = studio.shot(shots[0])
    old_frame = studio.job(before.preview_job_id or 0).artifact_id
    edited = fields(studio, shots[0], prompt="A lamp swings over wet charts", seed="7")
    result = card(ui, pid, "alice", **edited, action="regenerate")
    after = studio.shot(shots[0])
    assert after.prompt == "A lamp swings over wet charts"  # the card's edits, saved first
    assert after.seed not in (before.seed, 7)  # a new random seed, not the typed one
    assert after.preview_job_id != before.preview_job_id
    job = studio.job(after.preview_job_id or 0)
    assert job.status == JobStatus.succeeded.value and job.params["request"]["seed"] == after.seed
    assert job.artifact_id is not None and job.artifact_id != old_frame
    assert status(ui, result).startswith(f"Shot 1: saved (prompt); new seed {after.seed}.")
    assert "Preview: 1 succeeded" in status(ui, result)
    shown = board(ui, result)
    assert f"/files/{job.artifact_id}/shot-1.png" in shown and f'value="{after.seed}"' in shown
    assert f"/files/{old_frame}/" not in shown

    # "Regenerate selected card" does the same for the card last focused.
    focused = gr.EventData(None, {"shot": shots[1]})
    selected = ui("storyboard_tab.on_select")(pid, focused, as_("alice"))
    assert selected == shots[1]
    seed = studio.shot(shots[1]).seed
    _board, note, _cost = ui("storyboard_tab.on_regenerate")(pid, selected, as_("alice"))
    assert studio.shot(shots[1]).seed != seed and note.startswith("Shot 2: new seed")


def test_render_queues_a_clip_from_its_card(ui: UI, studio: Studio) -> None:
    pid, shots = _project(studio, previews=False)
    balance = studio.as_user("alice").balance()
    sent = fields(studio, shots[1], duration="2", action="render")
    result = card(ui, pid, "alice", **sent)
    (clip,) = studio.jobs(pid, kinds=["clip"])
    assert clip.shot_id == shots[1] and clip.params["request"]["duration"] == 2.0
    assert status(ui, result) == (
        f"Shot 2: saved (duration); clip queued as job #{clip.id}: "
        "follow it on the Render queue tab."
    )
    assert studio.as_user("alice").balance() < balance  # paid for when queued
    done = studio.wait([clip], progress=False)[0]
    assert done.status == JobStatus.succeeded.value and done.artifact_id is not None


def test_only_those_who_may_change_the_shot_do(ui: UI, studio: Studio) -> None:
    pid, shots = _project(studio, previews=False)
    sent = fields(studio, shots[0], prompt="Bob was here", action="save")
    with pytest.raises(gr.Error, match=f"No project #{pid}"):
        card(ui, pid, "bob", **sent)
    # A card of another project's shot, sent with one's own project: refused too.
    bob_project = studio.as_user("bob").create_project("Snow").id
    with pytest.raises(gr.Error, match="no longer in this project"):
        card(ui, bob_project, "bob", **sent)
    studio.as_user("alice").share_project(pid, "bob", "viewer")
    with pytest.raises(gr.Error, match="You are a viewer of this project"):
        card(ui, pid, "bob", **sent)
    assert studio.shot(shots[0]).prompt != "Bob was here"
