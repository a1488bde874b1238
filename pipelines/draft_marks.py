"""The storyboard marks on a `draft` panel: guides, camera-move arrows, labels and caption.

Guides (rule-of-thirds lines, brackets framing the subject, the camera-move mark) are drawn on
the supersampled canvas; text (shot number badge, shot size and move, the prompt as a wrapped
caption) at the final size with Pillow's default font.
"""

from __future__ import annotations

import math
import unicodedata
from collections.abc import Mapping
from functools import lru_cache

from PIL import Image, ImageDraw, ImageFont, ImageOps

from pipelines.draft_camera import ZOOM_SCALE, Box
from pipelines.draft_scene import Color
from pipelines.fonts import cjk_font, needs_cjk
from pipelines.requests import RenderRequest

__all__ = ["annotate", "draw_guides", "name_tags", "shrink_box", "view_labels"]

Font = ImageFont.FreeTypeFont | ImageFont.ImageFont

_SHOT_LABEL = {
    "extreme-wide": "XWS",
    "wide": "WS",
    "medium": "MS",
    "close-up": "CU",
    "extreme-close-up": "ECU",
}
_INK: Color = (255, 214, 64)  # storyboard marks
_PAPER: Color = (250, 250, 245)


def draw_guides(canvas: Image.Image, subject: Box, camera_move: str) -> None:
    """Rule-of-thirds lines, brackets around the subject and the camera-move mark."""
    width, height = canvas.size
    draw = ImageDraw.Draw(canvas, "RGBA")  # translucent marks blend onto the picture
    line = max(1, round(min(width, height) / 300))
    for i in (1, 2):  # rule of thirds
        draw.line(
            [(width * i / 3, 0), (width * i / 3, height)], fill=(255, 255, 255, 70), width=line
        )
        draw.line(
            [(0, height * i / 3), (width, height * i / 3)], fill=(255, 255, 255, 70), width=line
        )
    _brackets(draw, _clip_box(subject, width, height, line * 3), line * 2)
    _camera_mark(draw, camera_move, width, height, max(2, line * 3))


def _clip_box(box: Box, width: int, height: int, margin: float) -> Box:
    x0, y0, x1, y1 = box
    return (max(margin, x0), max(margin, y0), min(width - margin, x1), min(height - margin, y1))


def _brackets(draw: ImageDraw.ImageDraw, box: Box, line: int) -> None:
    """Corner brackets around the subject: the framing this shot size is about."""
    x0, y0, x1, y1 = box
    arm = max(2.0, min(x1 - x0, y1 - y0) * 0.2)
    color = (*_INK, 230)
    for cx, cy, dx, dy in ((x0, y0, 1, 1), (x1, y0, -1, 1), (x0, y1, 1, -1), (x1, y1, -1, -1)):
        draw.line([(cx + dx * arm, cy), (cx, cy), (cx, cy + dy * arm)], fill=color, width=line)


def _arrow(
    draw: ImageDraw.ImageDraw,
    start: tuple[float, float],
    end: tuple[float, float],
    width: int,
) -> None:
    """A shaft and a triangular head, in ink with a dark outline for contrast on any sky."""
    (x0, y0), (x1, y1) = start, end
    length = math.hypot(x1 - x0, y1 - y0) or 1.0
    ux, uy = (x1 - x0) / length, (y1 - y0) / length
    head = min(length * 0.45, width * 4.0)
    base = (x1 - ux * head, y1 - uy * head)
    wing = (-uy * head * 0.6, ux * head * 0.6)
    triangle = [
        (x1, y1),
        (base[0] + wing[0], base[1] + wing[1]),
        (base[0] - wing[0], base[1] - wing[1]),
    ]
    for color, extra in (((20, 20, 20, 200), max(2, width // 2)), ((*_INK, 255), 0)):
        draw.line([start, base], fill=color, width=width + 2 * extra)
        draw.polygon(triangle, fill=color, outline=color, width=extra or 1)


def _camera_mark(draw: ImageDraw.ImageDraw, move: str, width: int, height: int, line: int) -> None:
    cx, cy = width / 2, height / 2
    if move in ("pan-left", "pan-right"):
        left, right = (width * 0.3, cy), (width * 0.7, cy)
        _arrow(draw, left, right, line) if move == "pan-right" else _arrow(draw, right, left, line)
    elif move in ("tilt-up", "tilt-down"):
        top, bottom = (cx, height * 0.3), (cx, height * 0.7)
        _arrow(draw, bottom, top, line) if move == "tilt-up" else _arrow(draw, top, bottom, line)
    elif move != "static":
        inward = move.endswith("-in")
        for fx, fy in ((0.12, 0.14), (0.88, 0.14), (0.12, 0.86), (0.88, 0.86)):
            outer = (width * fx, height * fy)
            inner = (cx + (outer[0] - cx) * 0.45, cy + (outer[1] - cy) * 0.45)
            _arrow(draw, outer, inner, line) if inward else _arrow(draw, inner, outer, line)
        if move.startswith("zoom"):  # zooms also show the framing they end (or start) on
            w, h = width / ZOOM_SCALE / 2, height / ZOOM_SCALE / 2
            draw.rectangle((cx - w, cy - h, cx + w, cy + h), outline=(*_INK, 160), width=line)
    else:  # static: a small tripod
        size = min(width, height) * 0.06
        x, y = width - size * 1.6, height * 0.62
        for dx in (-0.6, 0.0, 0.6):
            draw.line([(x, y), (x + dx * size, y + size)], fill=(*_INK, 220), width=line)
        draw.rectangle((x - size * 0.35, y - size * 0.35, x + size * 0.35, y), fill=(*_INK, 220))


def shrink_box(box: Box, scale: int) -> Box:
    """`box` divided by `scale` (supersampled canvas → final panel coordinates)."""
    return (box[0] / scale, box[1] / scale, box[2] / scale, box[3] / scale)


@lru_cache(maxsize=64)
def _font(size: int, cjk: bool = False) -> Font:
    """Pillow's own font at `size`, or a CJK font for text that needs one (pipelines/fonts.py;
    Pillow's own would draw empty boxes)."""
    found = cjk_font(size) if cjk else None
    return found if found is not None else ImageFont.load_default(size=size)


# The default font has a small Latin set: fold common typography to ASCII look-alikes.
_FOLD = str.maketrans({"—": "-", "–": "-", "‘": "'", "’": "'", "“": '"', "”": '"', "×": "x"})


def _clean(text: str) -> str:
    """One line of drawable text: accents folded (é → e) for the default font; controls and
    surrogates dropped. CJK text keeps its letters (a CJK font draws it; folding would strip
    kana's voicing marks). Characters no font here has (emoji) still draw, as boxes.
    """
    translated = text.translate(_FOLD)
    cjk = needs_cjk(text)
    folded = unicodedata.normalize("NFC" if cjk else "NFKD", translated)
    kept = "".join(c for c in folded if c.isspace() or unicodedata.category(c)[0] not in ("C", "M"))
    return " ".join(kept.split())


def _fit_font(text: str, size: int, max_width: float) -> Font:
    """The default font at `size`, shrunk (down to 6 px) until `text` fits `max_width`."""
    cjk = needs_cjk(text)
    while size > 6 and _font(size, cjk).getlength(text) > max_width:
        size -= 1
    return _font(size, cjk)


def annotate(panel: Image.Image, request: RenderRequest, subject: Box) -> None:
    """Shot number badge, shot size and move, the framing label and the prompt caption."""
    width, height = panel.size
    unit = min(width, height)
    draw = ImageDraw.Draw(panel, "RGBA")
    pad = max(2, round(unit * 0.02))
    # Shot number badge, top left.
    badge_text = f"SHOT {request.shot_number}" if width >= 160 else f"#{request.shot_number}"
    badge_font = _fit_font(badge_text, max(7, round(unit * 0.06)), width * 0.4)
    bx0, by0, bx1, by1 = draw.textbbox((pad * 2, pad * 2), badge_text, font=badge_font)
    draw.rounded_rectangle(
        (bx0 - pad, by0 - pad, bx1 + pad, by1 + pad), radius=pad, fill=(*_PAPER, 235)
    )
    draw.text((pad * 2, pad * 2), badge_text, font=badge_font, fill=(20, 20, 20))
    # Shot size and camera move, top right; the framing label sits on the subject box.
    label = f"{request.shot_size.replace('-', ' ').upper()} · {_move_label(request.camera_move)}"
    label_font = _fit_font(label, max(7, round(unit * 0.045)), width - (bx1 + pad * 4))
    ly: float = pad * 2
    if label_font.getlength(label) > width - (bx1 + pad * 4):  # no room beside the badge
        label_font, ly = _fit_font(label, 6, width - pad * 4), by1 + pad * 3
    lx = width - pad * 2 - label_font.getlength(label)
    box = draw.textbbox((lx, ly), label, font=label_font)
    draw.rectangle((box[0] - pad, box[1] - pad, box[2] + pad, box[3] + pad), fill=(0, 0, 0, 150))
    draw.text((lx, ly), label, font=label_font, fill=_PAPER)
    tag_font = _font(max(6, round(unit * 0.035)))
    sx, sy = max(pad, subject[0]), max(by1 + pad * 2, subject[1])
    draw.text(
        (sx, sy),
        _SHOT_LABEL[request.shot_size],
        font=tag_font,
        fill=(*_INK, 255),
        stroke_width=1,
        stroke_fill=(20, 20, 20, 255),
    )
    _caption(draw, _clean(request.prompt) or "(no prompt)", width, height, pad)


def name_tags(
    panel: Image.Image,
    named: list[tuple[str, Box]],
    faces: Mapping[str, Image.Image] | None = None,
) -> None:
    """Each cast member's name above its figure (boxes in final panel coordinates); a member
    in `faces` (its reference picture) gets a small square of it left of its name."""
    width, height = panel.size
    draw = ImageDraw.Draw(panel, "RGBA")
    size = max(7, round(min(width, height) * 0.045))
    for name, (x0, y0, x1, _y1) in named:
        text = _clean(name)
        font = _font(size, needs_cjk(text))
        face = (faces or {}).get(name)
        side = round(size * 1.6) if face is not None else 0
        length = font.getlength(text) + (side + 4 if side else 0)
        x = min(max(2.0, (x0 + x1) / 2 - length / 2), width - length - 2)
        y = min(max(2.0 + side - size, y0 - size - 4), height - size - 2)
        if face is not None:
            thumb = ImageOps.fit(face.convert("RGB"), (side, side), Image.Resampling.LANCZOS)
            top = round(y + size - side)
            draw.rectangle((x - 1, top - 1, x + side, top + side), outline=_PAPER)
            panel.paste(thumb, (round(x), top))
            x += side + 4
        box = draw.textbbox((x, y), text, font=font)
        draw.rectangle((box[0] - 2, box[1] - 2, box[2] + 2, box[3] + 2), fill=(0, 0, 0, 160))
        draw.text((x, y), text, font=font, fill=_PAPER)


def view_labels(panel: Image.Image, labelled: list[tuple[str, Box]]) -> None:
    """A small caption under each box, near the bottom edge (a character sheet's views)."""
    width, height = panel.size
    draw = ImageDraw.Draw(panel)
    for label, (x0, _y0, x1, _y1) in labelled:
        font = _font(max(7, round(min(width, height) * 0.04)), needs_cjk(label))
        length = font.getlength(label)
        x = min(max(2.0, (x0 + x1) / 2 - length / 2), width - length - 2)
        draw.text((x, height * 0.92), label, font=font, fill=(60, 60, 60))


def _move_label(move: str) -> str:
    return move.replace("-", " ").upper()


def _caption(draw: ImageDraw.ImageDraw, text: str, width: int, height: int, pad: int) -> None:
    """The prompt in a bar along the bottom, wrapped, ending in an ellipsis if cut."""
    font = _font(max(7, round(min(height * 0.045, width * 0.035))), needs_cjk(text))
    max_lines = 1 if height < 120 else 2 if height < 300 else 3
    lines = _wrap(text, font, width - 4 * pad, max_lines)
    line_height = font.getbbox("Hg")[3] + max(1, pad // 2)
    top = height - line_height * len(lines) - 2 * pad
    draw.rectangle((0, top, width, height), fill=(0, 0, 0, 170))
    for i, line in enumerate(lines):
        draw.text((2 * pad, top + pad + i * line_height), line, font=font, fill=_PAPER)


def _wrap(text: str, font: Font, max_width: float, max_lines: int) -> list[str]:
    """Greedy word wrap to `max_lines`; words wider than a line are split by character."""
    lines: list[str] = [""]
    for word in text.split(" "):
        while word:
            candidate = f"{lines[-1]} {word}" if lines[-1] else word
            if font.getlength(candidate) <= max_width:
                lines[-1] = candidate
                break
            if lines[-1]:  # start a new line for this word
                if len(lines) == max_lines:
                    return _ellipsize(lines, font, max_width)
                lines.append("")
                continue
            cut = _fitting_prefix(word, font, max_width)  # a word longer than a line
            lines[-1], word = word[:cut], word[cut:]
            if word:
                if len(lines) == max_lines:
                    return _ellipsize(lines, font, max_width)
                lines.append("")
    return lines


def _fitting_prefix(word: str, font: Font, max_width: float) -> int:
    low, high = 1, len(word)  # at least one character per line, even if it overflows
    while low < high:
        middle = (low + high + 1) // 2
        if font.getlength(word[:middle]) <= max_width:
            low = middle
        else:
            high = middle - 1
    return low


def _ellipsize(lines: list[str], font: Font, max_width: float) -> list[str]:
    last = lines[-1]
    while last and font.getlength(last + "…") > max_width:
        last = last[:-1]
    lines[-1] = last.rstrip() + "…"
    return lines
