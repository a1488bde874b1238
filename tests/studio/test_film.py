"""Film assembly: remux when possible, re-encode when needed, crossfades, title, soundtrack."""

from __future__ import annotations

import itertools
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

from pipelines.draft import DraftPipeline
from pipelines.requests import RenderRequest
from studio.film.assembly import AssemblyError, FilmSpec, assemble
from studio.film.video import encode_video, probe, read_frames, read_metadata


def _draft_clip(
    path: Path, seconds: float = 1.0, fps: int = 12, size: tuple[int, int] = (96, 64), seed: int = 0
) -> Path:
    request = RenderRequest(
        prompt=f"shot {seed}",
        seed=seed,
        width=size[0],
        height=size[1],
        duration=seconds,
        fps=fps,
        camera_move="pan-right",
    )
    encode_video(DraftPipeline().render_clip(request), path, fps)
    return path


def _solid_clip(path: Path, color: tuple[int, int, int], frames: int = 12, fps: int = 12) -> Path:
    frame = np.zeros((64, 96, 3), np.uint8) + np.array(color, np.uint8)
    encode_video(itertools.repeat(frame, frames), path, fps)
    return path


def _wav(path: Path, seconds: float, rate: int = 44_100) -> Path:
    """A mono 440 Hz tone."""
    samples = np.sin(2 * np.pi * 440 * np.arange(int(rate * seconds)) / rate)
    with av.open(str(path), "w") as container:
        stream = container.add_stream("pcm_s16le", rate=rate, layout="mono")
        frame = av.AudioFrame.from_ndarray(
            (samples * 12_000).astype(np.int16)[None], format="s16", layout="mono"
        )
        frame.sample_rate = rate
        container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    return path


def _audio_seconds(path: Path) -> float:
    with av.open(str(path)) as container:
        stream = container.streams.audio[0]
        assert stream.codec_context.sample_rate == 48_000
        assert stream.codec_context.layout.name == "stereo"
        assert stream.duration is not None and stream.time_base is not None
        return float(stream.duration * stream.time_base)


@pytest.fixture
def clips(tmp_path: Path) -> list[Path]:
    return [_draft_clip(tmp_path / f"shot{i}.mp4", seed=i) for i in range(3)]


def test_matching_clips_are_remuxed(tmp_path: Path, clips: list[Path]) -> None:
    out = tmp_path / "film.mp4"
    calls: list[tuple[int, int]] = []
    result = assemble(
        FilmSpec(clips, out, metadata={"title": "Salt"}), on_progress=lambda *c: calls.append(c)
    )
    assert result.method == "remux"
    assert result.info.frames == 36 == sum(1 for _ in read_frames(out))
    assert result.info.duration == pytest.approx(3.0)
    assert result.info.fps == Fraction(12)
    assert read_metadata(out) == {"title": "Salt"}
    assert calls[-1] == (36, 36)


def test_remux_keeps_the_pictures(tmp_path: Path) -> None:
    red = _solid_clip(tmp_path / "red.mp4", (220, 20, 20))
    blue = _solid_clip(tmp_path / "blue.mp4", (20, 20, 220))
    out = tmp_path / "film.mp4"
    assemble(FilmSpec([red, blue], out))
    frames = list(read_frames(out))
    assert frames[0][32, 48, 0] > 180 and frames[-1][32, 48, 2] > 180


def test_title_card_comes_first_and_keeps_the_remux(tmp_path: Path, clips: list[Path]) -> None:
    out = tmp_path / "film.mp4"
    result = assemble(FilmSpec(clips, out, title="The Salt Flats", title_seconds=1.5))
    assert result.method == "remux"
    assert result.info.duration == pytest.approx(4.5)
    assert result.info.frames == 36 + 18
    first = next(read_frames(out))
    assert first.mean() < 40  # black card …
    assert first.max() > 200  # … with white letters


def test_different_sizes_are_reencoded_to_the_first(tmp_path: Path, clips: list[Path]) -> None:
    wide = _draft_clip(tmp_path / "wide.mp4", size=(128, 72))
    result = assemble(FilmSpec([*clips[:2], wide], tmp_path / "film.mp4"))
    assert result.method == "reencode"
    assert (result.info.width, result.info.height) == (96, 64)
    assert result.info.frames == 36
    assert result.info.duration == pytest.approx(3.0)


def test_different_frame_rates_are_retimed(tmp_path: Path, clips: list[Path]) -> None:
    slow = _draft_clip(tmp_path / "slow.mp4", seconds=1.0, fps=8)
    result = assemble(FilmSpec([clips[0], slow], tmp_path / "film.mp4"))
    assert result.method == "reencode"
    assert result.info.fps == Fraction(12)
    assert result.info.duration == pytest.approx(2.0)  # 1 s + 1 s, whatever the rates


def test_crossfade_shortens_the_film_and_blends(tmp_path: Path) -> None:
    red = _solid_clip(tmp_path / "red.mp4", (220, 20, 20))
    blue = _solid_clip(tmp_path / "blue.mp4", (20, 20, 220))
    green = _solid_clip(tmp_path / "green.mp4", (20, 220, 20))
    out = tmp_path / "film.mp4"
    result = assemble(FilmSpec([red, blue, green], out, crossfade=0.5))
    assert result.method == "reencode"
    assert result.info.duration == pytest.approx(3.0 - 0.5 * 2)
    assert result.info.frames == 36 - 6 * 2
    frames = list(read_frames(out))
    red_end, blue_start = frames[5][32, 48].astype(int), frames[12][32, 48].astype(int)
    middle = frames[9][32, 48].astype(int)  # half-way through the red → blue fade
    assert red_end[0] > 180 and blue_start[2] > 180
    assert 70 < middle[0] < 170 and 70 < middle[2] < 170


def test_crossfade_with_title(tmp_path: Path, clips: list[Path]) -> None:
    result = assemble(FilmSpec(clips, tmp_path / "film.mp4", crossfade=0.25, title="T"))
    assert result.info.duration == pytest.approx(2.0 + 3.0 - 0.25 * 3)


def test_forced_reencode_matches_the_remux(tmp_path: Path, clips: list[Path]) -> None:
    remux = assemble(FilmSpec(clips, tmp_path / "a.mp4"))
    reencode = assemble(FilmSpec(clips, tmp_path / "b.mp4", force_reencode=True))
    assert (remux.method, reencode.method) == ("remux", "reencode")
    assert remux.info == reencode.info


@pytest.mark.parametrize(("audio_seconds", "reencode"), [(1.3, False), (5.0, True)])
def test_soundtrack_is_fitted_to_the_picture(
    tmp_path: Path, clips: list[Path], audio_seconds: float, reencode: bool
) -> None:
    """Short audio is padded with silence, long audio trimmed: both end with the picture."""
    audio = _wav(tmp_path / "music.wav", audio_seconds)
    out = tmp_path / "film.mp4"
    result = assemble(FilmSpec(clips, out, audio=audio, force_reencode=reencode))
    assert result.method == ("reencode" if reencode else "remux")
    assert result.info.has_audio
    assert abs(_audio_seconds(out) - result.info.duration) <= 1 / 12


def test_no_clips_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(AssemblyError, match="no clips"):
        assemble(FilmSpec([], tmp_path / "film.mp4"))


def test_a_file_that_is_not_a_video_is_named(tmp_path: Path, clips: list[Path]) -> None:
    notes = tmp_path / "notes.mp4"
    notes.write_text("shot list, not a video")
    with pytest.raises(AssemblyError, match=r"clip 2 \(notes.mp4\) is not a readable video"):
        assemble(FilmSpec([clips[0], notes], tmp_path / "film.mp4"))
    with pytest.raises(AssemblyError, match="clip 1"):
        assemble(FilmSpec([tmp_path / "missing.mp4"], tmp_path / "film.mp4"))


def test_bad_audio_is_a_clear_error(tmp_path: Path, clips: list[Path]) -> None:
    song = tmp_path / "song.mp3"
    song.write_bytes(b"\x00garbage" * 100)
    with pytest.raises(AssemblyError, match=r"audio file song\.mp3"):
        assemble(FilmSpec(clips, tmp_path / "film.mp4", audio=song))
    with pytest.raises(AssemblyError, match="no audio stream"):
        assemble(FilmSpec(clips, tmp_path / "film.mp4", audio=clips[0]))
    assert not (tmp_path / "film.mp4").exists()


def test_crossfade_longer_than_a_clip_is_refused(tmp_path: Path, clips: list[Path]) -> None:
    short = _draft_clip(tmp_path / "short.mp4", seconds=0.5)
    with pytest.raises(AssemblyError, match=r"crossfade \(0.75 s\) is longer than clip 2"):
        assemble(FilmSpec([clips[0], short], tmp_path / "film.mp4", crossfade=0.75))


def test_assembled_film_can_be_probed_again(tmp_path: Path, clips: list[Path]) -> None:
    out = tmp_path / "film.mp4"
    result = assemble(FilmSpec(clips, out, title="Again"))
    assert probe(out) == result.info
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        [*(c.name for c in clips), "film.mp4"]
    )
