"""Film assembly: clips in order, an optional title card, crossfades and a soundtrack.

Clips that share codec parameters are concatenated by remuxing (no re-encode, no quality
loss, milliseconds). Anything else — a crossfade, a different size or frame rate — is
re-encoded to the first clip's size and rate; clips of another size are plainly resized
(aspect ratio not preserved, no letterbox). Only each clip's first video stream is used;
clip audio is ignored, the film's sound comes from `FilmSpec.audio`.
"""

from __future__ import annotations

import contextlib
import itertools
import tempfile
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Literal

import av
import av.container
import numpy as np
from PIL import Image, ImageDraw, ImageFont

from studio.film.video import (
    VideoInfo,
    add_video_stream,
    encode_video,
    open_output,
    probe,
    read_frames,
)

__all__ = ["AssemblyError", "FilmResult", "FilmSpec", "assemble"]

AUDIO_RATE = 48_000
AUDIO_LAYOUT = "stereo"
AUDIO_CHUNK = 1024  # AAC frame size
# Codecs the mp4 muxer takes as they are; others are re-encoded to H.264.
_REMUXABLE = frozenset({"h264", "hevc", "av1", "vp9", "mpeg4"})

Progress = Callable[[int, int], None]


@dataclass(frozen=True)
class FilmSpec:
    """What to assemble. `crossfade` and `title_seconds` are in seconds."""

    clips: Sequence[Path]
    out: Path
    crossfade: float = 0.0
    title: str | None = None
    title_seconds: float = 2.0
    audio: Path | None = None
    metadata: Mapping[str, str] = field(default_factory=dict)
    force_reencode: bool = False  # benchmarks and tests: skip the remux fast path


@dataclass(frozen=True)
class FilmResult:
    """The written film; `seconds` is the wall-clock time assembly took."""

    info: VideoInfo
    method: Literal["remux", "reencode"]
    seconds: float


class AssemblyError(ValueError):
    """A film cannot be assembled from these inputs; the message is meant for the user."""


@dataclass(frozen=True)
class _Clip:
    path: Path
    info: VideoInfo
    time_base: Fraction
    extradata: bytes

    @property
    def params(self) -> tuple[object, ...]:
        """What must match for packets to be concatenated into one stream."""
        i = self.info
        return (i.codec, i.width, i.height, i.pix_fmt, i.fps, self.time_base, self.extradata)


def assemble(spec: FilmSpec, on_progress: Progress | None = None) -> FilmResult:
    """Assemble `spec.clips` (in order) into `spec.out`; raises AssemblyError on bad inputs."""
    started = time.perf_counter()
    clips = [_open_clip(index, Path(path)) for index, path in enumerate(spec.clips, 1)]
    _validate(spec, clips)
    if spec.audio is not None:
        _check_audio(Path(spec.audio))
    progress = on_progress or (lambda done, total: None)
    with tempfile.TemporaryDirectory(prefix="film-") as tmp:
        sources = clips
        if spec.title is not None and _can_remux(spec, clips):
            sources = [_title_clip(spec, clips[0], Path(tmp) / "title.mp4"), *clips]
        if _can_remux(spec, sources):
            method: Literal["remux", "reencode"] = "remux"
            _remux(spec, sources, progress)
        else:
            method = "reencode"
            _reencode(spec, clips, progress)
    return FilmResult(probe(Path(spec.out)), method, time.perf_counter() - started)


# -- inputs -------------------------------------------------------------------------------


def _open_clip(index: int, path: Path) -> _Clip:
    try:
        info = probe(path)
        with av.open(str(path)) as container:
            stream = container.streams.video[0]
            time_base = Fraction(stream.time_base or 0)
            extradata = bytes(stream.codec_context.extradata or b"")
    except (av.error.FFmpegError, OSError, ValueError, IndexError) as exc:
        raise AssemblyError(f"clip {index} ({path.name}) is not a readable video: {exc}") from exc
    if info.frames < 1:
        raise AssemblyError(f"clip {index} ({path.name}) has no frames")
    return _Clip(path, info, time_base, extradata)


def _validate(spec: FilmSpec, clips: Sequence[_Clip]) -> None:
    if not clips:
        raise AssemblyError("no clips to assemble: choose at least one take")
    if not Path(spec.out).parent.is_dir():
        raise AssemblyError(f"output folder {Path(spec.out).parent} does not exist")
    if spec.crossfade < 0:
        raise AssemblyError(f"crossfade must be 0 or more seconds, got {spec.crossfade}")
    if spec.title is not None and spec.title_seconds <= 0:
        raise AssemblyError(f"title_seconds must be positive, got {spec.title_seconds}")
    if spec.crossfade == 0:
        return
    fps = clips[0].info.fps
    overlap = _overlap_frames(spec, fps)
    for index, clip in enumerate(clips, 1):
        if overlap > _frames_at(clip, fps):
            raise AssemblyError(
                f"crossfade ({spec.crossfade:g} s) is longer than clip {index} "
                f"({clip.path.name}, {clip.info.frames / float(clip.info.fps):g} s)"
            )
    if spec.title is not None and overlap > _seconds_to_frames(spec.title_seconds, fps):
        raise AssemblyError(
            f"crossfade ({spec.crossfade:g} s) is longer than the title card "
            f"({spec.title_seconds:g} s)"
        )


def _check_audio(path: Path) -> None:
    try:
        with av.open(str(path)) as container:
            if not container.streams.audio:
                raise AssemblyError(f"audio file {path.name} has no audio stream")
            next(container.decode(container.streams.audio[0]))
    except StopIteration:
        raise AssemblyError(f"audio file {path.name} holds no sound") from None
    except (av.error.FFmpegError, OSError) as exc:
        raise AssemblyError(f"audio file {path.name} cannot be decoded: {exc}") from exc


def _can_remux(spec: FilmSpec, clips: Sequence[_Clip]) -> bool:
    if spec.force_reencode or spec.crossfade > 0:
        return False
    first = clips[0]
    return (
        first.info.codec in _REMUXABLE
        and first.time_base > 0
        and all(c.params == first.params for c in clips)
    )


def _seconds_to_frames(seconds: float, fps: Fraction) -> int:
    return max(1, round(seconds * fps))


def _overlap_frames(spec: FilmSpec, fps: Fraction) -> int:
    return round(spec.crossfade * fps) if spec.crossfade > 0 else 0


def _frames_at(clip: _Clip, fps: Fraction) -> int:
    """How many frames `clip` lasts once re-timed to `fps`."""
    if clip.info.fps == fps:
        return clip.info.frames
    return max(1, round(clip.info.frames * fps / clip.info.fps))


# -- title card ---------------------------------------------------------------------------


def _title_image(text: str, width: int, height: int) -> Image.Image:
    """White text centred on black, wrapped to 90% of the width."""
    image = Image.new("RGB", (width, height), "black")
    draw = ImageDraw.Draw(image)
    font = ImageFont.load_default(size=max(8, min(height // 9, width // 14)))
    lines = _wrap(" ".join(text.split()), font, width * 0.9)
    draw.multiline_text(
        (width / 2, height / 2),
        "\n".join(lines),
        font=font,
        fill="white",
        anchor="mm",
        align="center",
        spacing=max(2, height // 60),
    )
    return image


def _wrap(text: str, font: ImageFont.FreeTypeFont | ImageFont.ImageFont, width: float) -> list[str]:
    lines: list[str] = []
    for word in text.split(" "):
        candidate = f"{lines[-1]} {word}" if lines else word
        if lines and font.getlength(candidate) <= width:
            lines[-1] = candidate
        else:
            lines.append(word)
    return lines[:4] or [""]


def _title_clip(spec: FilmSpec, like: _Clip, path: Path) -> _Clip:
    """The title card encoded like the clips, so it can be remuxed in front of them."""
    image = np.asarray(_title_image(spec.title or "", like.info.width, like.info.height))
    count = _seconds_to_frames(spec.title_seconds, like.info.fps)
    encode_video(itertools.repeat(image, count), path, like.info.fps)
    return _open_clip(0, path)


# -- remux --------------------------------------------------------------------------------


def _remux(spec: FilmSpec, clips: Sequence[_Clip], progress: Progress) -> None:
    total = sum(c.info.frames for c in clips)
    done = 0
    with open_output(Path(spec.out), spec.metadata) as container:
        with av.open(str(clips[0].path)) as first:
            out_stream = container.add_stream_from_template(first.streams.video[0])
        audio = _AudioTrack(container, Path(spec.audio)) if spec.audio else None
        offset = 0  # in the clips' shared time base
        time_base = clips[0].time_base
        for clip in clips:
            with av.open(str(clip.path)) as source:
                stream = source.streams.video[0]
                start = stream.start_time or 0
                frame_ticks = round(1 / (clip.info.fps * time_base))  # for packets without one
                end = start
                for packet in source.demux(stream):
                    if packet.size == 0 or packet.pts is None or packet.dts is None:
                        continue  # the demuxer's trailing flush packet
                    end = max(end, packet.pts + (packet.duration or frame_ticks))
                    packet.pts += offset - start
                    packet.dts += offset - start
                    packet.stream = out_stream
                    container.mux(packet)
                    done += 1
                    progress(min(done, total), total)
                    if audio:
                        audio.write_until(float(packet.dts * time_base))
            offset += end - start
        if audio:
            audio.finish(float(offset * time_base))


# -- re-encode ----------------------------------------------------------------------------


def _reencode(spec: FilmSpec, clips: Sequence[_Clip], progress: Progress) -> None:
    first = clips[0].info
    # yuv420p needs even sizes: a clip of odd size from elsewhere loses its last row/column.
    width, height, fps = first.width - first.width % 2, first.height - first.height % 2, first.fps
    overlap = _overlap_frames(spec, fps)
    sources: list[tuple[int, Iterable[np.ndarray]]] = []
    if spec.title is not None:
        card = np.asarray(_title_image(spec.title, width, height))
        count = _seconds_to_frames(spec.title_seconds, fps)
        sources.append((count, itertools.repeat(card, count)))
    for index, clip in enumerate(clips, 1):
        count = _frames_at(clip, fps)
        sources.append((count, _conformed(index, clip, width, height, fps, count)))
    total = sum(count for count, _ in sources) - overlap * (len(sources) - 1)
    with open_output(Path(spec.out), spec.metadata) as container:
        stream = add_video_stream(container, width, height, fps)
        audio = _AudioTrack(container, Path(spec.audio)) if spec.audio else None
        frames = _crossfade([frames for _, frames in sources], overlap)
        for index, frame in enumerate(frames):
            video_frame = av.VideoFrame.from_ndarray(frame, format="rgb24")
            video_frame.pts = index
            container.mux(stream.encode(video_frame))
            progress(index + 1, total)
            if audio:
                audio.write_until(float(index / fps))
        container.mux(stream.encode(None))
        if audio:
            audio.finish(float(total / fps))


def _conformed(
    index: int, clip: _Clip, width: int, height: int, fps: Fraction, count: int
) -> Iterator[np.ndarray]:
    """Exactly `count` frames of `clip` at `width`×`height`, re-timed to `fps`."""
    ratio = clip.info.fps / fps  # source frames per output frame
    last: np.ndarray | None = None
    produced = 0
    try:
        with contextlib.closing(read_frames(clip.path)) as frames:
            for source_index, frame in enumerate(frames):
                # Output frame k shows source frame floor(k * ratio): drops or repeats frames.
                shown = produced
                while shown < count and int(shown * ratio) <= source_index:
                    shown += 1
                if shown > produced:
                    last = _resized(frame, width, height)
                    yield from itertools.repeat(last, shown - produced)
                    produced = shown
                if produced >= count:
                    return
    except av.error.FFmpegError as exc:
        raise AssemblyError(f"clip {index} ({clip.path.name}) failed to decode: {exc}") from exc
    if last is None:
        raise AssemblyError(f"clip {index} ({clip.path.name}) has no decodable frames")
    for _ in range(count - produced):  # the container promised more frames than it held
        yield last


def _resized(frame: np.ndarray, width: int, height: int) -> np.ndarray:
    if frame.shape[1] == width and frame.shape[0] == height:
        return frame
    return np.asarray(Image.fromarray(frame).resize((width, height), Image.Resampling.BILINEAR))


def _crossfade(sources: Sequence[Iterable[np.ndarray]], overlap: int) -> Iterator[np.ndarray]:
    """Concatenate `sources`, blending the last `overlap` frames of each into the next."""
    pending: deque[np.ndarray] = deque()
    for number, source in enumerate(sources):
        tail = list(pending) if number else []
        pending.clear()
        for index, frame in enumerate(source):
            if index < len(tail):
                frame = _blend(tail[index], frame, (index + 1) / (len(tail) + 1))
            pending.append(frame)
            if len(pending) > overlap:
                yield pending.popleft()
    yield from pending


def _blend(a: np.ndarray, b: np.ndarray, weight: float) -> np.ndarray:
    mixed = a.astype(np.float32) * (1.0 - weight) + b.astype(np.float32) * weight
    return np.rint(mixed).astype(np.uint8)


# -- audio --------------------------------------------------------------------------------


class _AudioTrack:
    """AAC 48 kHz stereo from an audio file, written in step with the video, padded or trimmed."""

    def __init__(self, container: av.container.OutputContainer, source: Path) -> None:
        self._container = container
        self._source = source
        self._stream = container.add_stream("aac", rate=AUDIO_RATE, layout=AUDIO_LAYOUT)
        self._pcm = _pcm(source)
        self._buffer = np.zeros((2, 0), np.float32)
        self._written = 0

    def write_until(self, seconds: float) -> None:
        """Encode whole AAC frames up to `seconds` so audio and video interleave."""
        target = round(seconds * AUDIO_RATE)
        while self._written + AUDIO_CHUNK <= target:
            self._write(AUDIO_CHUNK)

    def finish(self, seconds: float) -> None:
        """Write up to exactly `seconds` (silence past the source's end) and flush."""
        target = round(seconds * AUDIO_RATE)
        while self._written < target:
            self._write(min(AUDIO_CHUNK, target - self._written))
        self._container.mux(self._stream.encode(None))

    def _write(self, samples: int) -> None:
        while self._buffer.shape[1] < samples:
            self._buffer = np.concatenate([self._buffer, next(self._pcm)], axis=1)
        chunk, self._buffer = self._buffer[:, :samples], self._buffer[:, samples:]
        frame = av.AudioFrame.from_ndarray(
            np.ascontiguousarray(chunk), format="fltp", layout=AUDIO_LAYOUT
        )
        frame.sample_rate = AUDIO_RATE
        frame.pts = self._written
        frame.time_base = Fraction(1, AUDIO_RATE)
        self._container.mux(self._stream.encode(frame))
        self._written += samples


def _pcm(path: Path) -> Iterator[np.ndarray]:
    """2×N float32 blocks of `path` at 48 kHz stereo, then silence for ever."""
    resampler = av.AudioResampler(format="fltp", layout=AUDIO_LAYOUT, rate=AUDIO_RATE)
    try:
        with av.open(str(path)) as container:
            for frame in container.decode(container.streams.audio[0]):
                for resampled in resampler.resample(frame):
                    yield resampled.to_ndarray()
        for resampled in resampler.resample(None):
            yield resampled.to_ndarray()
    except av.error.FFmpegError as exc:
        raise AssemblyError(f"audio file {path.name} failed to decode: {exc}") from exc
    silence = np.zeros((2, AUDIO_CHUNK), np.float32)
    while True:
        yield silence
