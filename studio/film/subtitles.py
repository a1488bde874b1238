"""Subtitles from the dialogue: cues, SRT and WebVTT files, a soft MP4 track, burned-in text.

A cue is shown from the moment its line starts to the moment its speech take ends, in film
seconds (rounded to the millisecond, the precision of SRT and WebVTT). The files are
written with pysubs2. The soft track is `mov_text` (3GPP timed text, the only subtitle
codec MP4 players read): PyAV 18 can encode it (`SubtitleSet.create` + `encode_subtitle`),
but that encoder takes ASS dialogue and rewrites ASS override codes (`{\\i1}`, `\\N`), so
we let it open the stream (it writes the track's sample description) and write each
sample ourselves: a 16-bit big-endian length and the UTF-8 text, so every text, emoji and
right-to-left script included, arrives byte for byte. An MP4 text track shows one sample
at a time, so overlapping cues become `screens`: stretches of time with one text each,
the overlapping lines joined by a newline.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import re
import struct
import uuid
from bisect import bisect_right
from collections import deque
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import av.container
import numpy as np
import pysubs2
from PIL import Image, ImageDraw, ImageFont, features

from pipelines.fonts import cjk_font, needs_cjk
from studio.film.mix import SpokenLine, Voice

__all__ = [
    "FONT_PATHS",
    "Captions",
    "Cue",
    "StagedFiles",
    "SubtitleTrack",
    "caption_font",
    "check_language",
    "cue_text",
    "cues_for",
    "mov_text_sample",
    "screens",
    "staged_files",
    "subtitle_paths",
]

# DejaVu Sans covers Latin, Greek, Cyrillic, Arabic and Hebrew (not emoji). Debian/Ubuntu
# ship it as fonts-dejavu-core; the other paths are where Arch and Fedora put it.
FONT_PATHS = (
    Path("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"),
    Path("/usr/share/fonts/TTF/DejaVuSans.ttf"),
    Path("/usr/share/fonts/dejavu-sans-fonts/DejaVuSans.ttf"),
    Path("/usr/share/fonts/dejavu/DejaVuSans.ttf"),
)
_BOX_ALPHA = 150  # the translucent box behind burned-in text (0–255)
_TIME_BASE = Fraction(1, 1000)  # the soft track in milliseconds, like SRT and WebVTT
# The mov_text encoder builds the track's sample description (default style, font table)
# from an ASS header; only the style matters to players, which mostly use their own.
_ASS_HEADER = (
    b"[Script Info]\nScriptType: v4.00+\nPlayResX: 384\nPlayResY: 288\n\n"
    b"[V4+ Styles]\nFormat: Name, Fontname, Fontsize, PrimaryColour, SecondaryColour, "
    b"OutlineColour, BackColour, Bold, Italic, Underline, StrikeOut, ScaleX, ScaleY, "
    b"Spacing, Angle, BorderStyle, Outline, Shadow, Alignment, MarginL, MarginR, MarginV, "
    b"Encoding\nStyle: Default,Sans,16,&Hffffff,&Hffffff,&H0,&H0,0,0,0,0,100,100,0,0,1,1,0,"
    b"2,10,10,10,0\n\n[Events]\nFormat: Layer, Start, End, Style, Name, MarginL, MarginR, "
    b"MarginV, Effect, Text\n"
)


@dataclass(frozen=True)
class Cue:
    """A subtitle: `text` on screen from `start` to `end`, in film seconds."""

    start: float
    end: float
    text: str


def check_language(code: str) -> None:
    """The soft track's language must be an ISO 639-2 code: it is what the MP4 stores."""
    if not re.fullmatch("[a-z]{3}", code):
        raise ValueError(
            f"subtitle_language must be an ISO 639-2 code such as 'eng' or 'und', got {code!r}"
        )


def cue_text(line: SpokenLine, speaker_names: bool = False) -> str:
    """The line's text with whitespace collapsed, "SPEAKER: text" if names are shown."""
    text = " ".join(line.text.split())
    speaker = " ".join(line.speaker.split())
    return f"{speaker}: {text}" if text and speaker and speaker_names else text


def cues_for(voices: Sequence[Voice], speaker_names: bool = False) -> tuple[Cue, ...]:
    """One cue per placed line that has text, in order of time."""
    cues = []
    for voice in sorted(voices, key=lambda v: (v.start, v.number)):
        text = cue_text(voice.line, speaker_names)
        start, end = _ms(voice.start), _ms(voice.end)
        if text and end > start:
            cues.append(Cue(start / 1000, end / 1000, text))
    return tuple(cues)


def screens(cues: Sequence[Cue]) -> tuple[Cue, ...]:
    """What is on screen, as non-overlapping cues: overlapping texts joined by newlines."""
    points = sorted({_ms(c.start) for c in cues} | {_ms(c.end) for c in cues})
    shown: list[Cue] = []
    for first, last in itertools.pairwise(points):
        active = [c.text for c in cues if _ms(c.start) <= first and _ms(c.end) >= last]
        if not active:
            continue
        text = "\n".join(active)
        if shown and shown[-1].text == text and _ms(shown[-1].end) == first:
            shown[-1] = Cue(shown[-1].start, last / 1000, text)
        else:
            shown.append(Cue(first / 1000, last / 1000, text))
    return tuple(shown)


def _ms(seconds: float) -> int:
    return round(seconds * 1000)


# -- files --------------------------------------------------------------------------------


def subtitle_paths(out: Path) -> tuple[Path, Path]:
    """Where the .srt and .vtt of film `out` go: beside it, with its name."""
    return Path(out).with_suffix(".srt"), Path(out).with_suffix(".vtt")


@dataclass
class StagedFiles:
    """Subtitle files written to temp names, moved into place only with the film."""

    moves: list[tuple[Path, Path]]

    def commit(self) -> tuple[Path, ...]:
        """Move the files into place; returns their final paths."""
        for tmp, path in self.moves:
            os.replace(tmp, path)
        return tuple(path for _, path in self.moves)


@contextlib.contextmanager
def staged_files(cues: Sequence[Cue], out: Path) -> Iterator[StagedFiles]:
    """Write `cues` as SRT and WebVTT (UTF-8) beside `out`; nothing stays on an exception.

    The caller writes the film inside the block and calls `commit()` once it is in place,
    so a failed assembly leaves neither a film nor subtitles that belong to no film.
    """
    staged = StagedFiles([])
    try:
        for path, kind in zip(subtitle_paths(out), ("srt", "vtt"), strict=True):
            tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.tmp")
            staged.moves.append((tmp, path))
            tmp.write_text(_render(cues, kind), encoding="utf-8")
        yield staged
    finally:
        for tmp, _ in staged.moves:
            tmp.unlink(missing_ok=True)  # gone already after commit()


def _render(cues: Sequence[Cue], kind: str) -> str:
    subs = pysubs2.SSAFile()
    for cue in cues:
        text = _vtt_escaped(cue.text) if kind == "vtt" else cue.text
        subs.append(pysubs2.SSAEvent(start=_ms(cue.start), end=_ms(cue.end), text=text))
    # keep_ssa_tags: write the text as it is (pysubs2 would otherwise read "{…}" as ASS tags).
    rendered: str = subs.to_string(kind, apply_styles=False, keep_ssa_tags=True)
    return rendered


def _vtt_escaped(text: str) -> str:
    """WebVTT reads "<" as the start of a tag and "&" as an entity: browsers need them escaped."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


# -- the soft track -----------------------------------------------------------------------


class SubtitleTrack:
    """A `mov_text` stream of `screens`, written in step with the video like the audio."""

    def __init__(
        self,
        container: av.container.OutputContainer,
        shown: Sequence[Cue],
        language: str = "und",
    ) -> None:
        self._container = container
        self._stream = container.add_stream("mov_text")
        self._stream.codec_context.subtitle_header = _ASS_HEADER
        self._stream.time_base = _TIME_BASE
        self._stream.metadata["language"] = language
        self._pending = deque(shown)

    def write_until(self, seconds: float) -> None:
        """Write every sample that starts by `seconds` (the mp4 muxer fills gaps itself)."""
        while self._pending and self._pending[0].start <= seconds:
            self._write(self._pending.popleft())

    def finish(self) -> None:
        while self._pending:
            self._write(self._pending.popleft())

    def _write(self, cue: Cue) -> None:
        start, end = _ms(cue.start), _ms(cue.end)
        if end <= start:
            return
        packet = av.Packet(mov_text_sample(cue.text))
        packet.pts = packet.dts = start
        packet.duration = end - start
        packet.time_base = _TIME_BASE
        packet.stream = self._stream
        self._container.mux(packet)


def mov_text_sample(text: str) -> bytes:
    """A 3GPP timed-text sample: the UTF-8 text after its 16-bit big-endian length."""
    data = text.encode("utf-8")[:0xFFFF].decode("utf-8", "ignore").encode("utf-8")
    return struct.pack(">H", len(data)) + data


# -- burned in ----------------------------------------------------------------------------


class Captions:
    """Cues drawn into frames: white outlined text on a translucent box, bottom centre.

    Text is wrapped to 90 % of the frame width and laid out by Pillow's raqm engine
    (HarfBuzz and FriBiDi), so Arabic and Hebrew are shaped and ordered right to left.
    Each screen is rendered once and blended into every frame it covers.
    """

    def __init__(self, shown: Sequence[Cue], width: int, height: int) -> None:
        self._shown = list(shown)
        self._starts = [cue.start for cue in self._shown]
        self._width, self._height = width, height
        self._size = max(10, height // 16)
        self.font, notes = caption_font(self._size)
        # CJK cues need a CJK font (pipelines/fonts.py): DejaVu has no CJK letters.
        layout = ImageFont.Layout.RAQM if features.check("raqm") else ImageFont.Layout.BASIC
        self._cjk_font = cjk_font(self._size, layout)
        if self._cjk_font is None and any(needs_cjk(cue.text) for cue in self._shown):
            notes.append(
                "No CJK font was found (Debian: fonts-wqy-microhei): Chinese, Japanese and "
                "Korean subtitles are drawn as empty boxes"
            )
        self.warnings: tuple[str, ...] = tuple(notes)
        self._rendered: dict[str, np.ndarray] = {}

    def draw(self, frame: np.ndarray, seconds: float) -> np.ndarray:
        """`frame` with the cue shown at `seconds`, if any (a new array: frames are shared)."""
        index = bisect_right(self._starts, seconds) - 1
        if index < 0 or seconds >= self._shown[index].end:
            return frame
        overlay = self._rendered.get(self._shown[index].text)
        if overlay is None:
            overlay = self._render(self._shown[index].text)
            self._rendered[self._shown[index].text] = overlay
        return _blended(frame, overlay, margin=max(1, self._height // 24))

    def _render(self, text: str) -> np.ndarray:
        """The RGBA picture of one screen's text: its box, outline and letters."""
        font = self._font_for(text)
        block = "\n".join(row for part in text.split("\n") for row in self._wrap(part, font))
        stroke, pad = max(1, self._size // 12), max(2, self._size // 4)
        probe = ImageDraw.Draw(Image.new("RGBA", (1, 1)))
        left, top, right, bottom = probe.multiline_textbbox(
            (0, 0), block, font=font, align="center", spacing=2, stroke_width=stroke
        )
        size = (int(right - left) + 2 * pad, int(bottom - top) + 2 * pad)
        image = Image.new("RGBA", size, (0, 0, 0, _BOX_ALPHA))
        ImageDraw.Draw(image).multiline_text(
            (pad - left, pad - top),
            block,
            font=font,
            align="center",
            spacing=2,
            fill=(255, 255, 255, 255),
            stroke_width=stroke,
            stroke_fill=(0, 0, 0, 255),
        )
        return np.asarray(image)

    def _font_for(self, text: str) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
        return self._cjk_font if self._cjk_font is not None and needs_cjk(text) else self.font

    def _wrap(self, text: str, font: ImageFont.FreeTypeFont | ImageFont.ImageFont) -> list[str]:
        """Greedy word wrap to 90 % of the width (a word longer than that keeps its row); CJK
        text without spaces wraps between its characters."""
        rows: list[str] = []
        unspaced = needs_cjk(text) and " " not in text
        words, joiner = (list(text), "") if unspaced else (text.split(" "), " ")
        for word in words:
            candidate = f"{rows[-1]}{joiner}{word}" if rows else word
            if rows and font.getlength(candidate) <= self._width * 0.9:
                rows[-1] = candidate
            else:
                rows.append(word)
        return rows


def caption_font(size: int) -> tuple[ImageFont.FreeTypeFont | ImageFont.ImageFont, list[str]]:
    """DejaVu Sans at `size` with the raqm layout engine, or Pillow's own font with a warning."""
    notes = []
    if not features.check("raqm"):
        notes.append("Pillow has no raqm layout engine: burned-in right-to-left text is not shaped")
    for path in FONT_PATHS:
        if path.is_file():
            engine = ImageFont.Layout.RAQM if not notes else ImageFont.Layout.BASIC
            return ImageFont.truetype(str(path), size, layout_engine=engine), notes
    notes.append(
        "DejaVu Sans was not found (Debian: fonts-dejavu-core): burned-in subtitles use "
        "Pillow's default font, which lacks many scripts"
    )
    return ImageFont.load_default(size=size), notes


def _blended(frame: np.ndarray, overlay: np.ndarray, margin: int) -> np.ndarray:
    """`overlay` (RGBA) alpha-blended onto a copy of `frame`, centred above the bottom edge."""
    height, width = frame.shape[:2]
    crop_x = max(0, (overlay.shape[1] - width) // 2)
    overlay = overlay[-height:, crop_x : crop_x + width]
    x = (width - overlay.shape[1]) // 2
    y = max(0, height - margin - overlay.shape[0])
    region = frame[y : y + overlay.shape[0], x : x + overlay.shape[1]].astype(np.float32)
    overlay = overlay[: region.shape[0], : region.shape[1]]
    alpha = overlay[:, :, 3:4].astype(np.float32) / 255.0
    out = frame.copy()
    mixed = region * (1.0 - alpha) + overlay[:, :, :3].astype(np.float32) * alpha
    out[y : y + region.shape[0], x : x + region.shape[1]] = np.rint(mixed).astype(np.uint8)
    return out
