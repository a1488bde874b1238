"""The film's soundtrack: dialogue, shot sounds and ducked music, mixed, normalised and limited.

The whole mix is held in memory as one 2×N float32 array at 48 kHz: 23 MB per minute of
film, and about five times that at the peak of mixing (the music, the gained copy, the
limiter's and the loudness meter's working arrays: 350 MB for three minutes, measured).
That is deliberate: integrated loudness (EBU R128 / ITU-R BS.1770, measured with
pyloudnorm) is a property of the whole programme, so no sample can be written before the
last one is mixed, and films are minutes long. The mix is then written as AAC by
`AudioTrack`, in step with the video.

Decoding and resampling are PyAV's (libswresample: a mono take is spread to both channels
at -3 dB, its pan law); loudness is pyloudnorm's; only the ducking ramps, the loops of shot
sounds and the peak limiter are arithmetic of our own, on whole arrays.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import av.container
import numpy as np
import pyloudnorm

__all__ = [
    "AUDIO_RATE",
    "AudioTrack",
    "Mix",
    "MixError",
    "ShotSound",
    "SpokenLine",
    "Voice",
    "check_inputs",
    "decode",
    "limit",
    "measure",
    "mix",
]

AUDIO_RATE = 48_000
AUDIO_LAYOUT = "stereo"
AUDIO_CHUNK = 1024  # AAC frame size
# FFmpeg's AAC encoder defaults to 128 kb/s; at 192 kb/s its error is small enough that a mix
# limited to -1 dBFS still decodes below 0 dBFS, even a loud, dense one.
AUDIO_BIT_RATE = 192_000
PEAK_CEILING_DB = -1.0  # true-peak headroom for the AAC encoder's overshoot
DUCK_ATTACK = 0.08  # seconds the music takes to go down, ending where the speech starts
DUCK_RELEASE = 0.3  # seconds it takes to come back after the speech ends
SOUND_FADE = 0.05  # seconds of fade at both ends of a shot sound (no click at the cut)
_LIMIT_BLOCK = 64  # samples per limiter block (1.3 ms)
_LIMIT_AHEAD = 4  # blocks the limiter looks ahead (its attack)
_LIMIT_HOLD = 60  # blocks it holds a reduction before releasing (80 ms)
_LIMIT_SMOOTH = 4  # radius of the gain smoothing, in blocks (≤ both of the above)


@dataclass(frozen=True)
class SpokenLine:
    """One line of dialogue, placed inside its shot."""

    clip: int  # 0-based index into FilmSpec.clips: the shot it belongs to
    path: Path  # its speech take: a WAV (any audio PyAV decodes)
    offset: float = 0.3  # seconds after the shot's first frame (in the film) that it starts
    text: str = ""  # the subtitle text
    speaker: str = ""  # shown as "SPEAKER: text" only when FilmSpec.speaker_names


@dataclass(frozen=True)
class ShotSound:
    """Room tone or effects under one shot, for the shot's time on screen."""

    clip: int
    path: Path
    gain_db: float = 0.0


@dataclass(frozen=True)
class Voice:
    """A line placed on the film's timeline: the mix plays it, the subtitles show it."""

    number: int  # 1-based position in FilmSpec.lines, for messages
    line: SpokenLine
    start: float  # film seconds
    end: float  # when its audio ends, cut at the film's end


@dataclass(frozen=True)
class Mix:
    """The finished soundtrack: 2×N float32 at 48 kHz, N = the film's length in samples."""

    samples: np.ndarray
    loudness: float | None  # integrated LUFS as measured after normalising; None: unmeasurable
    voices: tuple[Voice, ...]
    warnings: tuple[str, ...]


class MixError(ValueError):
    """A sound input cannot be used; assembly reports it as an AssemblyError."""


def check_inputs(
    lines: Sequence[SpokenLine],
    sounds: Sequence[ShotSound],
    clips: int,
    duck_db: float = 12.0,
    loudness: float | None = -16.0,
) -> None:
    """Refuse, with a message for the user, what is wrong before any file is decoded."""
    placed: list[tuple[str, int, SpokenLine | ShotSound]] = [
        *(("line", number, line) for number, line in enumerate(lines, 1)),
        *(("sound", number, sound) for number, sound in enumerate(sounds, 1)),
    ]
    for kind, number, item in placed:
        if not isinstance(item.clip, int) or not 0 <= item.clip < clips:
            raise MixError(
                f"{kind} {number} ({Path(item.path).name}) belongs to clip index "
                f"{item.clip!r}, but the film has {clips} clip{'s' if clips > 1 else ''} "
                f"(indices 0 to {clips - 1})"
            )
    for number, line in enumerate(lines, 1):
        if not (math.isfinite(line.offset) and line.offset >= 0):
            raise MixError(
                f"line {number} ({Path(line.path).name}) starts {line.offset:g} s into its "
                "shot: a line's offset must be 0 or more seconds"
            )
    for number, sound in enumerate(sounds, 1):
        if not math.isfinite(sound.gain_db):
            raise MixError(f"sound {number} has a gain of {sound.gain_db} dB: give a number")
    if not (math.isfinite(duck_db) and duck_db >= 0):
        raise MixError(f"duck_db must be 0 dB or more, got {duck_db:g}")
    if loudness is not None and not -70 < loudness < 0:
        raise MixError(f"loudness must be between -70 and 0 LUFS, got {loudness:g}")


def mix(
    seconds: float,
    *,
    music: Path | None = None,
    lines: Sequence[tuple[SpokenLine, float]] = (),
    sounds: Sequence[tuple[ShotSound, float, float]] = (),
    duck_db: float = 12.0,
    loudness: float | None = -16.0,
    crossfade: float = 0.0,
) -> Mix:
    """Mix a film `seconds` long.

    `lines` are (line, film start); `sounds` are (sound, shot start, shot end) in film
    seconds. Music plays from the film's start, padded or trimmed; it is ducked by `duck_db`
    under every line. `loudness` is the integrated LUFS target (None: levels as they are);
    either way peaks are limited to -1 dBFS. Shot sounds fade over `crossfade` seconds when
    the pictures crossfade, so a room's tone dissolves with its picture.
    """
    total = round(seconds * AUDIO_RATE)
    out = np.zeros((2, total), np.float32)
    notes: list[str] = []
    voices: list[Voice] = []
    for number, (line, start) in enumerate(lines, 1):
        what = f"line {number} ({Path(line.path).name})"
        take = decode(Path(line.path), what)
        first = round(start * AUDIO_RATE)
        if first >= total:
            notes.append(f"{what} starts at {start:.2f} s, after the film ends: left out")
            continue
        if first + take.shape[1] > total:
            notes.append(f"{what} runs past the end of the film: cut at {seconds:.2f} s")
            take = take[:, : total - first]
        out[:, first : first + take.shape[1]] += take
        voices.append(Voice(number, line, first / AUDIO_RATE, (first + take.shape[1]) / AUDIO_RATE))
    for number, (sound, start, end) in enumerate(sounds, 1):
        what = f"sound {number} ({Path(sound.path).name})"
        first, last = round(start * AUDIO_RATE), min(total, round(end * AUDIO_RATE))
        if last <= first:
            continue
        bed = _looped(decode(Path(sound.path), what, last - first), last - first)
        fade = max(SOUND_FADE, crossfade)
        out[:, first:last] += _faded(bed, fade) * np.float32(10 ** (sound.gain_db / 20))
    if music is not None:
        track = decode(Path(music), f"audio file {Path(music).name}", total)[:, :total]
        if voices and duck_db > 0:
            track *= _duck_gain(total, voices, duck_db)[: track.shape[1]]
        out[:, : track.shape[1]] += track
    samples, measured = normalise(out, loudness)
    return Mix(samples, measured, tuple(voices), tuple(notes))


# -- decoding -----------------------------------------------------------------------------


def decode(path: Path, what: str, limit_samples: int | None = None) -> np.ndarray:
    """`path`'s first audio stream as 2×N float32 at 48 kHz stereo.

    Stops once `limit_samples` are decoded (music longer than the film is not read to its
    end). Raises MixError, naming the input as `what`, for anything that is not sound.
    """
    resampler = av.AudioResampler(format="fltp", layout=AUDIO_LAYOUT, rate=AUDIO_RATE)
    blocks: list[np.ndarray] = []
    count = 0
    try:
        with av.open(str(path)) as container:
            if not container.streams.audio:
                raise MixError(f"{what} has no audio stream: it is not a sound file")
            for frame in container.decode(container.streams.audio[0]):
                for resampled in resampler.resample(frame):
                    blocks.append(resampled.to_ndarray())
                    count += blocks[-1].shape[1]
                if limit_samples is not None and count >= limit_samples:
                    break
            else:
                blocks.extend(r.to_ndarray() for r in resampler.resample(None))
    except (av.error.FFmpegError, OSError) as exc:
        raise MixError(f"{what} cannot be decoded: {exc}") from exc
    pcm = np.concatenate(blocks, axis=1) if blocks else np.zeros((2, 0), np.float32)
    if pcm.shape[1] == 0:
        raise MixError(f"{what} holds no sound")
    return pcm.astype(np.float32, copy=False)


# -- mixing -------------------------------------------------------------------------------


def _looped(pcm: np.ndarray, length: int) -> np.ndarray:
    """`pcm` repeated or cut to exactly `length` samples."""
    repeats = -(-length // pcm.shape[1])
    return np.tile(pcm, (1, repeats))[:, :length] if repeats > 1 else pcm[:, :length]


def _faded(pcm: np.ndarray, seconds: float) -> np.ndarray:
    """Linear fade-in and fade-out of `seconds` (at most half the length each)."""
    ramp = min(round(seconds * AUDIO_RATE), pcm.shape[1] // 2)
    if ramp < 1:
        return pcm
    envelope = np.ones(pcm.shape[1], np.float32)
    rising = np.linspace(0.0, 1.0, ramp, endpoint=False, dtype=np.float32)
    envelope[:ramp] = rising
    envelope[-ramp:] = rising[::-1]
    return pcm * envelope


def _duck_gain(total: int, voices: Sequence[Voice], duck_db: float) -> np.ndarray:
    """The music's gain: 1 away from speech, -duck_db under it, with ramps in dB between.

    The ramp down ends where a line starts (the timeline is known in advance, so the first
    syllable is already clear) and the ramp up starts where it ends; ramping in dB rather
    than in amplitude sounds even, and a ramp of tens of milliseconds cannot click.
    """
    depth = np.zeros(total, np.float32)  # 0: full music, 1: fully ducked
    attack, release = round(DUCK_ATTACK * AUDIO_RATE), round(DUCK_RELEASE * AUDIO_RATE)
    for voice in voices:
        first, last = round(voice.start * AUDIO_RATE), round(voice.end * AUDIO_RATE)
        _raise_to(depth, first - attack, np.linspace(0, 1, attack, endpoint=False))
        depth[first:last] = 1.0
        _raise_to(depth, last, np.linspace(1, 0, release, endpoint=False))
    gain = np.ones(total, np.float32)
    ducked = depth > 0
    gain[ducked] = np.power(np.float32(10.0), depth[ducked] * np.float32(-duck_db / 20.0))
    return gain


def _raise_to(depth: np.ndarray, first: int, ramp: np.ndarray) -> None:
    """depth[first:first+len(ramp)] = max(itself, ramp), clipped to the array."""
    lo, hi = max(first, 0), min(first + len(ramp), len(depth))
    if hi > lo:
        depth[lo:hi] = np.maximum(depth[lo:hi], ramp[lo - first : hi - first])


# -- loudness -----------------------------------------------------------------------------


def measure(samples: np.ndarray) -> float | None:
    """Integrated loudness (LUFS, BS.1770 with gating) of 2×N samples at 48 kHz.

    None when it cannot be measured: silence, or less than one 0.4 s gating block.
    """
    meter = pyloudnorm.Meter(AUDIO_RATE)
    if samples.shape[1] < meter.block_size * AUDIO_RATE or not np.any(samples):
        return None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        value = float(meter.integrated_loudness(samples.T))
    return value if math.isfinite(value) else None


def normalise(samples: np.ndarray, target: float | None) -> tuple[np.ndarray, float | None]:
    """Bring `samples` to `target` LUFS, then limit peaks to -1 dBFS; returns (mix, LUFS).

    The limiter takes a little loudness away from a peaky mix, so the gain before it is
    searched (secant steps on the measured loudness, four tries at most) until the limited
    mix is within 0.2 LU of the target. Speech and music at -16 LUFS seldom reach the
    limiter, and then the first try is exact.
    """
    measured = measure(samples)
    if measured is None or target is None:
        limited = limit(samples)
        return limited, measure(limited) if measured is not None else None
    gain = target - measured
    tried: list[tuple[float, float]] = []
    for _ in range(4):
        scaled = samples * np.float32(10.0 ** (gain / 20.0))
        out = limit(scaled)
        # Loudness scales with gain exactly (the gates move with it): measure only if limited.
        got = measured + gain if out is scaled else measure(out)
        if got is None or abs(got - target) <= 0.2:
            break
        tried.append((gain, got))
        slope = 1.0  # LU per dB of gain: 1 until the limiter bites
        if len(tried) > 1 and tried[-1][0] != tried[-2][0]:
            (g1, m1), (g2, m2) = tried[-2:]
            slope = min(1.0, max(0.05, (m2 - m1) / (g2 - g1)))
        gain += (target - got) / slope
    return out, got


def limit(samples: np.ndarray, ceiling_db: float = PEAK_CEILING_DB) -> np.ndarray:
    """A look-ahead peak limiter: no sample above `ceiling_db` dBFS, and no hard clipping.

    The gain each 1.3 ms block needs is taken as the minimum over a window that looks
    4 blocks ahead and holds 60 blocks (80 ms), then smoothed by a moving average no wider
    than that window, so the smoothed gain never exceeds what any block needs; it is then
    interpolated to samples. A mix whose peaks are already below the ceiling is untouched.
    """
    ceiling = 10.0 ** (ceiling_db / 20.0)
    if samples.size == 0 or float(np.max(np.abs(samples))) <= ceiling:
        return samples
    length = samples.shape[1]
    blocks = -(-length // _LIMIT_BLOCK)
    padded = np.zeros((samples.shape[0], blocks * _LIMIT_BLOCK), np.float32)
    padded[:, :length] = np.abs(samples)
    peaks = padded.reshape(samples.shape[0], blocks, _LIMIT_BLOCK).max(axis=(0, 2))
    need = np.minimum(1.0, ceiling / np.maximum(peaks, 1e-12))
    windows = np.lib.stride_tricks.sliding_window_view
    held = windows(
        np.pad(need, (_LIMIT_HOLD, _LIMIT_AHEAD), constant_values=1.0),
        _LIMIT_HOLD + _LIMIT_AHEAD + 1,
    ).min(axis=1)
    smooth = windows(np.pad(held, _LIMIT_SMOOTH, mode="edge"), 2 * _LIMIT_SMOOTH + 1).mean(axis=1)
    # Between two block centres a sample gets a blend of both: take each block's gain as the
    # least of it and its neighbours, so the blend is never above what the sample's block needs.
    safe = windows(np.pad(smooth, 1, mode="edge"), 3).min(axis=1)
    centres = np.arange(blocks) * _LIMIT_BLOCK + (_LIMIT_BLOCK - 1) / 2
    gain = np.interp(np.arange(length), centres, safe).astype(np.float32)
    # The ceiling holds by construction; the clip only absorbs float rounding.
    return np.clip(samples * gain, -ceiling, ceiling)


# -- writing ------------------------------------------------------------------------------


class AudioTrack:
    """The mix as AAC 48 kHz stereo, written in whole AAC frames in step with the video."""

    def __init__(self, container: av.container.OutputContainer, samples: np.ndarray) -> None:
        self._container = container
        self._stream = container.add_stream("aac", rate=AUDIO_RATE, layout=AUDIO_LAYOUT)
        self._stream.bit_rate = AUDIO_BIT_RATE
        self._samples = samples
        self._written = 0

    def write_until(self, seconds: float) -> None:
        """Encode whole AAC frames up to `seconds`, so audio and video interleave."""
        target = min(round(seconds * AUDIO_RATE), self._samples.shape[1])
        while self._written + AUDIO_CHUNK <= target:
            self._write(AUDIO_CHUNK)

    def finish(self) -> None:
        """Write the rest of the mix (it ends with the picture) and flush the encoder."""
        while self._written < self._samples.shape[1]:
            self._write(min(AUDIO_CHUNK, self._samples.shape[1] - self._written))
        self._container.mux(self._stream.encode(None))

    def _write(self, count: int) -> None:
        chunk = self._samples[:, self._written : self._written + count]
        frame = av.AudioFrame.from_ndarray(
            np.ascontiguousarray(chunk), format="fltp", layout=AUDIO_LAYOUT
        )
        frame.sample_rate = AUDIO_RATE
        frame.pts = self._written
        frame.time_base = Fraction(1, AUDIO_RATE)
        self._container.mux(self._stream.encode(frame))
        self._written += count
