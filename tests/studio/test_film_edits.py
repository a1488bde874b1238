"""Trims and transitions: each film frame is the source frame the edits ask for, dissolves
blend, fades dip to black, untouched clips are copied packet for packet, and the sound and
subtitles follow the edited picture."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import av
import numpy as np
import pytest
from PIL import Image

from studio.film.assembly import AssemblyError, Edit, FilmResult, FilmSpec, SpokenLine, assemble
from studio.film.video import encode_video, read_frames

FPS = 12
FRAME = 1 / FPS
RATE = 48_000


def _picture(clip: int, index: int) -> np.ndarray:
    """Frame `index` of clip `clip`: 16-pixel blocks, light or dark, spell both numbers in
    binary (robust to H.264's losses, unlike a colour), the other blocks mid-grey."""
    bits = [(index >> b) & 1 for b in range(6)] + [(clip >> b) & 1 for b in range(3)]
    blocks = np.array([215.0 if bit else 40.0 for bit in bits] + [128.0] * 3).reshape(3, 4)
    return np.repeat(np.repeat(blocks, 16, axis=0), 16, axis=1)[:, :, None].repeat(3, axis=2)


def _clip(
    path: Path, clip: int, size: tuple[int, int] = (64, 48), fps: int = FPS, **options: str
) -> Path:
    """A 2 s studio take (encode_video) whose every frame says which clip and frame it is;
    with `options`, the same pictures from libx264 set up differently."""
    frames = [
        np.asarray(Image.fromarray(_picture(clip, i).astype(np.uint8)).resize(size))
        for i in range(2 * fps)
    ]
    if not options:
        encode_video(frames, path, fps)
        return path
    with av.open(str(path), "w", format="mp4") as container:
        stream = container.add_stream("libx264", rate=fps, options=options)
        stream.width, stream.height, stream.pix_fmt = size[0], size[1], "yuv420p"
        for index, frame in enumerate(frames):
            video_frame = av.VideoFrame.from_ndarray(frame, format="rgb24")
            video_frame.pts = index
            container.mux(stream.encode(video_frame))
        container.mux(stream.encode(None))
    return path


def _frames(path: Path) -> list[np.ndarray]:
    return [frame.astype(np.float64) for frame in read_frames(path)]


def _near(frame: np.ndarray, expected: np.ndarray) -> bool:
    """Within H.264's losses of `expected`; a neighbouring frame is off by 14 or more."""
    return float(np.abs(frame - expected).mean()) < 5


def _is(frame: np.ndarray, clip: int, index: int, level: float = 1.0) -> bool:
    return _near(frame, _picture(clip, index) * level)


def _black(frame: np.ndarray) -> bool:
    return float(frame.mean()) < 3


def _packets(path: Path) -> list[bytes]:
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        return [bytes(p) for p in container.demux(stream) if p.size > 0]


@pytest.fixture
def clips(tmp_path: Path) -> list[Path]:
    return [_clip(tmp_path / f"shot{i}.mp4", i) for i in range(5)]


# Five 2 s clips: trimmed, dissolved, faded, one untouched, the last fading the film out.
EDITS = [
    Edit(0.25, 1.5, "dissolve", 0.5),  # source frames 3..17, the last 6 blend into clip 2
    Edit(0.5, None, "fade", 0.25),  # 6..23, down to black over 3 frames …
    Edit(0.0, 1.0),  # 0..11, … and up from black over 3; cut
    Edit(),  # all 24, untouched: copied as it is
    Edit(1.0, transition="fade", transition_seconds=0.5),  # 12..23, the film fades out
]
# Where each clip's plain frames are in the film: (film frame, clip, first source frame, count)
PLAIN = [(0, 0, 3, 9), (15, 1, 12, 9), (30, 2, 3, 9), (39, 3, 0, 24), (63, 4, 12, 6)]


@pytest.mark.parametrize(("force", "method"), [(False, "mixed"), (True, "reencode")])
def test_each_film_frame_is_the_source_frame_the_edits_ask_for(
    tmp_path: Path, clips: list[Path], force: bool, method: str
) -> None:
    out = tmp_path / "film.mp4"
    result = assemble(FilmSpec(clips, out, edits=EDITS, force_reencode=force))
    assert result.method == method
    assert result.reencoded_clips == (4 if method == "mixed" else 5)
    frames = _frames(out)
    assert result.info.frames == len(frames) == 15 + 18 + 12 + 24 + 12 - 6
    assert result.info.duration == pytest.approx(len(frames) / FPS)
    for start, clip, first, count in PLAIN:
        for offset in range(count):
            assert _is(frames[start + offset], clip, first + offset), (start + offset, clip)
    # The dissolve: clip 1's last 6 frames blend into clip 2's first 6, a little more each.
    for j in range(6):
        weight = (j + 1) / 7
        blend = _picture(0, 12 + j) * (1 - weight) + _picture(1, 6 + j) * weight
        assert _near(frames[9 + j], blend), j
    # The fade between clips 2 and 3 reaches black at the cut, and comes back.
    levels = [2 / 3, 1 / 3, 0, 0, 1 / 3, 2 / 3]
    sources = [(1, 21), (1, 22), (1, 23), (2, 0), (2, 1), (2, 2)]
    for film, level, (clip, index) in zip(range(24, 30), levels, sources, strict=True):
        assert _is(frames[film], clip, index, level), film
    assert _black(frames[26]) and _black(frames[27])
    # The film fades out: it ends black.
    assert _is(frames[69], 4, 18, 5 / 6) and _black(frames[-1])


def test_a_dissolve_is_a_blend_of_both_pictures(tmp_path: Path, clips: list[Path]) -> None:
    edits = [Edit(transition="dissolve", transition_seconds=1.0), Edit()]
    result = assemble(FilmSpec(clips[:2], tmp_path / "film.mp4", edits=edits))
    assert result.method == "reencode"  # both clips are in the dissolve: nothing to copy
    frames = _frames(tmp_path / "film.mp4")
    assert len(frames) == 48 - 12
    middle = frames[12 + 5]  # clip 1's frame 17 half-way (6/13) into clip 2's frame 5
    assert _near(middle, _picture(0, 17) * 7 / 13 + _picture(1, 5) * 6 / 13)
    assert not _is(middle, 0, 17) and not _is(middle, 1, 5)


def test_fade_in_starts_the_film_black(tmp_path: Path, clips: list[Path]) -> None:
    out = tmp_path / "film.mp4"
    result = assemble(FilmSpec(clips[:3], out, fade_in=0.5))
    assert (result.method, result.reencoded_clips) == ("mixed", 1)
    frames = _frames(out)
    assert len(frames) == 72
    assert _black(frames[0])
    assert all(_is(frames[j], 0, j, j / 6) for j in range(6))
    assert all(_is(frames[j], 0, j) for j in range(6, 24))
    assert _is(frames[24], 1, 0) and _is(frames[-1], 2, 23)


def test_a_whole_last_clip_fading_out_is_not_copied(tmp_path: Path, clips: list[Path]) -> None:
    out = tmp_path / "film.mp4"
    edits = [Edit(), Edit(transition="fade", transition_seconds=0.5)]
    result = assemble(FilmSpec(clips[:2], out, edits=edits))
    assert (result.method, result.reencoded_clips) == ("mixed", 1)
    frames = _frames(out)
    assert len(frames) == 48 and _is(frames[24], 1, 0) and _is(frames[41], 1, 17)
    assert _is(frames[42], 1, 18, 5 / 6) and _black(frames[-1])


def test_untouched_clips_are_copied_packet_for_packet(tmp_path: Path, clips: list[Path]) -> None:
    out = tmp_path / "film.mp4"
    calls: list[tuple[int, int]] = []
    edits = [Edit(), Edit(0.5, 1.5), Edit()]
    result = assemble(
        FilmSpec(clips[:3], out, edits=edits, title="Salt"), on_progress=lambda *c: calls.append(c)
    )
    assert (result.method, result.reencoded_clips) == ("mixed", 1)
    film, first, last = _packets(out), _packets(clips[0]), _packets(clips[2])
    title = 24  # 2 s of title card, then the clips
    assert len(film) == title + 24 + 12 + 24 == result.info.frames
    assert film[title : title + 24] == first
    assert film[-24:] == last
    with av.open(str(out)) as container, av.open(str(clips[0])) as source:
        extradata = container.streams.video[0].codec_context.extradata
        assert extradata == source.streams.video[0].codec_context.extradata
    frames = _frames(out)
    assert frames[0].mean() < 40  # the title card cuts to the first clip
    assert _is(frames[title], 0, 0) and _is(frames[title + 24], 1, 6)
    assert _is(frames[title + 35], 1, 17) and _is(frames[title + 36], 2, 0)
    # Progress: 0 → total in steps that never go back, total = the film's frames.
    done = [d for d, _ in calls]
    assert done == sorted(done) and {t for _, t in calls} == {len(film)}
    assert calls[-1] == (len(film), len(film))


def test_whole_clips_cut_together_are_still_remuxed(tmp_path: Path, clips: list[Path]) -> None:
    # An out point read off a timeline may land half a frame past the end: still the end.
    edits = [Edit(), Edit(trim_out=2.04), Edit(0.0, 2.0, "cut", 0.5)]
    result = assemble(FilmSpec(clips[:3], tmp_path / "film.mp4", edits=edits))
    assert (result.method, result.reencoded_clips) == ("remux", 0)
    assert result.info.frames == 72
    assert _packets(tmp_path / "film.mp4") == [p for c in clips[:3] for p in _packets(c)]


@pytest.mark.parametrize("odd", ["size", "encoder settings"])
def test_a_clip_that_cannot_be_copied_means_a_full_reencode(
    tmp_path: Path, clips: list[Path], odd: str
) -> None:
    other = (
        _clip(tmp_path / "wide.mp4", 3, size=(80, 48))
        if odd == "size"
        else _clip(tmp_path / "fast.mp4", 3, preset="ultrafast")  # no CABAC: another PPS
    )
    out = tmp_path / "film.mp4"
    result = assemble(FilmSpec([clips[0], other], out, edits=[Edit(0.5), Edit()]))
    assert (result.method, result.reencoded_clips) == ("reencode", 2)
    frames = _frames(out)
    assert len(frames) == 18 + 24
    assert _is(frames[0], 0, 6) and _is(frames[18], 3, 0) and _is(frames[-1], 3, 23)


def test_trims_are_in_the_clips_own_seconds_at_another_rate(tmp_path: Path) -> None:
    first = _clip(tmp_path / "a.mp4", 0)
    fast = _clip(tmp_path / "b.mp4", 1, fps=24)  # 48 frames, re-timed to the film's 12 fps
    out = tmp_path / "film.mp4"
    result = assemble(FilmSpec([first, fast], out, edits=[Edit(1.0), Edit(0.5, 1.5)]))
    assert (result.method, result.info.fps, result.info.frames) == ("reencode", FPS, 24)
    frames = _frames(out)
    assert all(_is(frames[j], 0, 12 + j) for j in range(12))
    assert all(_is(frames[12 + j], 1, 12 + 2 * j) for j in range(12))  # every other frame


def _wav(path: Path, seconds: float) -> Path:
    samples = 0.3 * np.sin(2 * np.pi * 1000 * np.arange(int(RATE * seconds)) / RATE)
    with av.open(str(path), "w") as container:
        stream = container.add_stream("pcm_s16le", rate=RATE, layout="mono")
        frame = av.AudioFrame.from_ndarray(
            (samples * 32767).astype(np.int16)[None], format="s16", layout="mono"
        )
        frame.sample_rate = RATE
        container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    return path


@pytest.mark.parametrize("force", [False, True])
def test_lines_are_heard_where_their_shot_is_in_the_edited_film(
    tmp_path: Path, clips: list[Path], force: bool
) -> None:
    line = SpokenLine(1, _wav(tmp_path / "line.wav", 0.5), offset=0.2, text="Here.")
    edits = [Edit(0.5, 1.5, "dissolve", 0.25), Edit(0.5), Edit()]
    out = tmp_path / "film.mp4"
    result = assemble(
        FilmSpec(clips[:3], out, edits=edits, lines=[line], force_reencode=force, loudness=None)
    )
    assert result.method == ("reencode" if force else "mixed")
    assert result.info.duration == pytest.approx((12 + 18 + 24 - 3) / FPS)
    start = (12 - 3) / FPS + 0.2  # clip 2 starts where the dissolve starts, 9 frames in
    (cue,) = result.cues
    assert cue.start == pytest.approx(start, abs=0.002)
    with av.open(str(out)) as container:
        audio = np.concatenate([f.to_ndarray() for f in container.decode(audio=0)], axis=1)
    onset = np.argmax(np.abs(audio[0]) > 0.01) / RATE
    assert abs(onset - start) <= FRAME


# Each case: {clip index: its Edit (the others Edit()), or FilmSpec option: value}, message.
BAD: dict[str, tuple[dict[Any, Any], str]] = {
    "edit count": ({"edits": [Edit()]}, r"1 edits for 2 clips: give one edit per clip, or none"),
    "trim_in < 0": ({1: Edit(-0.5)}, r"clip 2 \(shot1\.mp4\): trim_in must be 0 or more"),
    "trim_out <= trim_in": (
        {0: Edit(1.0, 0.5)},
        r"clip 1 \(shot0\.mp4\): trim_out \(0\.5 s\) must come after trim_in \(1 s\)",
    ),
    "trim_out past the end": (
        {1: Edit(0.0, 2.1)},
        r"clip 2 \(shot1\.mp4\): trim_out \(2\.1 s\) is past the clip's end \(2 s\)",
    ),
    "trim_in past the end": ({1: Edit(2.0)}, r"clip 2 \(shot1\.mp4\): trim_in \(2 s\) is at or"),
    "under a frame": (
        {0: Edit(1.0, 1.02)},
        r"clip 1 \(shot0\.mp4\): the trim keeps less than one frame",
    ),
    "negative transition": (
        {0: Edit(transition="fade", transition_seconds=-1)},
        r"clip 1 \(shot0\.mp4\): transition_seconds must be 0 or more",
    ),
    "transition of 0 s": (
        {0: Edit(transition="dissolve")},
        r"clip 1 \(shot0\.mp4\): a dissolve needs a length: give transition_seconds",
    ),
    "unknown transition": (
        {0: Edit(transition="wipe", transition_seconds=1)},  # type: ignore[arg-type]
        r"clip 1 \(shot0\.mp4\): unknown transition 'wipe'; use cut, dissolve or fade",
    ),
    "transitions longer than the clip": (
        {0: Edit(1.5, None, "dissolve", 0.25), 1: Edit(1.5, None, "fade", 0.5)},
        r"clip 2 \(shot1\.mp4\): its transitions \(0\.25 s in, 0\.5 s out\) are longer than",
    ),
    "dissolve at the end": (
        {1: Edit(transition="dissolve", transition_seconds=0.5)},
        r"clip 2 \(shot1\.mp4\): the last shot has nothing to dissolve into; use fade",
    ),
    "crossfade and edits": ({"crossfade": 0.5}, r"give either crossfade or edits"),
    "fade_in < 0": ({"fade_in": -1.0}, r"fade_in must be 0 or more seconds"),
    "fade_in too long": ({"fade_in": 3.0}, r"fade_in \(3 s\) is longer than clip 1 \(shot0"),
    "fade_in past the trim": (
        {"fade_in": 1.0, 0: Edit(1.5)},
        r"fade_in \(1 s\) is longer than clip 1 \(shot0\.mp4\) as trimmed \(0\.5 s\)",
    ),
}


@pytest.mark.parametrize("case", BAD)
def test_edits_that_cannot_be_made_are_refused_and_nothing_is_written(
    tmp_path: Path, clips: list[Path], case: str
) -> None:
    change, message = BAD[case]
    edits = [change.get(i, Edit()) for i in range(2)]
    options = {k: v for k, v in change.items() if isinstance(k, str)}
    spec = FilmSpec(clips[:2], tmp_path / "film.mp4", **{"edits": edits, **options})
    before = sorted(tmp_path.iterdir())
    with pytest.raises(AssemblyError, match=message):
        assemble(spec)
    assert not (tmp_path / "film.mp4").exists()
    assert sorted(tmp_path.iterdir()) == before


def test_an_edited_film_keeps_the_result_shape(tmp_path: Path, clips: list[Path]) -> None:
    result = assemble(FilmSpec(clips[:1], tmp_path / "film.mp4", edits=[Edit(0.5)]))
    assert isinstance(result, FilmResult)
    assert (result.method, result.reencoded_clips, result.info.frames) == ("reencode", 1, 18)
    assert next(read_frames(tmp_path / "film.mp4")).shape == (48, 64, 3)
