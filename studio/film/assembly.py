"""Film assembly: clips in order, trimmed, with transitions, a title card, sound and subtitles.

Each clip may be trimmed and may end in a cut, a dissolve or a fade (`Edit`, planned by
studio/film/edits.py); the legacy `crossfade` dissolves at every boundary. Work is done in
one of three ways (`FilmResult.method`):

- `remux`: every clip is used whole and cut to the next, and all share codec parameters:
  packets are concatenated (no re-encode, no quality loss, milliseconds). A title card is
  encoded like the clips and put in front.
- `mixed`: the clips are grouped into runs split at every cut. A run that is one whole,
  untouched clip is copied as it is; every other run (a trimmed clip, clips joined by a
  dissolve or a fade, the fade-in) is re-encoded on its own with the studio's encoder, and
  the runs are then concatenated by remuxing. This needs the untouched clips to share the
  encoder's parameters (the studio's own takes do), which is checked up front.
- `reencode`: everything else (a crossfade, other sizes, rates or codecs, burned-in
  subtitles, `force_reencode`) is re-encoded in one pass to the first clip's size and rate;
  clips of another size are plainly resized (no letterbox). Only each clip's first video
  stream is used; clip audio is ignored.

The film's sound is mixed by studio/film/mix.py (dialogue lines, shot sounds, the music
ducked under speech, loudness-normalised) and its subtitles come from the same lines
(studio/film/subtitles.py). Both need each shot's start in the film, so the `Layout` is taken
from what the video writers do: packet spans of the copied and re-encoded runs laid end to
end (frame positions inside a re-encoded run), or frame counts at the film's rate less the
dissolve overlaps for a re-encode. The mix is made before the output is opened, so a bad
sound file fails before anything is written.
"""

from __future__ import annotations

import contextlib
import itertools
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Literal, Protocol, TypeVar

import av
import av.container
import numpy as np

from studio.film.edits import (
    Edit,
    EditError,
    Footage,
    Layout,
    Piece,
    layout,
    pictures,
    plan,
    positions,
    retimed,
    runs,
    title_card,
    untouched,
)
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
)

__all__ = [
    "AssemblyError",
    "Cue",
    "Edit",
    "FilmResult",
    "FilmSpec",
    "ShotSound",
    "SpokenLine",
    "assemble",
]

# Codecs the mp4 muxer takes as they are; others are re-encoded to H.264.
_REMUXABLE = frozenset({"h264", "hevc", "av1", "vp9", "mpeg4"})

Progress = Callable[[int, int], None]
Method = Literal["remux", "mixed", "reencode"]
_T = TypeVar("_T")


@dataclass(frozen=True)
class FilmSpec:
    """What to assemble. `crossfade`, `title_seconds` and `fade_in` are in seconds.

    `edits` are empty (whole clips, `crossfade` a dissolve at every boundary) or one per
    clip: its trims and the transition at its end (then `crossfade` must be 0 and the title
    card cuts to the first clip). `fade_in` fades the first clip up from black.
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
    edits: Sequence[Edit] = ()
    fade_in: float = 0.0


@dataclass(frozen=True)
class FilmResult:
    """The written film; `seconds` is the wall-clock time assembly took.

    `cues` are the subtitles in film seconds (also when no files were asked for);
    `loudness` the mix's measured integrated LUFS; `warnings` what was cut or fell back;
    `reencoded_clips` how many of the clips were re-encoded (0 for a remux).
    """

    info: VideoInfo
    method: Method
    seconds: float
    subtitles: tuple[Path, ...] = ()
    cues: tuple[Cue, ...] = ()
    loudness: float | None = None
    warnings: tuple[str, ...] = ()
    reencoded_clips: int = 0


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


@dataclass
class _Meter:
    """Progress in frames written, reported as (done, total); `done` never goes back."""

    report: Progress
    total: int
    done: int = 0

    def step(self, frames: int = 1) -> None:
        self.done = min(self.total, self.done + frames)
        self.report(self.done, self.total)

    def counted(self, items: Iterable[_T]) -> Iterator[_T]:
        for item in items:
            yield item
            self.step()

    def finish(self) -> None:
        if self.done < self.total:  # a container promised more frames than it held
            self.step(self.total - self.done)


class _Track(Protocol):
    """A stream written in step with the video: the mix, the soft subtitles."""

    def write_until(self, seconds: float) -> None: ...

    def finish(self) -> None: ...


_Tracks = Callable[[av.container.OutputContainer], list[_Track]]


def assemble(spec: FilmSpec, on_progress: Progress | None = None) -> FilmResult:
    """Assemble `spec.clips` (in order) into `spec.out`; raises AssemblyError on bad inputs."""
    started = time.perf_counter()
    clips = [_open_clip(index, Path(path)) for index, path in enumerate(spec.clips, 1)]
    pieces = _plan(spec, clips)
    try:
        check_inputs(spec.lines, spec.sounds, len(clips), spec.duck_db, spec.loudness)
        check_language(spec.subtitle_language)
    except ValueError as exc:
        raise AssemblyError(str(exc)) from exc
    fps = clips[0].info.fps
    grouped = runs(pieces)
    with tempfile.TemporaryDirectory(prefix="film-") as tmp:
        method = _method(spec, clips, grouped, Path(tmp))
        meter = _Meter(on_progress or (lambda done, total: None), _total(method, clips, grouped))
        sources: list[_Clip] = []
        if method != "reencode":
            sources = _sources(spec, clips, grouped, Path(tmp), meter)
            if any(s.params != sources[0].params for s in sources):
                # Unexpected (the encoder was checked up front); never write a broken stream.
                method, sources = "reencode", []
                meter.total = meter.done + positions(pieces)[1]
        spans = [s.span * s.time_base for s in sources] if sources else None
        placed = layout(grouped, fps, len(clips), spans)
        sound = _mix(spec, placed)
        cues = cues_for(sound.voices, spec.speaker_names) if sound else ()
        shown = screens(cues)
        tracks = _side_tracks(spec, sound, shown)
        notes = list(sound.warnings) if sound else []
        files = staged_files(cues, Path(spec.out)) if spec.subtitles and cues else None
        with files or contextlib.nullcontext() as staged:
            if sources:
                _remux(spec, sources, [untouched(run) for run in grouped], meter, tracks)
            else:
                width, height = _even(clips[0].info)
                captions = Captions(shown, width, height) if spec.burn_subtitles else None
                notes += captions.warnings if captions and shown else ()
                _reencode(spec, clips, pieces, meter, tracks, captions)
            written = staged.commit() if staged else ()
        meter.finish()
    return FilmResult(
        probe(Path(spec.out)),
        method,
        time.perf_counter() - started,
        subtitles=written,
        cues=cues,
        loudness=sound.loudness if sound else None,
        warnings=tuple(notes),
        reencoded_clips=_reencoded(method, grouped, len(clips)),
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


def _mix(spec: FilmSpec, layout: Layout) -> Mix | None:
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


def _plan(spec: FilmSpec, clips: Sequence[_Clip]) -> list[Piece]:
    """The film's pieces (studio/film/edits.py), once the inputs are known to be usable."""
    if not clips:
        raise AssemblyError("no clips to assemble: choose at least one take")
    if not Path(spec.out).parent.is_dir():
        raise AssemblyError(f"output folder {Path(spec.out).parent} does not exist")
    if spec.crossfade < 0:
        raise AssemblyError(f"crossfade must be 0 or more seconds, got {spec.crossfade}")
    if spec.title is not None and spec.title_seconds <= 0:
        raise AssemblyError(f"title_seconds must be positive, got {spec.title_seconds}")
    fps = clips[0].info.fps
    footage = [Footage.at(c.path.name, c.info.fps, c.info.frames, fps) for c in clips]
    title = None if spec.title is None else spec.title_seconds
    try:
        return plan(
            footage,
            fps,
            spec.edits,
            crossfade=spec.crossfade,
            title_seconds=title,
            fade_in=spec.fade_in,
        )
    except EditError as exc:
        raise AssemblyError(str(exc)) from exc


def _method(
    spec: FilmSpec, clips: Sequence[_Clip], grouped: Sequence[list[Piece]], tmp: Path
) -> Method:
    """How to write the film: copy what can be copied, re-encode the rest, or all of it."""
    if spec.force_reencode or spec.crossfade > 0:
        return "reencode"
    if spec.burn_subtitles and any(cue_text(line) for line in spec.lines):
        return "reencode"  # the cues are drawn into the pictures
    copied = [clips[index] for run in grouped if (index := _copied(run)) is not None]
    if not copied:
        return "reencode"  # nothing to copy: one pass beats encoding runs and remuxing them
    first = copied[0]
    if first.info.codec not in _REMUXABLE or first.time_base <= 0:
        return "reencode"
    if any(c.params != first.params for c in copied):
        return "reencode"
    if len(copied) == len(grouped):
        return "remux"
    # Runs will be encoded (a title card at least): their packets must fit beside the copies.
    if _encoder_params(clips[0], tmp) != first.params:
        return "reencode"
    return "remux" if len(copied) == len(clips) else "mixed"


def _copied(run: Sequence[Piece]) -> int | None:
    """The clip a run copies as it is, or None when the run is re-encoded."""
    return run[0].clip if untouched(run) else None


def _encoder_params(like: _Clip, tmp: Path) -> tuple[object, ...]:
    """The codec parameters the studio's encoder gives at the film's size and rate.

    libx264 writes its headers (SPS/PPS, the extradata) when it opens, from its settings,
    size and rate alone, so one black frame tells what every run encoded here will carry.
    """
    width, height = _even(like.info)
    path = tmp / "encoder.mp4"
    encode_video([np.zeros((height, width, 3), np.uint8)], path, like.info.fps)
    return _open_clip(0, path).params


def _total(method: Method, clips: Sequence[_Clip], grouped: Sequence[list[Piece]]) -> int:
    """Frames to report progress over: encoded frames plus copied packets."""
    if method == "reencode":
        return positions([piece for run in grouped for piece in run])[1]
    return sum(
        clips[index].info.frames if (index := _copied(run)) is not None else positions(run)[1]
        for run in grouped
    )


def _reencoded(method: Method, grouped: Sequence[list[Piece]], count: int) -> int:
    if method == "reencode":
        return count
    return sum(1 for run in grouped if not untouched(run) for p in run if p.clip is not None)


def _even(info: VideoInfo) -> tuple[int, int]:
    """The re-encoded film's size: yuv420p needs even sizes (an odd clip loses a row/column)."""
    return info.width - info.width % 2, info.height - info.height % 2


# -- pictures -----------------------------------------------------------------------------


def _pictures(
    spec: FilmSpec, clips: Sequence[_Clip], run: Sequence[Piece], fps: Fraction
) -> Iterator[np.ndarray]:
    """The frames of a run of pieces at the film's size and rate: trimmed, faded, dissolved."""
    size = _even(clips[0].info)

    def frames_of(piece: Piece) -> Iterable[np.ndarray]:
        if piece.clip is None:
            return itertools.repeat(title_card(spec.title or "", *size), piece.count)
        return _decoding(piece.clip + 1, clips[piece.clip], fps, size, piece)

    return pictures(run, frames_of)


def _decoding(
    index: int, clip: _Clip, fps: Fraction, size: tuple[int, int], piece: Piece
) -> Iterator[np.ndarray]:
    """The piece's frames of `clip`, a decoding failure reported for the creator."""
    try:
        yield from retimed(clip.path, clip.info.fps, fps, size, piece.first, piece.count)
    except (av.error.FFmpegError, EditError) as exc:
        failed = str(exc) if isinstance(exc, EditError) else f"failed to decode: {exc}"
        raise AssemblyError(f"clip {index} ({clip.path.name}) {failed}") from exc


# -- remux (copied runs and re-encoded runs) ----------------------------------------------


def _sources(
    spec: FilmSpec,
    clips: Sequence[_Clip],
    grouped: Sequence[list[Piece]],
    tmp: Path,
    meter: _Meter,
) -> list[_Clip]:
    """One file per run: the clip itself when it is copied, else the run encoded in `tmp`."""
    fps = clips[0].info.fps
    sources = []
    for number, run in enumerate(grouped):
        if (index := _copied(run)) is not None:
            sources.append(clips[index])
            continue
        path = tmp / f"run{number:04d}.mp4"
        encode_video(meter.counted(_pictures(spec, clips, run, fps)), path, fps)
        sources.append(_open_clip(0, path))
    return sources


def _remux(
    spec: FilmSpec,
    sources: Sequence[_Clip],
    copied: Sequence[bool],
    meter: _Meter,
    tracks: _Tracks,
) -> None:
    """Concatenate `sources` by copying packets; progress counts the `copied` ones only
    (the re-encoded runs were counted as they were encoded)."""
    with open_output(Path(spec.out), spec.metadata) as container:
        with av.open(str(sources[0].path)) as first:
            out_stream = container.add_stream_from_template(first.streams.video[0])
        others = tracks(container)
        offset = 0  # in the sources' shared time base
        time_base = sources[0].time_base
        for source, counts in zip(sources, copied, strict=True):
            with av.open(str(source.path)) as opened:
                stream = opened.streams.video[0]
                for packet in opened.demux(stream):
                    if packet.size == 0 or packet.pts is None or packet.dts is None:
                        continue  # the demuxer's trailing flush packet
                    packet.pts += offset - source.start
                    packet.dts += offset - source.start
                    packet.stream = out_stream
                    container.mux(packet)
                    if counts:
                        meter.step()
                    for track in others:
                        track.write_until(float(packet.dts * time_base))
            offset += source.span  # the same spans `_remux_layout` placed the sound by
        for track in others:
            track.finish()


# -- re-encode ----------------------------------------------------------------------------


def _reencode(
    spec: FilmSpec,
    clips: Sequence[_Clip],
    pieces: Sequence[Piece],
    meter: _Meter,
    tracks: _Tracks,
    captions: Captions | None,
) -> None:
    (width, height), fps = _even(clips[0].info), clips[0].info.fps
    with open_output(Path(spec.out), spec.metadata) as container:
        stream = add_video_stream(container, width, height, fps)
        others = tracks(container)
        for index, frame in enumerate(_pictures(spec, clips, pieces, fps)):
            if captions is not None:
                frame = captions.draw(frame, float(index / fps))
            video_frame = av.VideoFrame.from_ndarray(frame, format="rgb24")
            video_frame.pts = index
            container.mux(stream.encode(video_frame))
            meter.step()
            for track in others:
                track.write_until(float(index / fps))
        container.mux(stream.encode(None))
        for track in others:
            track.finish()
