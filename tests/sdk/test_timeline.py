"""The timeline through the notebook API, local and remote (`Studio.connect`): trims and
transitions that the assembled film really has, versions of the cut, and the handoff to an
editing suite and back (OpenTimelineIO, FCPXML, EDL)."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path
from typing import Any

import opentimelineio as otio
import pytest

from studio.core.errors import Forbidden, InvalidInput
from studio.core.models import JobStatus
from studio.film.video import probe
from studio.surface import StudioAPI
from tests.sdk.conftest import Backend
from tests.sdk.test_sdk import SMALL, small_project

FPS = SMALL["fps"]  # 8: one frame is 0.125 s


def _rendered(sdk: StudioAPI, shots: int = 4) -> tuple[int, list[int]]:
    project, made = small_project(sdk, shots=shots, duration=1.0)
    jobs = sdk.render(project.id, wait=True, progress=False)
    assert all(j.status == JobStatus.succeeded.value for j in jobs), [j.error for j in jobs]
    return project.id, [s.id for s in made]


def _film_frames(sdk: StudioAPI, project_id: int) -> tuple[int, str]:
    film = sdk.assemble(project_id, wait=True, progress=False)
    assert film.status == JobStatus.succeeded.value, film.error
    assert film.artifact_id is not None
    method = sdk.artifact(film.artifact_id).provenance["assembly"]["method"]
    return probe(sdk.artifact_path(film.artifact_id)).frames, method


def test_a_trimmed_film_is_as_long_as_its_trims_less_its_dissolves(sdk: StudioAPI) -> None:
    project, shots = _rendered(sdk)
    take_frames = FPS  # each take: 1 s
    timeline = sdk.edit_timeline(
        project,
        [
            {"shot_id": shots[0], "trim_in": 0.25},  # 2 frames off the head
            {"shot_id": shots[1], "trim_out": 0.75, "transition": "dissolve",
             "transition_seconds": 0.25},  # 2 off the tail, then a 2-frame overlap
        ],
    )  # fmt: skip
    assert [c.trim_in for c in timeline.clips] == [0.25, 0, 0, 0]
    assert timeline.clips[1].trim_out == 0.75 and timeline.clips[1].transition == "dissolve"
    expected = (take_frames - 2) + (take_frames - 2) + take_frames + take_frames - 2
    assert timeline.seconds == pytest.approx(expected / FPS)
    assert timeline.clips[2].start == pytest.approx(timeline.clips[1].end - 0.25)
    frames, method = _film_frames(sdk, project)
    assert frames == expected
    assert method == "mixed"  # the last shot, whole and cut to, is copied as it is
    # Back to whole takes: the film is all the takes, copied.
    sdk.edit_timeline(
        project,
        [
            {"shot_id": shots[0], "trim_in": 0},
            {"shot_id": shots[1], "trim_out": "end", "transition": "cut"},
        ],
    )
    assert _film_frames(sdk, project) == (4 * take_frames, "remux")


def test_bad_edits_are_refused_whole_with_the_shots_number(sdk: StudioAPI) -> None:
    project, shots = _rendered(sdk, shots=2)
    before = sdk.timeline(project)
    refusals: list[tuple[list[dict[str, Any]], str]] = [
        ([{"shot_id": shots[0], "trim_in": 0.5}, {"shot_id": shots[1], "trim_out": 9}],
         "Shot 2: the take is only 1 s long"),
        ([{"shot_id": shots[0], "trim_in": 0.6, "trim_out": 0.4}], "must come after"),
        ([{"shot_id": shots[1], "transition": "dissolve"}], "nothing to dissolve into"),
        ([{"shot_id": shots[0], "transition": "dissolve", "transition_seconds": 2}],
         "too short for its transitions"),
        ([{"shot_id": shots[0], "transition": "wipe"}], "Unknown transition"),
    ]  # fmt: skip
    for clips, message in refusals:
        with pytest.raises(InvalidInput, match=message):
            sdk.edit_timeline(project, clips)
    with pytest.raises(InvalidInput, match="every shot"):
        sdk.edit_timeline(project, order=[shots[0]])
    assert sdk.timeline(project) == before  # nothing half-written


def test_every_assembled_cut_is_kept_and_the_creator_can_go_back(sdk: StudioAPI) -> None:
    project, shots = _rendered(sdk, shots=3)
    first = sdk.assemble(project, wait=True, progress=False)
    sdk.edit_timeline(
        project,
        [{"shot_id": shots[2], "trim_in": 0.5, "transition": "fade", "transition_seconds": 0.25}],
        order=[shots[2], shots[0], shots[1]],
    )
    second = sdk.assemble(project, wait=True, progress=False)
    cuts = sdk.cuts(project)
    assert [c.job_id for c in cuts] == [second.id, first.id]
    assert [c["shot_id"] for c in cuts[0].clips] == [shots[2], shots[0], shots[1]]
    assert cuts[0].clips[0]["trim_in"] == 0.5 and cuts[0].clips[0]["transition"] == "fade"
    assert [c["shot_id"] for c in cuts[1].clips] == shots
    assert cuts[0].seconds == pytest.approx(2.5)  # 0.5 + 1 + 1; a fade keeps the length
    restored = sdk.restore_cut(project, first.id)
    assert [c.shot_id for c in restored.clips] == shots
    assert all(c.trim_in == 0 and c.transition == "cut" for c in restored.clips)
    again = sdk.restore_cut(project, second.id)
    assert [c.shot_id for c in again.clips] == [shots[2], shots[0], shots[1]]
    assert again.clips[0].trim_in == 0.5


def _otio_of(sdk: StudioAPI, artifact_id: int) -> tuple[otio.schema.Timeline, zipfile.ZipFile]:
    bundle = zipfile.ZipFile(io.BytesIO(sdk.artifact_path(artifact_id).read_bytes()))
    (name,) = [n for n in bundle.namelist() if n.endswith(".otio")]
    return otio.adapters.read_from_string(bundle.read(name).decode(), "otio_json"), bundle


def test_a_cut_goes_to_an_editor_and_comes_back_as_edited(sdk: StudioAPI) -> None:
    project, shots = _rendered(sdk, shots=3)
    sdk.edit_timeline(
        project,
        [{"shot_id": shots[0], "trim_in": 0.25, "transition": "dissolve",
          "transition_seconds": 0.25}],
    )  # fmt: skip
    (take,) = sdk.takes(shots[1])
    sdk.comment(project, "Hold this longer", job_id=take.id, seconds=0.5)
    exported = sdk.export_cut(project)
    assert exported.content_type == "application/zip"
    timeline, bundle = _otio_of(sdk, exported.id)
    names = bundle.namelist()
    assert any(n.endswith(".fcpxml") for n in names) and any(n.endswith(".edl") for n in names)
    clips = list(timeline.video_tracks()[0].find_clips())
    assert [c.metadata["studio"]["shot_id"] for c in clips] == shots
    for clip in clips:
        assert clip.media_reference.target_url in names  # media/… beside the .otio
        studio = clip.metadata["studio"]
        assert studio["pipeline"] and studio["prompt"] and studio["seed"] is not None
    assert [m.name for m in clips[1].markers] == ["Hold this longer"]
    # The film's length is the cut's: 0.75 + 1 + 1 − 0.25 s of dissolve.
    assert timeline.duration().to_seconds() == pytest.approx(2.5)

    # An editor swaps the last two shots and trims the new second one's head by 2 frames
    # (the dissolve into it reaches 1 frame before its in-point: its handle).
    track = timeline.video_tracks()[0]
    second, third = clips[1], clips[2]
    track.remove(third)
    track.insert(track.index(second), third)
    rate = third.source_range.start_time.rate
    two = otio.opentime.RationalTime(2, rate)
    third.source_range = otio.opentime.TimeRange(two, third.source_range.duration - two)
    edited = otio.adapters.write_to_string(timeline, "otio_json").encode()
    back = sdk.import_cut(project, edited, "edited.otio")
    assert [c.shot_id for c in back.clips] == [shots[0], shots[2], shots[1]]
    assert back.clips[0].trim_in == pytest.approx(0.25)
    assert back.clips[0].transition == "dissolve"
    assert back.clips[0].transition_seconds == pytest.approx(0.25)
    assert back.clips[1].trim_in == pytest.approx(0.125)  # 2 frames less its 1-frame handle
    # Shot 2 keeps the source range the editor saw (it began after the dissolve's handle).
    assert back.clips[2].trim_in == pytest.approx(0.125) and back.clips[2].trim_out is None
    assert back.notes == []
    assert sdk.timeline(project) == back.model_copy(update={"notes": []})


def test_foreign_clips_are_reported_and_bad_files_change_nothing(sdk: StudioAPI) -> None:
    project, shots = _rendered(sdk, shots=2)
    timeline, _bundle = _otio_of(sdk, sdk.export_cut(project).id)
    track = timeline.video_tracks()[0]
    stranger = otio.schema.Clip(
        name="B-roll from the archive",
        media_reference=otio.schema.ExternalReference(target_url="archive/harbour.mov"),
        source_range=otio.opentime.TimeRange(
            otio.opentime.RationalTime(0, FPS), otio.opentime.RationalTime(FPS, FPS)
        ),
    )
    track.append(stranger)
    back = sdk.import_cut(
        project, otio.adapters.write_to_string(timeline, "otio_json").encode(), "cut.otio"
    )
    assert [c.shot_id for c in back.clips] == shots
    assert any("B-roll from the archive" in note and "not a take" in note for note in back.notes)
    before = sdk.timeline(project)
    for data, name, message in (
        (b"this is not a timeline", "cut.otio", "could not be read as otio"),
        (b"{}", "cut.otio", "not an OpenTimelineIO timeline"),
        (b"\x00\x01", "cut.fcpxml", "could not be read as fcpxml"),
        (b"TITLE: nothing", "cut.mov", "not a cut file"),
        (b"TITLE: nothing\n", "cut.edl", "no video track"),
    ):
        with pytest.raises(InvalidInput, match=message):
            sdk.import_cut(project, data, name)
    assert sdk.timeline(project) == before


def test_a_viewer_sees_the_timeline_but_cannot_edit_it(sdk: StudioAPI, backend: Backend) -> None:
    project, shots = _rendered(sdk, shots=2)
    sdk.share_project(project, "carol", "viewer")
    carol = backend.connect("carol")
    assert [c.shot_id for c in carol.timeline(project).clips] == shots
    with pytest.raises(Forbidden):
        carol.edit_timeline(project, [{"shot_id": shots[0], "trim_in": 0.25}])
    exported = carol.export_cut(project)  # a viewer may hand the cut to an editor
    assert Path(carol.artifact_path(exported.id)).stat().st_size > 0
    note = carol.comment(project, "Lovely light", seconds=1.5)
    assert [c.id for c in sdk.comments(project)] == [note.id]
