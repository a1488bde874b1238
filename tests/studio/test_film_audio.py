"""The film's dialogue: lines heard where their cues are, music ducked under them, a mix at
the loudness asked for, subtitles as files, as a soft MP4 track and burned into the picture."""

from __future__ import annotations

import itertools
import wave
from pathlib import Path

import av
import numpy as np
import pyloudnorm
import pysubs2
import pytest
from PIL import Image

from studio.film.assembly import (
    AssemblyError,
    Cue,
    FilmResult,
    FilmSpec,
    ShotSound,
    SpokenLine,
    assemble,
)
from studio.film.mix import limit
from studio.film.subtitles import screens
from studio.film.video import encode_video, read_frames

FPS = 12
FRAME = 1 / FPS
RATE = 48_000
AAC_FRAME = 1024 / RATE
RTL = "שלום, עולם — مرحبا بالعالم 👋🏽"


def _clip(path: Path, color: tuple[int, int, int], frames: int = 12) -> Path:
    frame = np.zeros((36, 64, 3), np.uint8) + np.array(color, np.uint8)
    encode_video(itertools.repeat(frame, frames), path, FPS)
    return path


def _wav(
    path: Path, seconds: float, freq: float = 1000.0, amp: float = 0.3, kind: str = "tone"
) -> Path:
    """A mono 16-bit WAV: a tone, speech-like noise in syllables, or digital silence."""
    rate = 24_000  # not the film's rate: the takes are resampled
    t = np.arange(int(rate * seconds)) / rate
    if kind == "tone":
        x = amp * np.sin(2 * np.pi * freq * t)
    elif kind == "speech":  # noise bursts at a syllable rate, with pauses between them
        noise = np.random.default_rng(int(freq)).standard_normal(t.size) * amp / 3
        x = noise * (0.6 + 0.4 * np.sin(2 * np.pi * 4 * t)) * (np.sin(2 * np.pi * 2 * t) > -0.6)
    else:
        x = np.zeros_like(t)
    ramp = min(t.size // 2, int(0.01 * rate))  # 10 ms in and out, like a real take
    x[:ramp] *= np.linspace(0, 1, ramp)
    x[x.size - ramp :] *= np.linspace(1, 0, ramp)
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes((np.clip(x, -1, 1) * 32767).astype("<i2").tobytes())
    return path


def _audio(path: Path) -> np.ndarray:
    """The film's audio, decoded: 2×N float32 at 48 kHz from the film's start."""
    with av.open(str(path)) as container:
        return np.concatenate([f.to_ndarray() for f in container.decode(audio=0)], axis=1)


def _track_seconds(path: Path, kind: str) -> float:
    with av.open(str(path)) as container:
        stream = next(s for s in container.streams if s.type == kind)
        assert stream.duration is not None and stream.time_base is not None
        return float(stream.duration * stream.time_base)


def _rms(audio: np.ndarray, start: float, end: float) -> float:
    part = audio[:, max(0, round(start * RATE)) : round(end * RATE)]
    return float(np.sqrt(np.mean(np.square(part)))) if part.size else 0.0


def _level(audio: np.ndarray, start: float, freq: float, seconds: float = 0.25) -> float:
    """Magnitude of `freq` in the left channel over `seconds` from `start` (Hann window)."""
    part = audio[0, round(start * RATE) : round((start + seconds) * RATE)]
    spectrum = np.abs(np.fft.rfft(part * np.hanning(part.size)))
    return float(spectrum[round(freq * part.size / RATE)])


def _outside(cues: tuple[Cue, ...], length: float) -> list[tuple[float, float]]:
    """The stretches of the film more than a frame away from every cue."""
    edges = [0.0, *itertools.chain.from_iterable((c.start, c.end) for c in cues), length]
    gaps = [(a + FRAME, b - FRAME) for a, b in itertools.pairwise(edges)][::2]
    return [(a, b) for a, b in gaps if b - a > 0.05]


def _soft_track(path: Path) -> tuple[str, list[tuple[float, float, bytes, str]]]:
    """The MP4's subtitle stream: its language and each shown sample as (start, end, raw
    sample, text from PyAV's mov_text decoder); the muxer's empty gap samples left out."""
    with av.open(str(path)) as container:
        stream = container.streams.subtitles[0]
        assert stream.codec_context.name == "mov_text"
        assert stream.time_base is not None
        samples = []
        for packet in container.demux(stream):
            if packet.size <= 2 or packet.pts is None or packet.duration is None:
                continue  # a gap between cues, or the demuxer's flush packet
            decoded = [s for s in stream.decode(packet) if s.type in (b"ass", b"text")]
            text = decoded[0].dialogue.decode("utf-8") if decoded else ""
            start = float(packet.pts * stream.time_base)
            end = float((packet.pts + packet.duration) * stream.time_base)
            samples.append((start, end, bytes(packet), text))
        return stream.metadata.get("language", ""), samples


@pytest.fixture
def clips(tmp_path: Path) -> list[Path]:
    colors = [(200, 40, 40), (40, 200, 40), (40, 40, 200)]
    return [_clip(tmp_path / f"shot{i}.mp4", color) for i, color in enumerate(colors)]


# Where each shot starts in the film, worked out by hand for 1-second shots at 12 fps.
LAYOUTS = {
    "remux": ({}, "remux", [0.0, 1.0, 2.0], 3.0),
    "title card": ({"title": "Salt", "title_seconds": 1.0}, "remux", [1.0, 2.0, 3.0], 4.0),
    # a 2 s title card and three shots, each cut overlapping the next by 0.25 s
    "crossfade": ({"crossfade": 0.25, "title": "Salt"}, "reencode", [1.75, 2.5, 3.25], 4.25),
}


@pytest.mark.parametrize("layout", LAYOUTS)
def test_lines_are_heard_inside_their_cues_and_nowhere_else(
    tmp_path: Path, clips: list[Path], layout: str
) -> None:
    extra, method, starts, length = LAYOUTS[layout]
    lines = [
        SpokenLine(0, _wav(tmp_path / "a.wav", 0.5), offset=0.2, text="Where is the  salt?"),
        SpokenLine(2, _wav(tmp_path / "b.wav", 0.4, 700), offset=0.1, text="In the sea."),
    ]
    out = tmp_path / "film.mp4"
    result = assemble(FilmSpec(clips, out, lines=lines, **extra))  # type: ignore[arg-type]

    assert result.method == method
    assert result.info.duration == pytest.approx(length)
    assert [c.text for c in result.cues] == ["Where is the salt?", "In the sea."]
    for cue, line, take in zip(result.cues, lines, (0.5, 0.4), strict=True):
        assert abs(cue.start - (starts[line.clip] + line.offset)) <= FRAME
        assert abs(cue.end - cue.start - take) <= FRAME
    assert abs(_track_seconds(out, "audio") - result.info.duration) <= AAC_FRAME
    audio = _audio(out)
    for cue in result.cues:
        assert _rms(audio, cue.start + FRAME, cue.end - FRAME) > 0.02
        search = max(0.0, cue.start - 0.3)  # the first sound heard is the line's start
        onset = search + np.argmax(np.abs(audio[0, round(search * RATE) :]) > 0.01) / RATE
        assert abs(onset - cue.start) <= FRAME  # in sync with the picture
    for start, end in _outside(result.cues, length):
        assert _rms(audio, start, end) < 1e-3, (start, end)


def test_music_is_ducked_under_speech_and_comes_back(tmp_path: Path, clips: list[Path]) -> None:
    music = _wav(tmp_path / "music.wav", 5.0, freq=220, amp=0.2)
    line = SpokenLine(1, _wav(tmp_path / "line.wav", 0.8, freq=1500), offset=0.1, text="Now.")
    out = tmp_path / "film.mp4"
    result = assemble(FilmSpec(clips, out, audio=music, lines=[line], duck_db=12.0))
    (cue,) = result.cues
    audio = _audio(out)
    before = _level(audio, 0.4, 220)
    under = _level(audio, cue.start + 0.2, 220)
    after = _level(audio, cue.end + 0.5, 220)
    assert 20 * np.log10(under / before) == pytest.approx(-12, abs=1.5)
    assert 20 * np.log10(after / before) == pytest.approx(0, abs=1.0)
    # No click where the music turns down: its level falls over a ramp, not in one step.
    ramp = [_level(audio, cue.start - 0.08 + k * 0.02, 220, 0.04) for k in range(4)]
    assert ramp == sorted(ramp, reverse=True) and ramp[0] > ramp[-1] * 1.5


@pytest.mark.parametrize("target", [-16.0, -23.0])
def test_the_mix_reaches_the_loudness_target(
    tmp_path: Path, clips: list[Path], target: float
) -> None:
    music = _wav(tmp_path / "music.wav", 2.0, freq=330, amp=0.05)  # padded with silence
    lines = [
        SpokenLine(0, _wav(tmp_path / "a.wav", 0.8, 1, amp=0.9, kind="speech"), text="One"),
        SpokenLine(1, _wav(tmp_path / "b.wav", 1.2, 2, amp=0.9, kind="speech"), text="Two"),
    ]
    out = tmp_path / "film.mp4"
    result = assemble(FilmSpec(clips, out, audio=music, lines=lines, loudness=target))
    audio = _audio(out)
    measured = pyloudnorm.Meter(RATE).integrated_loudness(audio.T)
    assert measured == pytest.approx(target, abs=1.0)
    assert result.loudness == pytest.approx(target, abs=0.5)
    assert np.abs(audio).max() < 1.0  # below 0 dBFS after AAC


def test_a_loud_mix_is_limited_not_clipped(tmp_path: Path, clips: list[Path]) -> None:
    shout = _wav(tmp_path / "shout.wav", 2.5, 3, amp=1.0, kind="speech")
    out = tmp_path / "film.mp4"
    result = assemble(FilmSpec(clips, out, lines=[SpokenLine(0, shout)], loudness=-10.0))
    audio = _audio(out)
    assert pyloudnorm.Meter(RATE).integrated_loudness(audio.T) == pytest.approx(-10, abs=1.0)
    assert result.loudness is not None
    assert np.abs(audio).max() < 1.0


def test_the_limiter_turns_the_level_down_rather_than_clipping() -> None:
    """A tone 6 dB over full scale comes out at -1 dBFS still a clean tone: clipping it
    would square its tops and add a loud third harmonic."""
    t = np.arange(RATE) / RATE
    loud = np.stack([2.0 * np.sin(2 * np.pi * 1000 * t)] * 2).astype(np.float32)
    out = limit(loud)
    assert np.abs(out).max() <= 10 ** (-1 / 20) + 1e-6
    steady = out[0, RATE // 4 : 3 * RATE // 4]
    spectrum = np.abs(np.fft.rfft(steady * np.hanning(steady.size)))
    third, tone = (spectrum[round(f * steady.size / RATE)] for f in (3000, 1000))
    assert 20 * np.log10(third / tone + 1e-12) < -60
    assert np.allclose(limit(loud / 4), loud / 4)  # below the ceiling: untouched


def test_silence_and_a_very_short_film_are_left_as_they_are(
    tmp_path: Path, clips: list[Path]
) -> None:
    hush = SpokenLine(0, _wav(tmp_path / "hush.wav", 0.5, kind="silence"), text="…")
    result = assemble(FilmSpec(clips, tmp_path / "quiet.mp4", lines=[hush]))
    assert result.info.has_audio and result.loudness is None
    assert np.abs(_audio(tmp_path / "quiet.mp4")).max() < 1e-4
    blink = _clip(tmp_path / "blink.mp4", (90, 90, 90), frames=3)  # 0.25 s: under one block
    line = SpokenLine(0, _wav(tmp_path / "a.wav", 0.2), offset=0.0, text="Hi")
    short = assemble(FilmSpec([blink], tmp_path / "short.mp4", lines=[line]))
    assert short.loudness is None and short.info.has_audio


def test_a_line_past_the_end_is_cut_and_reported(tmp_path: Path, clips: list[Path]) -> None:
    late = SpokenLine(2, _wav(tmp_path / "late.wav", 0.6), offset=0.8, text="Goodbye")
    out = tmp_path / "film.mp4"
    result = assemble(FilmSpec(clips, out, lines=[late]))
    (cue,) = result.cues
    assert cue.start == pytest.approx(2.8, abs=FRAME)
    assert cue.end == pytest.approx(3.0, abs=FRAME)
    assert any("line 1" in w and "cut" in w for w in result.warnings)
    assert abs(_track_seconds(out, "audio") - result.info.duration) <= AAC_FRAME


def test_shot_sounds_fill_their_shot_and_nothing_else(tmp_path: Path, clips: list[Path]) -> None:
    room = _wav(tmp_path / "room.wav", 0.3, 5, kind="speech")  # looped over the 1 s shot
    out = tmp_path / "film.mp4"
    assemble(FilmSpec(clips, out, sounds=[ShotSound(1, room, gain_db=-6)]))
    audio = _audio(out)
    for start in np.arange(1.05, 1.9, 0.1):
        assert _rms(audio, start, start + 0.1) > 0.005
    assert _rms(audio, 0.0, 1.0 - FRAME) < 1e-3 and _rms(audio, 2.0 + FRAME, 3.0) < 1e-3


def test_subtitle_files_parse_back_to_the_cues(tmp_path: Path, clips: list[Path]) -> None:
    lines = [
        SpokenLine(0, _wav(tmp_path / "a.wav", 0.5), text="Héloïse:\tça va ?", speaker="ANA"),
        SpokenLine(1, _wav(tmp_path / "b.wav", 0.6), offset=0.25, text=RTL, speaker="Omar"),
    ]
    out = tmp_path / "film.mp4"
    result = assemble(FilmSpec(clips, out, lines=lines, speaker_names=True))
    assert result.subtitles == (tmp_path / "film.srt", tmp_path / "film.vtt")
    assert [c.text for c in result.cues] == ["ANA: Héloïse: ça va ?", f"Omar: {RTL}"]
    for path in result.subtitles:
        assert path.read_bytes().decode("utf-8")  # UTF-8, no BOM needed
        events = pysubs2.load(str(path), encoding="utf-8")
        parsed = [(e.start / 1000, e.end / 1000, e.plaintext) for e in events]
        assert parsed == [(c.start, c.end, c.text) for c in result.cues]


def test_the_mp4_carries_the_cues_as_a_soft_track(tmp_path: Path, clips: list[Path]) -> None:
    texts = [RTL, "Ünïcödé ✓ 😀 and a {brace} \\N backslash", "日本語の字幕"]
    lines = [
        SpokenLine(i, _wav(tmp_path / f"{i}.wav", 0.4), offset=0.3, text=text)
        for i, text in enumerate(texts)
    ]
    out = tmp_path / "film.mp4"
    result = assemble(FilmSpec(clips, out, lines=lines, subtitle_language="fra"))
    language, samples = _soft_track(out)
    assert language == "fra"
    assert len(samples) == len(result.cues) == 3
    for (start, end, raw, decoded), cue in zip(samples, result.cues, strict=True):
        assert raw[2:].decode("utf-8") == cue.text  # byte for byte after the length
        assert int.from_bytes(raw[:2], "big") == len(cue.text.encode("utf-8"))
        assert abs(start - cue.start) < 0.002 and abs(end - cue.end) < 0.002
        if "{" not in cue.text:  # PyAV's decoder reads "{…}" as an ASS override
            assert decoded == cue.text


def test_no_subtitles_when_asked_for_none(tmp_path: Path, clips: list[Path]) -> None:
    line = SpokenLine(0, _wav(tmp_path / "a.wav", 0.4), text="Quiet, please")
    out = tmp_path / "film.mp4"
    result = assemble(FilmSpec(clips, out, lines=[line], subtitles=False))
    assert result.subtitles == () and len(result.cues) == 1
    with av.open(str(out)) as container:
        assert [s.type for s in container.streams] == ["video", "audio"]
    assert sorted(p.suffix for p in tmp_path.iterdir()) == [".mp4"] * 4 + [".wav"]
    silent = assemble(FilmSpec(clips, tmp_path / "silent.mp4"))
    assert not silent.info.has_audio and silent.cues == () and silent.loudness is None


def test_overlapping_lines_mix_and_share_the_screen(tmp_path: Path, clips: list[Path]) -> None:
    a = SpokenLine(0, _wav(tmp_path / "a.wav", 0.8, 600), offset=0.2, text="First")
    b = SpokenLine(0, _wav(tmp_path / "b.wav", 0.8, 1800), offset=0.6, text="Second")
    out = tmp_path / "film.mp4"
    result = assemble(FilmSpec(clips, out, lines=[a, b]))
    audio = _audio(out)
    assert _level(audio, 0.7, 600) > 10 * _level(audio, 0.7, 330)  # both voices at once
    assert _level(audio, 0.7, 1800) > 10 * _level(audio, 0.7, 330)
    _, samples = _soft_track(out)
    assert [s[3] for s in samples] == ["First", "First\nSecond", "Second"]
    assert screens(result.cues) == (
        Cue(0.2, 0.6, "First"),
        Cue(0.6, 1.0, "First\nSecond"),
        Cue(1.0, 1.4, "Second"),
    )


def test_burned_in_subtitles_appear_during_their_cue_only(
    tmp_path: Path, clips: list[Path]
) -> None:
    line = SpokenLine(1, _wav(tmp_path / "a.wav", 0.5), offset=0.25, text="Salt! مرحبا")
    out = tmp_path / "film.mp4"
    result = assemble(FilmSpec(clips, out, lines=[line], burn_subtitles=True))
    assert result.method == "reencode"  # drawing into the pictures needs a re-encode
    (cue,) = result.cues
    plain = [next(read_frames(c)).astype(np.int16) for c in clips]  # each shot, clean
    for index, frame in enumerate(read_frames(out)):
        seconds, clean = index * FRAME, plain[index // FPS]
        bottom = np.abs(frame[24:].astype(np.int16) - clean[24:]).mean()
        top = np.abs(frame[:12].astype(np.int16) - clean[:12]).mean()
        assert top < 4
        if cue.start + FRAME <= seconds < cue.end - FRAME:
            assert bottom > 20, index
        elif seconds < cue.start - FRAME or seconds >= cue.end + FRAME:
            assert bottom < 4, index


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"lines": "clip"}, r"line 1 \(a\.wav\) belongs to clip index 3, but the film has 3"),
        ({"sounds": "clip"}, r"sound 1 \(room\.wav\) belongs to clip index 3"),
        ({"lines": "offset"}, r"line 1 \(a\.wav\) starts -0\.5 s into its shot"),
        ({"lines": "png"}, r"line 1 \(still\.wav\) has no audio stream"),
        ({"sounds": "video"}, r"sound 1 \(shot0\.mp4\) has no audio stream"),
    ],
)
def test_bad_dialogue_inputs_are_refused_and_nothing_is_written(
    tmp_path: Path, clips: list[Path], change: dict[str, str], message: str
) -> None:
    take, room = _wav(tmp_path / "a.wav", 0.4), _wav(tmp_path / "room.wav", 0.4)
    still = tmp_path / "still.wav"
    Image.new("RGB", (8, 8), "red").save(still, format="PNG")  # a picture named .wav
    line = {
        "clip": SpokenLine(3, take, text="x"),
        "offset": SpokenLine(0, take, offset=-0.5, text="x"),
        "png": SpokenLine(0, still, text="x"),
    }.get(change.get("lines", ""), SpokenLine(0, take, text="x"))
    sound = {"clip": ShotSound(3, room), "video": ShotSound(0, clips[0])}.get(
        change.get("sounds", ""), ShotSound(0, room)
    )
    before = sorted(tmp_path.iterdir())
    with pytest.raises(AssemblyError, match=message):
        assemble(FilmSpec(clips, tmp_path / "film.mp4", lines=[line], sounds=[sound]))
    assert sorted(tmp_path.iterdir()) == before  # no film, no .srt/.vtt, no temp files


def test_the_result_keeps_its_old_shape_for_old_callers(tmp_path: Path, clips: list[Path]) -> None:
    result = assemble(FilmSpec(clips, tmp_path / "film.mp4"))
    assert isinstance(result, FilmResult)
    assert (result.subtitles, result.cues, result.loudness, result.warnings) == ((), (), None, ())
