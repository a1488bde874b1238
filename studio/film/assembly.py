"""Film assembly: clips in order, an optional title card, crossfades, sound and subtitles.

Clips that share codec parameters are concatenated by remuxing (no re-encode, no quality
loss, milliseconds). Anything else — a crossfade, a different size or frame rate, burned-in
subtitles — is re-encoded to the first clip's size and rate; clips of another size are
plainly resized (aspect ratio not preserved, no letterbox). Only each clip's first video
stream is used; clip audio is ignored.

The film's sound is mixed by studio/film/mix.py (dialogue lines, shot sounds, the music
ducked under speech, loudness-normalised) and its subtitles come from the same lines
(studio/film/subtitles.py). Both need each shot's start in the film, so `_Layout` is taken
from what the video writers do: packet spans for a remux (title card included),
frame counts at the film's rate less the crossfade overlaps for a re-encode. The mix is
made before the output is opened, so a bad sound file fails before anything is written.
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
from typing import Literal, Protocol

import av
import av.container
import numpy as np
from PIL import Image, ImageDraw, ImageFont

from studio.film.mix import AudioTrack, Mix, MixError, ShotSound, SpokenLine, check_inputs, mix
from studio.film.subtitles import (
    Captions,
    Cue,
    SubtitleTrack,
    check_language,
    cue_text,
    cues_for,
    screens,
    staged_files,
)
from studio.film.video import (
    VideoInfo,
    add_video_stream,
    encode_video,
    open_output,
    probe,
    read_frames,
)

__all__ = [
    "AssemblyError",
    "Cue",
    "FilmResult",
    "FilmSpec",
    "ShotSound",
    "SpokenLine",
    "assemble",
]

# Codecs the mp4 muxer takes as they are; others are re-encoded to H.264.
_REMUXABLE = frozenset({"h264", "hevc", "av1", "vp9", "mpeg4"})

Progress = Callable[[int, int], None]


@dataclass(frozen=True)
class FilmSpec:
    """What to assemble. `crossfade` and `title_seconds` are in seconds.

    `audio` is the music, from the film's start. `lines` are placed in their shots and
    mixed over it (the music `duck_db` down under speech); `sounds` play under their shots.
    `loudness` is the mix's integrated LUFS target (None: levels as they are). With lines,
    `subtitles` adds a soft track and .srt/.vtt files beside `out`; `burn_subtitles` draws
    the cues into the pictures (a re-encode).
    """

    clips: Sequence[Path]
    out: Path
    crossfade: float = 0.0
    title: str | None = None
    title_seconds: float = 2.0
    audio: Path | None = None
    metadata: Mapping[str, str] = field(default_factory=dict)
    force_reencode: bool = False  # benchmarks and tests: skip the remux fast path
    lines: Sequence[SpokenLine] = ()
    sounds: Sequence[ShotSound] = ()
    loudness: float | None = -16.0
    duck_db: float = 12.0
    subtitles: bool = True
    burn_subtitles: bool = False
    speaker_names: bool = False
    subtitle_language: str = "und"  # ISO 639-2 code of the soft track


@dataclass(frozen=True)
class FilmResult:
    """The written film; `seconds` is the wall-clock time assembly took.

    `cues` are the subtitles in film seconds (also when no files were asked for);
    `loudness` the mix's measured integrated LUFS; `warnings` what was cut or fell back.
    """

    info: VideoInfo
    method: Literal["remux", "reencode"]
    seconds: float
    subtitles: tuple[Path, ...] = ()
    cues: tuple[Cue, ...] = ()
    loudness: float | None = None
    warnings: tuple[str, ...] = ()


class AssemblyError(ValueError):
    """A film cannot be assembled from these inputs; the message is meant for the user."""


@dataclass(frozen=True)
class _Clip:
    path: Path
    info: VideoInfo
    time_base: Fraction
    extradata: bytes
    start: int = 0  # the stream's start, in time_base ticks
    span: int = 0  # ticks from start to the end of its last frame: its length in a remux

    @property
    def params(self) -> tuple[object, ...]:
        """What must match for packets to be concatenated into one stream."""
        i = self.info
        return (i.codec, i.width, i.height, i.pix_fmt, i.fps, self.time_base, self.extradata)


@dataclass(frozen=True)
class _Layout:
    """Where each of FilmSpec.clips is in the film, in film seconds, and the film's length."""

    starts: tuple[float, ...]
    ends: tuple[float, ...]
    seconds: float


class _Track(Protocol):
    """A stream written in step with the video: the mix, the soft subtitles."""

    def write_until(self, seconds: float) -> None: ...

    def finish(self) -> None: ...


_Tracks = Callable[[av.container.OutputContainer], list[_Track]]


def assemble(spec: FilmSpec, on_progress: Progress | None = None) -> FilmResult:
    """Assemble `spec.clips` (in order) into `spec.out`; raises AssemblyError on bad inputs."""
    started = time.perf_counter()
    clips = [_open_clip(index, Path(path)) for index, path in enumerate(spec.clips, 1)]
    _validate(spec, clips)
    try:
        check_inputs(spec.lines, spec.sounds, len(clips), spec.duck_db, spec.loudness)
        check_language(spec.subtitle_language)
    except ValueError as exc:
        raise AssemblyError(str(exc)) from exc
    progress = on_progress or (lambda done, total: None)
    with tempfile.TemporaryDirectory(prefix="film-") as tmp:
        sources = clips
        if spec.title is not None and _can_remux(spec, clips):
            sources = [_title_clip(spec, clips[0], Path(tmp) / "title.mp4"), *clips]
        remux = _can_remux(spec, sources)
        layout = _remux_layout(sources, len(clips)) if remux else _reencode_layout(spec, clips)
        sound = _mix(spec, layout)
        cues = cues_for(sound.voices, spec.speaker_names) if sound else ()
        shown = screens(cues)
        tracks = _side_tracks(spec, sound, shown)
        notes = list(sound.warnings) if sound else []
        files = staged_files(cues, Path(spec.out)) if spec.subtitles and cues else None
        with files or contextlib.nullcontext() as staged:
            if remux:
                _remux(spec, sources, progress, tracks)
            else:
                width, height = _even(clips[0].info)
                captions = Captions(shown, width, height) if spec.burn_subtitles else None
                notes += captions.warnings if captions and shown else ()
                _reencode(spec, clips, progress, tracks, captions)
            written = staged.commit() if staged else ()
    return FilmResult(
        probe(Path(spec.out)),
        "remux" if remux else "reencode",
        time.perf_counter() - started,
        subtitles=written,
        cues=cues,
        loudness=sound.loudness if sound else None,
        warnings=tuple(notes),
    )


def _side_tracks(spec: FilmSpec, sound: Mix | None, shown: Sequence[Cue]) -> _Tracks:
    """What adds the mix and the soft subtitles to the output, after the video stream."""

    def add(container: av.container.OutputContainer) -> list[_Track]:
        added: list[_Track] = []
        if sound is not None:
            added.append(AudioTrack(container, sound.samples))
        if spec.subtitles and shown:
            added.append(SubtitleTrack(container, shown, spec.subtitle_language))
        return added

    return add


def _mix(spec: FilmSpec, layout: _Layout) -> Mix | None:
    """The film's soundtrack, or None when there is no sound at all (a silent film)."""
    if spec.audio is None and not spec.lines and not spec.sounds:
        return None
    try:
        return mix(
            layout.seconds,
            music=Path(spec.audio) if spec.audio is not None else None,
            lines=[(line, layout.starts[line.clip] + line.offset) for line in spec.lines],
            sounds=[(s, layout.starts[s.clip], layout.ends[s.clip]) for s in spec.sounds],
            duck_db=spec.duck_db,
            loudness=spec.loudness,
            crossfade=spec.crossfade,
        )
    except MixError as exc:
        raise AssemblyError(str(exc)) from exc


# -- inputs -------------------------------------------------------------------------------


def _open_clip(index: int, path: Path) -> _Clip:
    try:
        info = probe(path)
        with av.open(str(path)) as container:
            stream = container.streams.video[0]
            time_base = Fraction(stream.time_base or 0)
            extradata = bytes(stream.codec_context.extradata or b"")
        start, span = _span(path, info.fps, time_base) if time_base > 0 else (0, 0)
    except (av.error.FFmpegError, OSError, ValueError, IndexError) as exc:
        raise AssemblyError(f"clip {index} ({path.name}) is not a readable video: {exc}") from exc
    if info.frames < 1:
        raise AssemblyError(f"clip {index} ({path.name}) has no frames")
    return _Clip(path, info, time_base, extradata, start, span)


def _span(path: Path, fps: Fraction, time_base: Fraction) -> tuple[int, int]:
    """The first video stream's start and length in ticks, from its packets (no decoding)."""
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        start = stream.start_time or 0
        frame_ticks = round(1 / (fps * time_base))  # for packets without a duration
        end = start
        for packet in container.demux(stream):
            if packet.size == 0 or packet.pts is None or packet.dts is None:
                continue  # the demuxer's trailing flush packet
            end = max(end, packet.pts + (packet.duration or frame_ticks))
    return start, end - start


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


def _can_remux(spec: FilmSpec, clips: Sequence[_Clip]) -> bool:
    if spec.force_reencode or spec.crossfade > 0:
        return False
    if spec.burn_subtitles and any(cue_text(line) for line in spec.lines):
        return False  # the cues are drawn into the pictures
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


def _even(info: VideoInfo) -> tuple[int, int]:
    """The re-encoded film's size: yuv420p needs even sizes (an odd clip loses a row/column)."""
    return info.width - info.width % 2, info.height - info.height % 2


def _remux_layout(sources: Sequence[_Clip], count: int) -> _Layout:
    """Packet spans laid end to end, as `_remux` writes them; a title card is the first source."""
    edges = [float(e * sources[0].time_base) for e in itertools.accumulate(c.span for c in sources)]
    edges.insert(0, 0.0)
    first = len(sources) - count  # 1 with a title card in front
    return _Layout(tuple(edges[first:-1]), tuple(edges[first + 1 :]), edges[-1])


def _reencode_layout(spec: FilmSpec, clips: Sequence[_Clip]) -> _Layout:
    """Frame counts at the film's rate, each crossfade overlapping neighbours, as `_reencode`."""
    fps = clips[0].info.fps
    overlap = _overlap_frames(spec, fps)
    position = 0 if spec.title is None else _seconds_to_frames(spec.title_seconds, fps) - overlap
    starts, ends = [], []
    for clip in clips:
        count = _frames_at(clip, fps)
        starts.append(float(position / fps))
        ends.append(float((position + count) / fps))
        position += count - overlap
    return _Layout(tuple(starts), tuple(ends), float((position + overlap) / fps))


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


def _remux(spec: FilmSpec, clips: Sequence[_Clip], progress: Progress, tracks: _Tracks) -> None:
    total = sum(c.info.frames for c in clips)
    done = 0
    with open_output(Path(spec.out), spec.metadata) as container:
        with av.open(str(clips[0].path)) as first:
            out_stream = container.add_stream_from_template(first.streams.video[0])
        others = tracks(container)
        offset = 0  # in the clips' shared time base
        time_base = clips[0].time_base
        for clip in clips:
            with av.open(str(clip.path)) as source:
                stream = source.streams.video[0]
                for packet in source.demux(stream):
                    if packet.size == 0 or packet.pts is None or packet.dts is None:
                        continue  # the demuxer's trailing flush packet
                    packet.pts += offset - clip.start
                    packet.dts += offset - clip.start
                    packet.stream = out_stream
                    container.mux(packet)
                    done += 1
                    progress(min(done, total), total)
                    for track in others:
                        track.write_until(float(packet.dts * time_base))
            offset += clip.span  # the same spans `_remux_layout` placed the sound by
        for track in others:
            track.finish()


# -- re-encode ----------------------------------------------------------------------------


def _reencode(
    spec: FilmSpec,
    clips: Sequence[_Clip],
    progress: Progress,
    tracks: _Tracks,
    captions: Captions | None,
) -> None:
    (width, height), fps = _even(clips[0].info), clips[0].info.fps
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
        others = tracks(container)
        frames = _crossfade([frames for _, frames in sources], overlap)
        for index, frame in enumerate(frames):
            if captions is not None:
                frame = captions.draw(frame, float(index / fps))
            video_frame = av.VideoFrame.from_ndarray(frame, format="rgb24")
            video_frame.pts = index
            container.mux(stream.encode(video_frame))
            progress(index + 1, total)
            for track in others:
                track.write_until(float(index / fps))
        container.mux(stream.encode(None))
        for track in others:
            track.finish()


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
