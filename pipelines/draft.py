"""The weightless `draft` pipeline: storyboard panels and animatic camera moves.

No model, no torch: Pillow + numpy only, so the studio works on any laptop and in CI.
A panel is a seeded scene sketch (sky, ground, silhouettes scaled to the shot size) with
storyboard marks on top: rule-of-thirds lines, a framing box, a camera-move arrow, the
shot number and the prompt as a caption. A clip moves a crop window over the panel.
"""

from __future__ import annotations

import colorsys
import math
import unicodedata
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from pipelines.requests import CAMERA_MOVES, SHOT_SIZES, Cancelled, RenderRequest

__all__ = ["DraftPipeline", "camera_boxes"]

Color = tuple[int, int, int]
Box = tuple[float, float, float, float]
Font = ImageFont.FreeTypeFont | ImageFont.ImageFont

SUPERSAMPLE = 2  # shapes are drawn at 2× and reduced: cheap anti-aliasing
PAN_SCALE = 1.2  # pans and tilts slide a window over the panel up-scaled this much
ZOOM_SCALE = 1.25  # dolly/zoom in ends (out starts) magnified this much
CANCEL_EVERY = 4  # frames between should_cancel() checks

# Figure height (head top to feet) and head-top position, as fractions of the panel height.
# Larger shot sizes are the same silhouette scaled up so the frame cuts it lower.
_FIGURE = {
    "extreme-wide": (0.07, None),  # None: stand on the horizon
    "wide": (0.36, 0.5),
    "medium": (1.6, 0.14),
    "close-up": (3.2, 0.12),
    "extreme-close-up": (7.0, -0.12),
}
_HORIZON = {
    "extreme-wide": 0.64,
    "wide": 0.7,
    "medium": 0.74,
    "close-up": 0.86,
    "extreme-close-up": 1.2,  # no ground in frame
}
_SHOT_LABEL = {
    "extreme-wide": "XWS",
    "wide": "WS",
    "medium": "MS",
    "close-up": "CU",
    "extreme-close-up": "ECU",
}
_INK: Color = (255, 214, 64)  # storyboard marks
_PAPER: Color = (250, 250, 245)


@dataclass(frozen=True)
class _Palette:
    sky_top: Color
    sky_bottom: Color
    ground_top: Color
    ground_bottom: Color
    far: Color  # mountains, hills, bokeh
    figure: Color
    accent: Color


class DraftPipeline:
    """Storyboard panels (`render_frame`) and animatics (`render_clip`) without weights."""

    name = "draft"
    model_id = "draft"
    revision = "draft-1"  # bump whenever the drawing changes: cached renders key on it

    def render_frame(
        self, request: RenderRequest, on_progress: Callable[[int, int], None] | None = None
    ) -> Image.Image:
        """One storyboard panel, request.width × request.height RGB, identical per request."""
        _check(request)
        progress = on_progress or (lambda step, total: None)
        steps = 4
        # 1. Scene: seeded sky and ground with silhouettes sized by the shot size.
        rng = np.random.default_rng(request.seed % 2**64)
        palette = _palette(rng)
        scale = SUPERSAMPLE
        width, height = request.width * scale, request.height * scale
        horizon = _horizon(height, request.shot_size, rng)
        canvas = _background(width, height, horizon, palette)
        progress(1, steps)
        subject = _scene(canvas, request.shot_size, horizon, palette, rng)
        progress(2, steps)
        # 2. Guides: thirds, framing box, camera-move arrow (drawn at 2× too).
        _guides(canvas, subject, request.camera_move)
        panel = canvas.reduce(scale)
        progress(3, steps)
        # 3. Text at final size: FreeType anti-aliases it already.
        _annotate(panel, request, _shrink(subject, scale))
        progress(4, steps)
        return panel

    def render_clip(
        self,
        request: RenderRequest,
        image: Image.Image | None = None,
        on_progress: Callable[[int, int], None] | None = None,
        should_cancel: Callable[[], bool] | None = None,
    ) -> Iterator[np.ndarray]:
        """`request.frame_count` H×W×3 uint8 frames moving over the panel per the camera move."""
        _check(request)
        size = (request.width, request.height)
        panel = image.convert("RGB") if image is not None else self.render_frame(request)
        if panel.size != size:
            panel = panel.resize(size, Image.Resampling.LANCZOS)
        total = request.frame_count
        previous: tuple[Box, np.ndarray] | None = None
        for index, box in enumerate(camera_boxes(request.camera_move, *size, total)):
            if should_cancel is not None and index % CANCEL_EVERY == 0 and should_cancel():
                raise Cancelled(f"clip cancelled at frame {index} of {total}")
            if previous is not None and previous[0] == box:
                frame = previous[1].copy()  # static shots: no resampling
            else:
                frame = np.array(panel.resize(size, Image.Resampling.BILINEAR, box=box))
                previous = (box, frame)
                frame = frame.copy()
            if on_progress is not None:
                on_progress(index + 1, total)
            yield frame


def camera_boxes(move: str, width: int, height: int, frames: int) -> list[Box]:
    """Per frame, the panel region (x0, y0, x1, y1) shown full-frame for a camera move."""
    if move not in CAMERA_MOVES:
        raise ValueError(f"unknown camera move {move!r}; expected one of {CAMERA_MOVES}")
    return [
        _box(move, width, height, _ease(i / (frames - 1) if frames > 1 else 0.0))
        for i in range(frames)
    ]


def _ease(t: float) -> float:
    return 0.5 - 0.5 * math.cos(math.pi * t)


def _box(move: str, width: int, height: int, t: float) -> Box:
    if move == "static":
        return (0.0, 0.0, float(width), float(height))
    if move in ("pan-left", "pan-right", "tilt-up", "tilt-down"):
        w, h = width / PAN_SCALE, height / PAN_SCALE
        slack_x, slack_y = width - w, height - h
        # Camera pans right → window moves right → content drifts left on screen.
        x = {"pan-right": t, "pan-left": 1 - t}.get(move, 0.5) * slack_x
        y = {"tilt-down": t, "tilt-up": 1 - t}.get(move, 0.5) * slack_y
        return (x, y, x + w, y + h)
    zoom_in = move.endswith("-in")
    zoom = 1 + (ZOOM_SCALE - 1) * (t if zoom_in else 1 - t)
    w, h = width / zoom, height / zoom
    x, y = (width - w) / 2, (height - h) / 2
    return (x, y, x + w, y + h)


def _check(request: RenderRequest) -> None:
    if request.width < 1 or request.height < 1:
        raise ValueError(f"size must be positive, got {request.width}×{request.height}")
    if request.shot_size not in SHOT_SIZES:
        raise ValueError(f"unknown shot size {request.shot_size!r}; expected one of {SHOT_SIZES}")
    if request.camera_move not in CAMERA_MOVES:
        raise ValueError(
            f"unknown camera move {request.camera_move!r}; expected one of {CAMERA_MOVES}"
        )


# -- scene --------------------------------------------------------------------------------


def _hsv(h: float, s: float, v: float) -> Color:
    r, g, b = colorsys.hsv_to_rgb(h % 1.0, min(max(s, 0.0), 1.0), min(max(v, 0.0), 1.0))
    return (round(r * 255), round(g * 255), round(b * 255))


def _palette(rng: np.random.Generator) -> _Palette:
    """A seeded time of day: hue of the sky, the land and the light."""
    sky, land = rng.random(), rng.random()
    light = rng.uniform(0.55, 1.0)  # dusk … noon
    return _Palette(
        sky_top=_hsv(sky, 0.55, light * 0.75),
        sky_bottom=_hsv(sky + rng.uniform(-0.12, 0.12), 0.3, light),
        ground_top=_hsv(land, 0.35, light * 0.6),
        ground_bottom=_hsv(land, 0.45, light * 0.3),
        far=_hsv(sky + 0.5, 0.2, light * 0.55),
        figure=_hsv(land + 0.5, 0.3, 0.12),
        accent=_hsv(sky + 0.1, 0.2, min(1.0, light + 0.25)),
    )


def _gradient(top: Color, bottom: Color, rows: int) -> np.ndarray:
    ramp = np.linspace(0.0, 1.0, rows, dtype=np.float32)[:, None]
    return np.asarray(top, np.float32) * (1 - ramp) + np.asarray(bottom, np.float32) * ramp


def _background(width: int, height: int, horizon: int, palette: _Palette) -> Image.Image:
    """Sky and ground gradients: one column computed, stretched sideways (cheap at 4K)."""
    sky_rows = min(max(horizon, 0), height)
    column = np.concatenate(
        [
            _gradient(palette.sky_top, palette.sky_bottom, sky_rows),
            _gradient(palette.ground_top, palette.ground_bottom, height - sky_rows),
        ]
    )
    strip = Image.fromarray(np.rint(column).astype(np.uint8)[:, None, :], "RGB")
    return strip.resize((width, height), Image.Resampling.NEAREST)


def _horizon(height: int, shot_size: str, rng: np.random.Generator) -> int:
    return round(height * (_HORIZON[shot_size] + rng.uniform(-0.04, 0.04)))


def _scene(
    canvas: Image.Image, shot_size: str, horizon: int, palette: _Palette, rng: np.random.Generator
) -> Box:
    """Draw the set and the figures; return the main subject's box (for the framing guide)."""
    width, height = canvas.size
    draw = ImageDraw.Draw(canvas)
    if shot_size in ("extreme-wide", "wide"):
        _sun(draw, width, height, horizon, palette, rng)
        _ridge(
            draw,
            width,
            horizon,
            height * (0.22 if shot_size == "extreme-wide" else 0.1),
            palette.far,
            rng,
        )
        _trees(
            draw,
            width,
            horizon,
            height * (0.04 if shot_size == "extreme-wide" else 0.2),
            palette,
            rng,
        )
    else:
        _bokeh(canvas, palette, rng)
    figure_height, top = _FIGURE[shot_size]
    size = figure_height * height
    head_top = (horizon + 0.03 * height - size) if top is None else top * height
    third = width * float(rng.choice([1 / 3, 0.5, 2 / 3]))
    if shot_size in ("extreme-wide", "wide", "medium") and rng.random() < 0.6:
        other = width - third if third != width / 2 else width * float(rng.choice([0.2, 0.8]))
        scale = rng.uniform(0.75, 0.95)
        _figure(draw, other, head_top + size * (1 - scale) * 0.6, size * scale, palette.far, rng)
    subject = _figure(draw, third, head_top, size, palette.figure, rng)
    if shot_size == "extreme-close-up":
        _eyes(draw, third, head_top, size, palette)
    return subject


def _sun(
    draw: ImageDraw.ImageDraw,
    width: int,
    height: int,
    horizon: int,
    palette: _Palette,
    rng: np.random.Generator,
) -> None:
    radius = height * rng.uniform(0.04, 0.08)
    cx, cy = width * rng.uniform(0.1, 0.9), horizon * rng.uniform(0.2, 0.6)
    draw.ellipse((cx - radius, cy - radius, cx + radius, cy + radius), fill=palette.accent)


def _ridge(
    draw: ImageDraw.ImageDraw,
    width: int,
    horizon: int,
    amplitude: float,
    color: Color,
    rng: np.random.Generator,
) -> None:
    """A mountain or hill line: a smoothed random walk sitting on the horizon."""
    points = 12
    walk = np.cumsum(rng.normal(0, 1, points))
    walk = (walk - walk.min()) / (np.ptp(walk) or 1.0)
    xs = np.linspace(0, width, points)
    tops = horizon - amplitude * (0.3 + 0.7 * walk)
    outline = [(float(x), float(y)) for x, y in zip(xs, tops, strict=True)]
    draw.polygon([(0, horizon), *outline, (width, horizon)], fill=color)


def _trees(
    draw: ImageDraw.ImageDraw,
    width: int,
    horizon: int,
    size: float,
    palette: _Palette,
    rng: np.random.Generator,
) -> None:
    for _ in range(int(rng.integers(1, 4))):
        x, tall = width * rng.uniform(0.05, 0.95), size * rng.uniform(0.7, 1.3)
        base = horizon + size * 0.1
        draw.rectangle(
            (x - tall * 0.04, base - tall * 0.35, x + tall * 0.04, base), fill=palette.figure
        )
        crown = [
            (x - tall * 0.22, base - tall * 0.3),
            (x, base - tall),
            (x + tall * 0.22, base - tall * 0.3),
        ]
        draw.polygon(crown, fill=palette.ground_bottom)


def _bokeh(canvas: Image.Image, palette: _Palette, rng: np.random.Generator) -> None:
    """Out-of-focus discs behind close shots, translucent so the gradient shows through."""
    width, height = canvas.size
    draw = ImageDraw.Draw(canvas, "RGBA")  # RGBA fills blend onto the RGB canvas
    for _ in range(int(rng.integers(4, 9))):
        radius = min(width, height) * rng.uniform(0.04, 0.12)
        cx, cy = width * rng.random(), height * rng.uniform(0.0, 0.8)
        draw.ellipse(
            (cx - radius, cy - radius, cx + radius, cy + radius),
            fill=(*palette.accent, int(rng.integers(40, 110))),
        )


def _figure(
    draw: ImageDraw.ImageDraw,
    cx: float,
    head_top: float,
    size: float,
    color: Color,
    rng: np.random.Generator,
) -> Box:
    """A standing silhouette `size` tall (head top to feet); returns its head-and-torso box."""
    head_r = size * 0.065
    head_cy = head_top + head_r
    neck = head_top + size * 0.14
    hips = head_top + size * 0.53
    feet = head_top + size
    shoulder, waist = size * rng.uniform(0.12, 0.15), size * rng.uniform(0.08, 0.1)
    draw.ellipse(
        (cx - head_r * 0.85, head_top, cx + head_r * 0.85, head_top + 2 * head_r), fill=color
    )
    draw.rectangle(
        (cx - head_r * 0.35, head_cy, cx + head_r * 0.35, neck + size * 0.02), fill=color
    )
    draw.polygon(
        [
            (cx - shoulder, neck + size * 0.03),
            (cx - shoulder * 0.8, neck),
            (cx + shoulder * 0.8, neck),
            (cx + shoulder, neck + size * 0.03),
            (cx + waist, hips),
            (cx - waist, hips),
        ],
        fill=color,
    )
    for side in (-1, 1):
        arm = size * 0.06
        hand = (cx + side * (shoulder + size * rng.uniform(0.0, 0.06)), hips + size * 0.02)
        draw.line(
            [(cx + side * shoulder * 0.92, neck + size * 0.04), hand],
            fill=color,
            width=max(1, round(arm)),
        )
        stride = size * rng.uniform(0.02, 0.08)
        draw.polygon(
            [
                (cx + side * waist * 0.1, hips),
                (cx + side * waist, hips),
                (cx + side * (waist * 0.6 + stride), feet),
                (cx + side * (waist * 0.6 + stride - size * 0.06), feet),
            ],
            fill=color,
        )
    return (cx - shoulder * 1.2, head_top - size * 0.02, cx + shoulder * 1.2, hips)


def _eyes(
    draw: ImageDraw.ImageDraw, cx: float, head_top: float, size: float, palette: _Palette
) -> None:
    """Extreme close-ups see a face, not a silhouette: two eyes in the huge head."""
    head_r = size * 0.065
    eye_y, gap, eye = head_top + head_r * 1.05, head_r * 0.36, head_r * 0.17
    for side in (-1, 1):
        ex = cx + side * gap
        draw.ellipse(
            (ex - eye, eye_y - eye * 0.5, ex + eye, eye_y + eye * 0.5), fill=palette.accent
        )
        draw.ellipse(
            (ex - eye * 0.4, eye_y - eye * 0.4, ex + eye * 0.4, eye_y + eye * 0.4),
            fill=(20, 20, 20),
        )


# -- storyboard marks ---------------------------------------------------------------------


def _guides(canvas: Image.Image, subject: Box, camera_move: str) -> None:
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


def _shrink(box: Box, scale: int) -> Box:
    return (box[0] / scale, box[1] / scale, box[2] / scale, box[3] / scale)


@lru_cache(maxsize=64)
def _font(size: int) -> Font:
    return ImageFont.load_default(size=size)


# The default font has a small Latin set: fold common typography to ASCII look-alikes.
_FOLD = str.maketrans({"—": "-", "–": "-", "‘": "'", "’": "'", "“": '"', "”": '"', "×": "x"})


def _clean(text: str) -> str:
    """One line of drawable text: accents folded (é → e); controls and surrogates dropped.

    Characters the default font lacks (CJK, emoji) still draw, as boxes.
    """
    folded = unicodedata.normalize("NFKD", text.translate(_FOLD))
    kept = "".join(c for c in folded if c.isspace() or unicodedata.category(c)[0] not in ("C", "M"))
    return " ".join(kept.split())


def _fit_font(text: str, size: int, max_width: float) -> Font:
    """The default font at `size`, shrunk (down to 6 px) until `text` fits `max_width`."""
    while size > 6 and _font(size).getlength(text) > max_width:
        size -= 1
    return _font(size)


def _annotate(panel: Image.Image, request: RenderRequest, subject: Box) -> None:
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


def _move_label(move: str) -> str:
    return move.replace("-", " ").upper()


def _caption(draw: ImageDraw.ImageDraw, text: str, width: int, height: int, pad: int) -> None:
    """The prompt in a bar along the bottom, wrapped, ending in an ellipsis if cut."""
    font = _font(max(7, round(min(height * 0.045, width * 0.035))))
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
