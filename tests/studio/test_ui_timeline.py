"""The Film tab's timeline and the Review tab, as their handlers serve a creator and a team:
the strip shows the shots as long as they play, a trim and a drag change the film, a cut is
restored and exported, a viewer reviews and comments but cannot change the film."""

from __future__ import annotations

import io
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import gradio as gr
import opentimelineio as otio
import pytest

from studio import Studio
from studio.ui import build_ui
from tests.studio.test_ui_accounts import UI, as_, output

PASSWORD = "correct-horse-9"


@pytest.fixture
def studio(tmp_path: Path) -> Iterator[Studio]:
    with Studio.local(tmp_path / "data", auth=True) as local:
        for name in ("alice", "bob", "mallory"):
            local.create_user(name, PASSWORD)
            local.grant_credits(name, 100, "test")
        yield local


@pytest.fixture
def ui(studio: Studio) -> UI:
    return UI(build_ui(studio))


def _project(studio: Studio) -> tuple[int, list[int]]:
    alice = studio.as_user("alice")
    project = alice.create_project("Pier", height=72, fps=8)
    shots = [alice.add_shot(project.id, p, duration=1.0) for p in ("A pier", "A gull", "Fog")]
    alice.preview(project.id, wait=True, progress=False)
    alice.render(project.id, wait=True, progress=False)
    return project.id, [s.id for s in shots]


def _strip(result: list[Any]) -> str:
    return str(result[0])


def test_the_owner_trims_reorders_assembles_and_goes_back(ui: UI, studio: Studio) -> None:
    pid, shots = _project(studio)
    me = as_("alice")
    shown = ui("timeline_panel.on_pick")(pid, shots[1], me)
    strip = _strip(shown)
    assert strip.count('class="tl-clip') == 3 and "Film length 3.00 s" in strip
    assert f'data-shot="{shots[1]}"' in strip and "selected" in strip
    assert "/files/" in strip  # the preview frames as thumbnails, by signed links
    assert shown[2:6] == [0.0, 1.0, "cut", 0.5]  # in, out, transition, its length

    trimmed = ui("timeline_panel.on_apply")(pid, shots[1], 0.25, 0.75, "fade", 0.25, me)
    assert "the film is now 2.50 s" in trimmed[-1]
    assert "Film length 2.50 s" in _strip(trimmed) and "■" in _strip(trimmed)
    with pytest.raises(gr.Error, match="Shot 2: the take is only 1 s long"):
        ui("timeline_panel.on_apply")(pid, shots[1], 0, 3, "cut", 0, me)
    with pytest.raises(gr.Error) as unchosen:
        ui("timeline_panel.on_apply")(pid, None, 0, 1, "cut", 0, me)
    assert unchosen.value.message == "Choose a shot on the timeline first."  # not quoted twice

    # Dragging the last shot onto the first moves it there.
    dropped = ui("timeline_panel.on_drop")(
        pid, shots[1], gr.EventData(None, {"order": [shots[2], shots[0], shots[1]]}), me
    )
    assert [c.shot_id for c in studio.timeline(pid).clips] == [shots[2], shots[0], shots[1]]
    assert _strip(dropped).index(f'data-shot="{shots[2]}"') < _strip(dropped).index(
        f'data-shot="{shots[0]}"'
    )
    ui("timeline_panel.on_earlier")(pid, shots[1], me)
    assert [c.shot_id for c in studio.timeline(pid).clips] == [shots[2], shots[1], shots[0]]

    film = studio.as_user("alice").assemble(pid, wait=True, progress=False)
    refreshed = ui("timeline_panel.on_untrim")(pid, shots[1], me)
    cut_choices = output(ui, "timeline_panel.on_untrim", refreshed, "cuts").choices
    assert [value for _label, value in cut_choices] == [film.id]
    assert str(ui("timeline_panel.on_compare")(pid, film.id, me)).endswith(".mp4")

    restored = ui("timeline_panel.on_restore")(pid, film.id, me)
    assert f"Back to film #{film.id}'s cut" in restored[-1]
    back = studio.timeline(pid)
    assert [c.shot_id for c in back.clips] == [shots[2], shots[1], shots[0]]
    assert back.clips[1].trim_in == 0.25 and back.clips[1].transition == "fade"

    exported = ui("timeline_panel.on_export")(pid, film.id, me)
    names = zipfile.ZipFile(io.BytesIO(Path(exported).read_bytes())).namelist()
    assert any(n.endswith(".otio") for n in names)
    # The .otio, edited (the last two swapped), comes back as the timeline.
    bundle = zipfile.ZipFile(io.BytesIO(Path(exported).read_bytes()))
    (name,) = [n for n in names if n.endswith(".otio")]
    timeline = otio.adapters.read_from_string(bundle.read(name).decode(), "otio_json")
    track = timeline.video_tracks()[0]
    last = list(track.find_clips())[-1]
    track.remove(last)
    track.insert(0, last)
    edited = Path(exported).with_name("edited.otio")
    edited.write_text(otio.adapters.write_to_string(timeline, "otio_json"))
    imported = ui("timeline_panel.on_import")(pid, str(edited), me)
    assert "Edited cut imported" in imported[-1]
    assert [c.shot_id for c in studio.timeline(pid).clips] == [shots[0], shots[2], shots[1]]


def test_a_viewer_reviews_and_comments_but_cannot_change_the_film(ui: UI, studio: Studio) -> None:
    pid, shots = _project(studio)
    alice, bob = as_("alice"), as_("bob")
    shared = ui("review_tab.on_share")(pid, "bob", "viewer", False, alice)
    assert shared[1] == "Shared with bob as viewer." and "**bob**: viewer" in shared[0]
    with pytest.raises(gr.Error, match="No user named 'nobody'"):
        ui("review_tab.on_share")(pid, "nobody", "viewer", False, alice)

    shown = ui("review_tab.on_shot")(pid, shots[0], bob)
    (take,) = studio.as_user("alice").takes(shots[0])
    assert f'id="take-{take.id}"' in shown[1] and "in the film" in shown[1]
    approved = ui("review_tab.on_take_action")(
        pid, shots[0], gr.EventData(None, {"take": take.id, "action": "approved"}), bob
    )
    assert approved[-1] == f"Take #{take.id} approved." and "approved by bob" in approved[1]
    here = ui("review_tab.on_here")(gr.EventData(None, {"take": take.id, "at": 0.3712}), bob)
    assert here[1] == 0.37
    noted = ui("review_tab.on_comment")(pid, shots[0], take.id, 0.37, "Gull too small", bob)
    assert "**bob** on take #" in noted[3] and "at 0.37 s: Gull too small" in noted[3]
    assert noted[-1] == ""  # the comment box is emptied
    with pytest.raises(gr.Error, match="viewer"):
        ui("review_tab.on_take_action")(
            pid, shots[0], gr.EventData(None, {"take": take.id, "action": "use"}), bob
        )
    with pytest.raises(gr.Error, match="viewer"):
        ui("timeline_panel.on_apply")(pid, shots[0], 0.25, None, "cut", 0, bob)
    # The comment is a pin on the owner's timeline, the verdict a green border.
    strip = _strip(ui("timeline_panel.on_pick")(pid, shots[0], alice))
    assert 'class="tl-pin"' in strip and "Gull too small" in strip and "approved" in strip

    # Someone the project is not shared with reaches none of it.
    mallory = as_("mallory")
    for name, args in (
        ("timeline_panel.on_pick", (pid, shots[0], mallory)),
        ("timeline_panel.on_export", (pid, None, mallory)),
        ("review_tab.on_shot", (pid, shots[0], mallory)),
        ("review_tab.on_comment", (pid, shots[0], 0, None, "hello", mallory)),
        ("review_tab.on_share", (pid, "mallory", "editor", True, mallory)),
    ):
        with pytest.raises(gr.Error, match=f"No project #{pid}"):
            ui(name)(*args)
    ui("review_tab.on_unshare")(pid, "bob", alice)
    with pytest.raises(gr.Error, match=f"No project #{pid}"):
        ui("review_tab.on_shot")(pid, shots[0], bob)
