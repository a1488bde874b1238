"""Trims and transitions: which frames of each clip the film shows, and how shots meet.

`plan` turns FilmSpec's per-clip `Edit`s (or the legacy single `crossfade`) into `Piece`s:
each clip as trimmed, and the title card, counted in frames at the film's rate, with the
fades and dissolve overlaps at their ends. `runs` groups pieces into the stretches that
must be encoded together (split at every cut), `layout` places the clips in film seconds,
and `retimed`, `faded`, `joined` and `title_card` make the pictures. Assembly
(studio/film/assembly.py) decides per run whether to copy packets or re-encode.

Everything is counted in whole frames at the film's rate, so the picture, the layout the
sound is placed by, and the OpenTimelineIO export agree frame for frame.
"""

from __future__ import annotations

import contextlib
import dataclasses
import itertools
import math
from collections import deque
from collections.abc import Callable, Generator, Iterable, Iterator, Sequence
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Literal, get_args

import av
import numpy as np
from PIL import Image, ImageDraw, ImageFont

from pipelines.fonts import cjk_font, needs_cjk

__all__ = [
    "Edit",
    "EditError",
    "Footage",
    "Layout",
    "Piece",
    "Transition",
    "blend",
    "faded",
    "joined",
    "layout",
    "pictures",
    "plan",
    "positions",
    "retimed",
    "runs",
    "title_card",
    "untouched",
]

Transition = Literal["cut", "dissolve", "fade"]
TRANSITIONS: tuple[str, ...] = get_args(Transition)


@dataclass(frozen=True)
class Edit:
    """How one clip is used: its in and out points, and how it meets the next clip.

    `trim_in`/`trim_out` are seconds into the clip (None: its end). `transition` happens at
    this clip's end: a `dissolve` blends its last `transition_seconds` into the next clip's
    first (the film gets shorter by the overlap); a `fade` dips to black and back up (no
    overlap), or, on the last clip, fades the film out.
    """

    trim_in: float = 0.0
    trim_out: float | None = None
    transition: Transition = "cut"
    transition_seconds: float = 0.0


class EditError(ValueError):
    """Edits that cannot be made; assembly reports the message as an AssemblyError."""


@dataclass(frozen=True)
class Footage:
    """What planning needs to know about one clip."""

    name: str  # its file name, for messages
    frames: int  # its length in frames at the film's rate (re-timed when its rate differs)
    fps: Fraction  # its own frame rate
    own_frames: int  # its length in its own frames

    @classmethod
    def at(cls, name: str, rate: Fraction, frames: int, fps: Fraction) -> Footage:
        """A clip of `frames` frames at `rate`, in a film at `fps` (re-timed when they differ)."""
        return cls(
            name, frames if rate == fps else max(1, round(frames * fps / rate)), rate, frames
        )

    @property
    def seconds(self) -> float:
        return self.own_frames / float(self.fps)


@dataclass(frozen=True)
class Piece:
    """A stretch of the film's picture, in frames at the film's rate.

    `clip` is the 0-based index into FilmSpec.clips (None: the title card); it shows that
    clip's re-timed frames [first, first + count). `fade_in`/`fade_out` frames fade up from
    / down to black; the last `dissolve` frames are blended with the next piece's first.
    """

    clip: int | None
    first: int
    count: int
    whole: bool  # shows the whole clip, untouched at both ends
    fade_in: int = 0
    fade_out: int = 0
    dissolve: int = 0

    @property
    def joins_next(self) -> bool:
        """Whether the boundary after this piece is a transition (anything but a cut)."""
        return self.dissolve > 0 or self.fade_out > 0

    def level(self, index: int) -> float:
        """Brightness of its frame `index`: a fade-in starts black, a fade-out ends black."""
        level = 1.0
        if index < self.fade_in:
            level = index / self.fade_in
        if index >= self.count - self.fade_out:
            level = min(level, (self.count - 1 - index) / self.fade_out)
        return level


def plan(
    footage: Sequence[Footage],
    fps: Fraction,
    edits: Sequence[Edit] = (),
    *,
    crossfade: float = 0.0,
    title_seconds: float | None = None,
    fade_in: float = 0.0,
) -> list[Piece]:
    """The film's pieces in order: the title card (if `title_seconds`), then every clip.

    With no `edits`, whole clips, and `crossfade` a dissolve at every boundary (title card
    included), as before edits existed. With edits (one per clip), the title card cuts to
    the first clip. `fade_in` fades the first clip up from black.
    """
    if edits and crossfade > 0:
        raise EditError("give either crossfade or edits, not both")
    if edits and len(edits) != len(footage):
        raise EditError(
            f"{len(edits)} edits for {len(footage)} clips: give one edit per clip, or none"
        )
    opening = _fade_in_frames(fade_in, footage[0], fps) if footage else 0
    pieces = _edited(footage, fps, edits, opening) if edits else _whole(footage, crossfade, fps)
    if pieces and not edits:
        pieces[0] = dataclasses.replace(pieces[0], fade_in=opening)
    if title_seconds is None:
        return pieces
    title, overlap = max(1, round(title_seconds * fps)), 0 if edits else _frames(crossfade, fps)
    if overlap > title:
        raise EditError(
            f"crossfade ({crossfade:g} s) is longer than the title card ({title_seconds:g} s)"
        )
    return [Piece(None, 0, title, whole=False, dissolve=overlap), *pieces]


def _whole(footage: Sequence[Footage], crossfade: float, fps: Fraction) -> list[Piece]:
    overlap = _frames(crossfade, fps)
    for number, clip in enumerate(footage, 1):
        if overlap > clip.frames:
            raise EditError(
                f"crossfade ({crossfade:g} s) is longer than clip {number} "
                f"({clip.name}, {clip.seconds:g} s)"
            )
    last = len(footage) - 1
    return [
        Piece(index, 0, clip.frames, whole=True, dissolve=overlap if index < last else 0)
        for index, clip in enumerate(footage)
    ]


def _edited(
    footage: Sequence[Footage], fps: Fraction, edits: Sequence[Edit], opening: int
) -> list[Piece]:
    pieces: list[Piece] = []
    incoming = opening  # frames fading up at the clip's start
    incoming_dissolve = 0  # frames overlapping the previous clip's end
    for index, (clip, edit) in enumerate(zip(footage, edits, strict=True)):
        what = f"clip {index + 1} ({clip.name})"
        first, end = _trimmed(what, clip, edit, fps)
        kind, frames = _transition(what, edit, fps, last=index == len(footage) - 1)
        count = end - first
        if index == 0 and opening > count:
            raise EditError(
                f"fade_in ({float(opening / fps):g} s) is longer than {what} "
                f"as trimmed ({float(count / fps):g} s)"
            )
        entering = incoming + incoming_dissolve
        if entering + frames > count:
            seconds_in, seconds_out = float(entering / fps), float(frames / fps)
            raise EditError(
                f"{what}: its transitions ({seconds_in:g} s in, {seconds_out:g} s out) "
                f"are longer than the clip as trimmed ({float(count / fps):g} s)"
            )
        pieces.append(
            Piece(
                index,
                first,
                count,
                whole=first == 0 and end == clip.frames,
                fade_in=incoming,
                fade_out=frames if kind == "fade" else 0,
                dissolve=frames if kind == "dissolve" else 0,
            )
        )
        incoming = frames if kind == "fade" else 0
        incoming_dissolve = frames if kind == "dissolve" else 0
    return pieces


def _trimmed(what: str, clip: Footage, edit: Edit, fps: Fraction) -> tuple[int, int]:
    """The clip's first and end (exclusive) frames at the film's rate, as trimmed."""
    if not _number(edit.trim_in) or edit.trim_in < 0:
        raise EditError(f"{what}: trim_in must be 0 or more seconds, got {edit.trim_in}")
    if edit.trim_in >= clip.seconds:
        raise EditError(
            f"{what}: trim_in ({edit.trim_in:g} s) is at or past the clip's end "
            f"({clip.seconds:g} s)"
        )
    end = clip.frames
    if edit.trim_out is not None:
        if not _number(edit.trim_out) or edit.trim_out <= edit.trim_in:
            raise EditError(
                f"{what}: trim_out ({edit.trim_out:g} s) must come after "
                f"trim_in ({edit.trim_in:g} s)"
            )
        # Half a frame of slack: an out point read off a timeline may round up.
        if edit.trim_out > clip.seconds + 0.5 / float(clip.fps):
            raise EditError(
                f"{what}: trim_out ({edit.trim_out:g} s) is past the clip's end "
                f"({clip.seconds:g} s)"
            )
        end = min(end, round(edit.trim_out * fps))
    first = round(edit.trim_in * fps)
    if end - first < 1:
        out = clip.seconds if edit.trim_out is None else edit.trim_out
        raise EditError(
            f"{what}: the trim keeps less than one frame ({out - edit.trim_in:g} s at "
            f"{float(fps):g} fps)"
        )
    return first, end


def _transition(what: str, edit: Edit, fps: Fraction, *, last: bool) -> tuple[str, int]:
    """The transition at the clip's end and its length in frames (0 for a cut)."""
    kind, seconds = edit.transition, edit.transition_seconds
    if kind not in TRANSITIONS:
        raise EditError(f"{what}: unknown transition {kind!r}; use cut, dissolve or fade")
    if not _number(seconds) or seconds < 0:
        raise EditError(f"{what}: transition_seconds must be 0 or more, got {seconds}")
    if kind == "cut":
        return kind, 0  # a cut has no length: any seconds given are ignored
    if last and kind == "dissolve":
        raise EditError(f"{what}: the last shot has nothing to dissolve into; use fade")
    if seconds == 0:
        raise EditError(f"{what}: a {kind} needs a length: give transition_seconds, or use cut")
    frames = round(seconds * fps)
    if frames < 1:
        raise EditError(
            f"{what}: a {kind} of {seconds:g} s is shorter than one frame "
            f"(1/{float(fps):g} s); make it longer, or use cut"
        )
    return kind, frames


def _fade_in_frames(seconds: float, first: Footage, fps: Fraction) -> int:
    if not _number(seconds) or seconds < 0:
        raise EditError(f"fade_in must be 0 or more seconds, got {seconds}")
    if seconds == 0:
        return 0
    frames = round(seconds * fps)
    if frames < 1:
        raise EditError(f"fade_in ({seconds:g} s) is shorter than one frame; use 0 for none")
    if seconds > first.seconds:
        raise EditError(
            f"fade_in ({seconds:g} s) is longer than clip 1 ({first.name}, {first.seconds:g} s)"
        )
    return frames


def _frames(seconds: float, fps: Fraction) -> int:
    return round(seconds * fps) if seconds > 0 else 0


def _number(value: object) -> bool:
    return isinstance(value, int | float) and math.isfinite(value)


# -- runs of pieces -----------------------------------------------------------------------


def runs(pieces: Sequence[Piece]) -> list[list[Piece]]:
    """The pieces grouped into runs joined by transitions: a new run after every cut."""
    grouped: list[list[Piece]] = []
    for index, piece in enumerate(pieces):
        if index and pieces[index - 1].joins_next:
            grouped[-1].append(piece)
        else:
            grouped.append([piece])
    return grouped


def positions(run: Sequence[Piece]) -> tuple[list[int], int]:
    """Each piece's first frame within `run`, and the run's length, in frames.

    A dissolve starts the next piece at the start of the overlap, so the run is shorter by it.
    """
    starts, position = [], 0
    for piece in run:
        starts.append(position)
        position += piece.count - piece.dissolve
    return starts, position + (run[-1].dissolve if run else 0)


def untouched(run: Sequence[Piece]) -> bool:
    """A run that is one whole clip, cut at both ends: its packets can be copied as they are."""
    piece = run[0]
    faded_or_blended = piece.fade_in or piece.fade_out or piece.dissolve  # the film's ends
    return len(run) == 1 and piece.clip is not None and piece.whole and not faded_or_blended


@dataclass(frozen=True)
class Layout:
    """Where each of FilmSpec.clips is in the film, in film seconds, and the film's length.

    For a dissolve, a clip starts where the overlap starts. Dialogue lines are placed at
    start + offset, shot sounds from start to end, subtitle cues by the lines.
    """

    starts: tuple[float, ...]
    ends: tuple[float, ...]
    seconds: float


def layout(
    grouped: Sequence[Sequence[Piece]],
    fps: Fraction,
    count: int,
    spans: Sequence[Fraction] | None = None,
) -> Layout:
    """The layout of `count` clips planned as `grouped` runs.

    `spans` are the runs' lengths in seconds as written when the runs are concatenated by
    remuxing (packet spans, so the sound follows the packets exactly); None: the film is
    one continuous re-encode, placed by frame counts.
    """
    if spans is None:
        grouped = [[piece for run in grouped for piece in run]]
        spans = [positions(grouped[0])[1] / fps]
    placed: dict[int, tuple[Fraction, Fraction]] = {}
    at = Fraction(0)
    for run, span in zip(grouped, spans, strict=True):
        if untouched(run) and run[0].clip is not None:
            placed[run[0].clip] = (at, at + span)
        for piece, first in zip(run, positions(run)[0], strict=True):
            if piece.clip is not None and piece.clip not in placed:
                placed[piece.clip] = (at + first / fps, at + (first + piece.count) / fps)
        at += span
    return Layout(
        tuple(float(placed[i][0]) for i in range(count)),
        tuple(float(placed[i][1]) for i in range(count)),
        float(at),
    )


# -- pictures -----------------------------------------------------------------------------


def pictures(
    run: Sequence[Piece], frames_of: Callable[[Piece], Iterable[np.ndarray]]
) -> Iterator[np.ndarray]:
    """The pictures of a run: each piece's frames (from `frames_of`), faded, dissolved."""
    return joined([faded(frames_of(p), p) for p in run], [p.dissolve for p in run])


def faded(frames: Iterable[np.ndarray], piece: Piece) -> Iterator[np.ndarray]:
    """`frames` (the piece's) with its fades applied."""
    for index, frame in enumerate(frames):
        level = piece.level(index)
        yield frame if level >= 1 else np.rint(frame.astype(np.float32) * level).astype(np.uint8)


def joined(
    sources: Sequence[Iterable[np.ndarray]], overlaps: Sequence[int]
) -> Iterator[np.ndarray]:
    """Concatenate `sources`, blending the last `overlaps[i]` frames of source i into the next.

    Frames are held back only as long as a dissolve needs them, so memory stays at one
    overlap's worth of frames whatever the film's length.
    """
    tail: list[np.ndarray] = []
    for number, source in enumerate(sources):
        hold = overlaps[number] if number < len(overlaps) else 0
        pending: deque[np.ndarray] = deque()
        for index, frame in enumerate(source):
            if index < len(tail):
                frame = blend(tail[index], frame, (index + 1) / (len(tail) + 1))
            pending.append(frame)
            if len(pending) > hold:
                yield pending.popleft()
        tail = list(pending)
    yield from tail


def blend(a: np.ndarray, b: np.ndarray, weight: float) -> np.ndarray:
    """`a` turning into `b`: weight 0 is all `a`, 1 all `b`."""
    mixed = a.astype(np.float32) * (1.0 - weight) + b.astype(np.float32) * weight
    return np.rint(mixed).astype(np.uint8)


def retimed(
    path: Path, rate: Fraction, fps: Fraction, size: tuple[int, int], first: int, count: int
) -> Iterator[np.ndarray]:
    """Frames [first, first + count) of the video at `path` (at `rate`) re-timed to `fps`,
    as `size` RGB arrays. Decoding errors are PyAV's; no frames at all is an EditError."""
    ratio = rate / fps  # source frames per output frame
    end = first + count
    last: av.VideoFrame | None = None
    shown = produced = 0  # output frames accounted for / yielded
    with contextlib.closing(_decoded(path)) as frames:
        for source_index, frame in enumerate(frames):
            last, before = frame, shown
            # Output frame k shows source frame floor(k * ratio): drops or repeats frames.
            while shown < end and int(shown * ratio) <= source_index:
                shown += 1
            repeat = shown - max(before, first)  # frames before the trim are never drawn
            if repeat > 0:
                yield from itertools.repeat(_rgb(frame, size), repeat)
                produced += repeat
            if shown >= end:
                return
    if last is None:
        raise EditError("has no decodable frames")
    # The container promised more frames than it held: hold the last one.
    yield from itertools.repeat(_rgb(last, size), count - produced)


def _decoded(path: Path) -> Generator[av.VideoFrame, None, None]:
    """The first video stream's frames, not yet turned into pixels (trimmed ones never are)."""
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        yield from container.decode(stream)


def _rgb(frame: av.VideoFrame, size: tuple[int, int]) -> np.ndarray:
    """The frame as RGB at `size` (plainly resized: no letterbox)."""
    array = frame.to_ndarray(format="rgb24")
    if (array.shape[1], array.shape[0]) == size:
        return array
    return np.asarray(Image.fromarray(array).resize(size, Image.Resampling.BILINEAR))


def title_card(text: str, width: int, height: int) -> np.ndarray:
    """White text centred on black, wrapped to 90% of the width (at most 4 lines)."""
    image = Image.new("RGB", (width, height), "black")
    draw = ImageDraw.Draw(image)
    size = max(8, min(height // 9, width // 14))
    # CJK titles need a CJK font (pipelines/fonts.py); Pillow's own would draw empty boxes.
    font = (cjk_font(size) if needs_cjk(text) else None) or ImageFont.load_default(size=size)
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
    return np.asarray(image)


def _wrap(text: str, font: ImageFont.FreeTypeFont | ImageFont.ImageFont, width: float) -> list[str]:
    """Greedy wrap by words; CJK text (no spaces) is wrapped between its characters."""
    lines: list[str] = []
    unspaced = needs_cjk(text) and " " not in text
    words, joiner = (list(text), "") if unspaced else (text.split(" "), " ")
    for word in words:
        candidate = f"{lines[-1]}{joiner}{word}" if lines else word
        if lines and font.getlength(candidate) <= width:
            lines[-1] = candidate
        else:
            lines.append(word)
    return lines[:4] or [""]
