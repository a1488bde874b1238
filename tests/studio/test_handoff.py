"""Handing a cut to an editing suite (OpenTimelineIO, FCPXML, EDL) and reading it back."""

from __future__ import annotations

import itertools
import re
import wave
import zipfile
from fractions import Fraction
from pathlib import Path

import numpy as np
import opentimelineio as otio
import pytest

from studio.film.handoff import (
    Cut,
    CutAudio,
    CutClip,
    CutMarker,
    HandoffError,
    read_cut,
    to_timeline,
    write_bundle,
)
from studio.film.video import encode_video

FPS = Fraction(24)
RT = otio.opentime.RationalTime
TR = otio.opentime.TimeRange
PROVENANCE = ("shot_id", "job_id", "prompt", "seed", "pipeline", "model_revision")


def _take(path: Path, frames: int, shade: int, fps: int = 24) -> Path:
    frame = np.full((32, 32, 3), shade, np.uint8)
    encode_video(itertools.repeat(frame, frames), path, fps)
    return path


def _silence(path: Path, seconds: float) -> Path:
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(8000)
        out.writeframes(b"\0\0" * int(8000 * seconds))
    return path


def _meta(shot: int, job: int) -> dict[str, object]:
    return {
        "shot_id": shot,
        "job_id": job,
        "prompt": f"shot {shot}, a lighthouse at dusk",
        "seed": 1000 + shot,
        "pipeline": "draft",
        "model_revision": "rev-abc",
    }


@pytest.fixture(scope="module")
def cut(tmp_path_factory: pytest.TempPathFactory) -> Cut:
    folder = tmp_path_factory.mktemp("takes")
    takes = [_take(folder / f"t{i}.mp4", n, 60 * i) for i, n in enumerate((24, 48, 36, 24))]
    music, line = _silence(folder / "music.wav", 5), _silence(folder / "line.wav", 1)

    def clip(
        shot: int, take: int, trims: tuple[float, float | None], how: str = "cut", d: float = 0.0
    ) -> CutClip:
        job = 20 + take
        return CutClip(
            name=f"Shot {shot} · take #{job}",
            media=takes[take],
            media_name=f"shot-0{take + 1}-take-{job}.mp4",
            rate=FPS,
            frames=(24, 48, 36, 24)[take],
            trim_in=trims[0],
            trim_out=trims[1],
            transition=how,
            transition_seconds=d,
            metadata=_meta(shot, job),
            markers=[CutMarker(0.5, "lovely light", "ana")] if shot == 1 and trims[0] == 0 else (),
        )

    return Cut(
        name="The Lighthouse — cut 2",
        rate=FPS,
        title_seconds=1.0,
        clips=[
            clip(1, 0, (0.0, 1.0), "dissolve", 0.5),
            clip(2, 1, (0.25, 1.75), "fade", 0.25),
            clip(3, 2, (0.5, None)),
            clip(4, 3, (0.0, 1.0)),
            clip(1, 0, (0.25, 0.75), "fade", 0.5),  # the first take again; fades the film out
        ],
        audio=[
            CutAudio("music", "Theme", music, "theme.wav", start=0.0, seconds=4.0),
            CutAudio("dialogue", "Keeper: Who's there?", line, "line-1.wav", 1.5, 0.75),
            CutAudio("dialogue", "Keeper: Only the sea.", line, "line-2.wav", 3.0, 0.5, 0.25),
        ],
        markers=[CutMarker(2.0, "tighten here", "bo", 0.5)],
        metadata={"project_id": 7, "film_job_id": 99},
    )


def _frames(time: object) -> float:
    assert isinstance(time, RT)
    return float(time.rescaled_to(24).value)


def _span(item: object) -> tuple[float, float]:
    assert isinstance(item, otio.schema.Clip)
    return _frames(item.source_range.start_time), _frames(item.source_range.end_time_exclusive())


def test_exported_otio_has_clips_trims_transitions_audio_metadata_and_markers(cut: Cut) -> None:
    text = otio.adapters.write_to_string(to_timeline(cut), "otio_json")
    timeline = otio.adapters.read_from_string(text, "otio_json")
    assert timeline.name == cut.name
    assert timeline.metadata["studio"]["project_id"] == 7
    video, *audio = timeline.tracks
    assert (video.name, video.kind) == ("Video", otio.schema.TrackKind.Video)
    kinds = [type(item).__name__ for item in video]
    assert kinds == [
        "Gap", "Clip", "Transition", "Clip", "Transition", "Clip", "Clip", "Clip", "Transition",
    ]  # fmt: skip
    title = video[0]
    assert title.name == "Title" and title.duration().to_seconds() == 1.0
    clips = list(video.find_clips())
    assert [c.name for c in clips] == [c.name for c in cut.clips]
    # the dissolve's halves come off the clips' ends; fades leave the ranges alone
    assert [_span(c) for c in clips] == [(0, 18), (12, 42), (12, 36), (0, 24), (6, 18)]
    dissolve, fade, fade_out = video[2], video[4], video[8]
    assert dissolve.transition_type == otio.schema.TransitionTypes.SMPTE_Dissolve
    assert (_frames(dissolve.in_offset), _frames(dissolve.out_offset)) == (6, 6)
    assert fade.metadata["studio"]["kind"] == "fade"
    assert (_frames(fade.in_offset), _frames(fade.out_offset)) == (6, 6)
    assert (_frames(fade_out.in_offset), _frames(fade_out.out_offset)) == (12, 0)
    # record times are the studio film's: Σ trims − dissolves + title
    film = cut.title_seconds + sum(
        (c.trim_out if c.trim_out is not None else c.frames / 24) - c.trim_in for c in cut.clips
    )
    assert timeline.duration().to_seconds() == pytest.approx(film - 0.5) == 5.5
    assert video.range_of_child_at_index(3).start_time.to_seconds() == 1.75  # B after A's 0.75
    for clip, spec in zip(clips, cut.clips, strict=True):
        assert {k: clip.metadata["studio"][k] for k in PROVENANCE} == dict(spec.metadata)
        reference = clip.media_reference
        assert reference.target_url == f"media/{spec.media_name}"
        assert _frames(reference.available_range.duration) == spec.frames
    (marker,) = clips[0].markers
    assert (marker.name, marker.metadata["studio"]["author"]) == ("lovely light", "ana")
    assert marker.marked_range.start_time.to_seconds() == 0.5  # take time
    (comment,) = video.markers
    assert comment.name == "tighten here" and comment.marked_range.start_time.to_seconds() == 2.0
    assert comment.marked_range.duration.to_seconds() == 0.5
    assert [t.name for t in audio] == ["Dialogue", "Music"]
    assert {t.kind for t in audio} == {otio.schema.TrackKind.Audio}
    placed = {
        item.name: (t.range_of_child(item).start_time.to_seconds(), item.duration().to_seconds())
        for t in audio
        for item in t.find_clips()
    }
    assert {name: (round(s, 6), round(d, 6)) for name, (s, d) in placed.items()} == {
        "Theme": (0.0, 4.0),
        "Keeper: Who's there?": (1.5, 0.75),
        "Keeper: Only the sea.": (3.0, 0.5),
    }
    line = audio[0].find_clips()[0]
    assert line.media_reference.target_url == "media/line-1.wav"


def test_bundle_holds_the_files_and_media_resolve_from_the_unzipped_folder(
    cut: Cut, tmp_path: Path
) -> None:
    path = write_bundle(cut, tmp_path / "out" / "handoff.zip")
    assert path == tmp_path / "out" / "handoff.zip"
    assert [p.name for p in path.parent.iterdir()] == ["handoff.zip"]  # no temp file left
    with zipfile.ZipFile(path) as bundle:
        names = bundle.namelist()
        bundle.extractall(tmp_path / "unzipped")
    slug = "the-lighthouse-cut-2"
    media = {
        "media/shot-01-take-20.mp4", "media/shot-02-take-21.mp4", "media/shot-03-take-22.mp4",
        "media/shot-04-take-23.mp4", "media/theme.wav", "media/line-1.wav", "media/line-2.wav",
    }  # fmt: skip
    assert sorted(names) == sorted({f"{slug}.otio", f"{slug}.fcpxml", f"{slug}.edl"} | media)
    folder = tmp_path / "unzipped"
    assert (folder / "media/shot-01-take-20.mp4").read_bytes() == cut.clips[0].media.read_bytes()
    timeline = otio.adapters.read_from_file(str(folder / f"{slug}.otio"))
    urls = [c.media_reference.target_url for c in timeline.find_clips()]
    assert len(urls) == 8 and all((folder / url).is_file() for url in urls)
    sources = re.findall(r'src="([^"]+)"', (folder / f"{slug}.fcpxml").read_text())
    assert len(sources) == 7 and all((folder / src).is_file() for src in sources)
    edl = (folder / f"{slug}.edl").read_text()
    files = re.findall(r"^\* (?:FROM|TO) CLIP: (\S+)$", edl, re.M)
    assert files and all((folder / f).is_file() for f in files)


def _handles(track: object, clip: object) -> float:
    """Frames of the clip's media a dissolve shows besides its range (both ends)."""
    assert isinstance(track, otio.schema.Track)
    head, tail = track.handles_of_child(clip)
    index = track.index(clip)
    dissolves = [
        track[i]
        for i in (index - 1, index + 1)
        if 0 <= i < len(track) and isinstance(track[i], otio.schema.Transition)
    ]
    if not any(t.transition_type == otio.schema.TransitionTypes.SMPTE_Dissolve for t in dissolves):
        return 0.0
    return (_frames(head) if head else 0.0) + (_frames(tail) if tail else 0.0)


def test_fcpxml_and_edl_read_back_through_the_adapters(cut: Cut, tmp_path: Path) -> None:
    path = write_bundle(cut, tmp_path / "b.zip")
    with zipfile.ZipFile(path) as bundle:
        fcpxml = bundle.read("the-lighthouse-cut-2.fcpxml").decode()
        edl = bundle.read("the-lighthouse-cut-2.edl").decode()
    original = to_timeline(cut).tracks[0]
    ours = [
        (c.media_reference.target_url, original.range_of_child(c)) for c in original.find_clips()
    ]

    # FCPXML: no transitions, so the same clips cut at OTIO's cut points, same record times
    timeline = otio.adapters.read_from_string(fcpxml, "fcpx_xml")
    video = next(t for t in timeline.tracks if t.kind == otio.schema.TrackKind.Video)
    theirs = [(c.media_reference.target_url, video.range_of_child(c)) for c in video.find_clips()]
    assert [url for url, _ in theirs] == [url for url, _ in ours]
    for (_, mine), (_, read) in zip(ours, theirs, strict=True):
        assert abs(_frames(read.start_time) - _frames(mine.start_time)) <= 1
        assert abs(_frames(read.duration) - _frames(mine.duration)) <= 1
    audio = [t for t in timeline.tracks if t.kind == otio.schema.TrackKind.Audio]
    names = sorted(a.name.replace("'", "’") for a in cut.audio)  # XPath-safe in the adapter
    assert sorted(c.name for t in audio for c in t.find_clips()) == names
    imported = read_cut(fcpxml, "edited.fcpxml")
    assert [(c.job_id, c.shot_id) for c in imported.clips] == [
        (20, 1),
        (21, 2),
        (22, 3),
        (23, 4),
        (20, 1),
    ]

    # EDL: clips named after their media, the dissolve kept (in the EDL's own convention)
    timeline = otio.adapters.read_from_string(edl, "cmx_3600", rate=24)
    (video,) = timeline.video_tracks()
    clips = list(video.find_clips())
    assert [c.name for c in clips] == [c.media_name for c in cut.clips]
    for clip, spec in zip(clips, cut.clips, strict=True):
        used = _frames(clip.duration()) + _handles(video, clip)
        end = spec.trim_out if spec.trim_out is not None else spec.frames / 24
        assert abs(used - (end - spec.trim_in) * 24) <= 1
    (dissolve,) = [t for t in video if isinstance(t, otio.schema.Transition)]
    assert _frames(dissolve.in_offset) + _frames(dissolve.out_offset) == 12
    back = read_cut(edl.encode(), "edited.edl", rate=FPS)
    assert [c.media_name for c in back.clips] == [c.media_name for c in cut.clips]
    assert [c.transition for c in back.clips] == ["dissolve", "cut", "cut", "cut", "cut"]
    assert (back.clips[0].trim_out, back.clips[1].trim_in) == (1.0, 0.25)
    assert {c.job_id for c in back.clips} == {None}  # an EDL carries no studio metadata


def _exact(cut: Cut) -> list[tuple[object, ...]]:
    return [
        (
            c.name,
            c.metadata["job_id"],
            c.metadata["shot_id"],
            c.media_name,
            round(c.trim_in * 24),
            round((c.trim_out or c.frames / 24) * 24),
            c.transition,
            round(c.transition_seconds * 24),
        )
        for c in cut.clips
    ]


def test_unchanged_otio_reads_back_exactly(cut: Cut) -> None:
    text = otio.adapters.write_to_string(to_timeline(cut), "otio_json")
    imported = read_cut(text.encode(), "cut.otio")
    got = [
        (
            c.name,
            c.job_id,
            c.shot_id,
            c.media_name,
            round(c.trim_in * 24),
            round(c.trim_out * 24),
            c.transition,
            round(c.transition_seconds * 24),
        )
        for c in imported.clips
    ]
    assert got == _exact(cut)
    assert imported.warnings == ("audio tracks are not imported",)


def test_an_editors_changes_come_back_as_those_edits(cut: Cut) -> None:
    timeline = otio.adapters.read_from_string(
        otio.adapters.write_to_string(to_timeline(cut), "otio_json"), "otio_json"
    )
    video = timeline.tracks[0]
    title, a, dissolve, b, fade, c, _deleted, e, fade_out = list(video)
    # the dissolve is halved (the cut point stays), shot 3 loses its last 6 frames, shot 4 is
    # deleted, shot 3 and the second shot 1 swap places
    dissolve.in_offset = dissolve.out_offset = RT(3, 24)
    c.source_range = TR(c.source_range.start_time, RT(18, 24))
    video.clear()
    for item in (title, a, dissolve, b, fade, e, c, fade_out):
        video.append(item)
    imported = read_cut(otio.adapters.write_to_string(timeline, "otio_json"), "edited.otio")
    got = [
        (x.shot_id, x.trim_in, x.trim_out, x.transition, x.transition_seconds)
        for x in imported.clips
    ]
    assert got == [
        (1, 0.0, 0.875, "dissolve", 0.25),
        (2, 0.375, 1.75, "fade", 0.25),
        (1, 0.25, 0.75, "cut", 0.0),
        (3, 0.5, 1.25, "fade", 0.5),
    ]


def test_odd_dissolves_split_into_whole_frames_and_a_last_dissolve_is_a_cut(cut: Cut) -> None:
    a, b = cut.clips[0], cut.clips[3]
    odd = Cut("odd", FPS, [
        CutClip(a.name, a.media, a.media_name, FPS, 24, 0, 1, "dissolve", 0.375),
        CutClip(b.name, b.media, b.media_name, FPS, 24, 0.125, 1, "dissolve", 0.5),
    ])  # fmt: skip
    timeline = to_timeline(odd)
    transition = timeline.tracks[0][1]
    assert (_frames(transition.in_offset), _frames(transition.out_offset)) == (4, 5)
    assert len(timeline.tracks[0]) == 3  # nothing after the last clip
    assert timeline.duration().to_seconds() == 2 - 0.125 - 0.375
    back = read_cut(otio.adapters.write_to_string(timeline, "otio_json"), "odd.otio")
    assert [(c.trim_in, c.trim_out, c.transition, c.transition_seconds) for c in back.clips] == [
        (0.0, 1.0, "dissolve", 0.375),
        (0.125, 1.0, "cut", 0.0),
    ]


def test_rates_smpte_timecode_lacks(tmp_path: Path) -> None:
    takes = [_take(tmp_path / f"e{i}.mp4", 16, 50 * i, fps=8) for i in range(2)]
    rate = Fraction(8)
    eight = Cut("eight", rate, [
        CutClip("A", takes[0], "a.mp4", rate, 16, 0.25, 2, "dissolve", 0.5, {"job_id": 1}),
        CutClip("B", takes[1], "b.mp4", rate, 16, 0.125, 1.5, metadata={"job_id": 2}),
    ])  # fmt: skip
    with zipfile.ZipFile(write_bundle(eight, tmp_path / "eight.zip")) as bundle:
        edl, fcpxml = bundle.read("eight.edl").decode(), bundle.read("eight.fcpxml").decode()
    assert "00:00:00:06 00:00:01:12" in edl  # A at 24 fps timecode: 0.25 s to the dissolve, 1.5 s
    assert 'frameDuration="25/600s"' in fcpxml  # FCPXML at 24 fps, a multiple of 8
    back = read_cut(edl, "eight.edl", rate=rate)
    assert [(c.trim_in, c.trim_out, c.transition) for c in back.clips] == [
        (0.25, 2.0, "dissolve"),
        (0.125, 1.5, "cut"),
    ]
    cuts = read_cut(fcpxml, "eight.fcpxml").clips  # no transitions in FCPXML: cut points
    assert [(c.job_id, c.trim_in, c.trim_out) for c in cuts] == [(1, 0.25, 1.75), (2, 0.375, 1.5)]


def _timeline(*tracks: otio.schema.Track) -> str:
    timeline = otio.schema.Timeline(name="t")
    for track in tracks:
        timeline.tracks.append(track)
    return str(otio.adapters.write_to_string(timeline, "otio_json"))


def test_bad_inputs_say_what_is_wrong(cut: Cut, tmp_path: Path) -> None:
    with pytest.raises(HandoffError, match=r"cut.otio could not be read as otio: 'utf-8' codec"):
        read_cut(b"\x89PNG\r\n\x1a\n not a timeline", "cut.otio")
    with pytest.raises(HandoffError, match=r"could not be read as otio: JSON parse error"):
        read_cut("OTIO? no.", "cut.otio")
    with pytest.raises(HandoffError, match="not an OpenTimelineIO timeline"):
        read_cut('{"name": "a dict"}', "cut.otio")
    with pytest.raises(HandoffError, match="not an OpenTimelineIO timeline"):
        read_cut(otio.adapters.write_to_string(otio.schema.Clip(name="x"), "otio_json"), "c.otio")
    sound = otio.schema.Track(name="A1", kind=otio.schema.TrackKind.Audio)
    with pytest.raises(HandoffError, match="has no video track"):
        read_cut(_timeline(sound), "cut.otio")
    with pytest.raises(HandoffError, match="has no clips"):
        read_cut(_timeline(otio.schema.Track(name="V1")), "cut.otio")
    rangeless = otio.schema.Track(name="V1")
    rangeless.append(otio.schema.Clip(name="loose"))
    with pytest.raises(HandoffError, match="clip 'loose' has no source range"):
        read_cut(_timeline(rangeless), "cut.otio")
    with pytest.raises(HandoffError, match="not a cut file"):
        read_cut(b"\x00\xff", "cut.mov")
    with pytest.raises(HandoffError, match="could not be read as fcpxml"):
        read_cut("<fcpxml><broken", "cut.fcpxml")
    with pytest.raises(HandoffError, match="unknown format"):
        write_bundle(cut, tmp_path / "x.zip", formats=("otio", "aaf"))
    missing = Cut("m", FPS, [CutClip("gone", tmp_path / "gone.mp4", "gone.mp4", FPS, 24)])
    with pytest.raises(HandoffError, match="is missing"):
        write_bundle(missing, tmp_path / "x.zip")
    assert list(tmp_path.iterdir()) == []  # nothing written, no temporary file left


def test_foreign_clips_gaps_and_odd_transitions_are_kept_or_reported(cut: Cut) -> None:
    timeline = otio.adapters.read_from_string(
        otio.adapters.write_to_string(to_timeline(cut), "otio_json"), "otio_json"
    )
    video = timeline.tracks[0]
    broll = otio.schema.Clip(
        name="sunset (B-roll)",
        media_reference=otio.schema.ExternalReference(target_url="file:///Volumes/B/sunset.mov"),
        source_range=TR(RT(48, 24), RT(24, 24)),
    )
    video.insert(6, otio.schema.Gap(source_range=TR(RT(0, 24), RT(12, 24))))
    video.insert(7, broll)
    video.insert(8, otio.schema.Transition(name="Iris", transition_type="SMPTE_Wipe"))
    timeline.tracks.insert(1, otio.schema.Track(name="V2"))
    imported = read_cut(otio.adapters.write_to_string(timeline, "otio_json"), "edited.otio")
    names = [c.name for c in imported.clips]
    assert names == [
        *(c.name for c in cut.clips[:3]),
        "sunset (B-roll)",
        *(c.name for c in cut.clips[3:]),
    ]
    foreign = imported.clips[3]
    assert (foreign.job_id, foreign.shot_id, foreign.media_name) == (None, None, "sunset.mov")
    assert (foreign.trim_in, foreign.trim_out, foreign.transition) == (2.0, 3.0, "cut")
    assert imported.warnings == (
        "track 'V2' ignored",
        "audio tracks are not imported",
        "gap of 0.5 s at 00:00:04 ignored",
        "transition 'Iris' at 00:00:05 is not one the studio makes: a cut there",
    )
