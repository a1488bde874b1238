"""The seeded scene sketch under a `draft` storyboard panel: sky, ground and silhouettes.

A seeded palette (the time of day), sky and ground gradients split at the horizon, then the
set (sun, ridge, trees, or bokeh for close shots) and one or two standing figures scaled to
the shot size, so larger shot sizes cut the same silhouette lower. Drawn with Pillow at the
pipeline's supersampled size.
"""

from __future__ import annotations

import colorsys
import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace

import numpy as np
from PIL import Image, ImageDraw

from pipelines.draft_camera import Box

__all__ = [
    "STYLE_REFERENCE",
    "Color",
    "Palette",
    "cast_color",
    "draw_background",
    "draw_scene",
    "figure",
    "horizon_row",
    "palette_like",
    "random_palette",
    "reference_color",
]

Color = tuple[int, int, int]

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


@dataclass(frozen=True)
class Palette:
    """A panel's colours: sky and ground gradients, far things, figures, light."""

    sky_top: Color
    sky_bottom: Color
    ground_top: Color
    ground_bottom: Color
    far: Color  # mountains, hills, bokeh
    figure: Color
    accent: Color


def _hsv(h: float, s: float, v: float) -> Color:
    r, g, b = colorsys.hsv_to_rgb(h % 1.0, min(max(s, 0.0), 1.0), min(max(v, 0.0), 1.0))
    return (round(r * 255), round(g * 255), round(b * 255))


def random_palette(rng: np.random.Generator) -> Palette:
    """A seeded time of day: hue of the sky, the land and the light."""
    sky, land = rng.random(), rng.random()
    light = rng.uniform(0.55, 1.0)  # dusk … noon
    return Palette(
        sky_top=_hsv(sky, 0.55, light * 0.75),
        sky_bottom=_hsv(sky + rng.uniform(-0.12, 0.12), 0.3, light),
        ground_top=_hsv(land, 0.35, light * 0.6),
        ground_bottom=_hsv(land, 0.45, light * 0.3),
        far=_hsv(sky + 0.5, 0.2, light * 0.55),
        figure=_hsv(land + 0.5, 0.3, 0.12),
        accent=_hsv(sky + 0.1, 0.2, min(1.0, light + 0.25)),
    )


STYLE_REFERENCE = "scene"  # the reference name of a scene's style frame (draft: its colours)


def palette_like(palette: Palette, image: Image.Image) -> Palette:
    """`palette` with the sky and ground colours of `image` (a scene's first panel), so the
    scene's other panels read as the same place and light. Sampled in bands away from the
    storyboard marks: the right half, above the caption."""
    pixels = np.asarray(image.convert("RGB").resize((64, 64), Image.Resampling.BOX), np.float64)
    right = pixels[:, 40:60]

    def band(top: float, bottom: float) -> Color:
        rows = right[int(top * 64) : int(bottom * 64)]
        red, green, blue = (round(float(c)) for c in rows.reshape(-1, 3).mean(axis=0))
        return (red, green, blue)

    return replace(
        palette,
        sky_top=band(0.12, 0.2),
        sky_bottom=band(0.45, 0.55),
        ground_top=band(0.72, 0.78),
        ground_bottom=band(0.8, 0.86),
    )


def _gradient(top: Color, bottom: Color, rows: int) -> np.ndarray:
    ramp = np.linspace(0.0, 1.0, rows, dtype=np.float32)[:, None]
    return np.asarray(top, np.float32) * (1 - ramp) + np.asarray(bottom, np.float32) * ramp


def draw_background(width: int, height: int, horizon: int, palette: Palette) -> Image.Image:
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


def horizon_row(height: int, shot_size: str, rng: np.random.Generator) -> int:
    """The horizon's pixel row for a shot size, jittered by the seed."""
    return round(height * (_HORIZON[shot_size] + rng.uniform(-0.04, 0.04)))


def cast_color(name: str) -> Color:
    """A cast member's own colour, from its name alone: the same in every panel and seed."""
    hue = int.from_bytes(hashlib.sha256(name.encode()).digest()[:2], "big") / 65536
    return _hsv(hue, 0.55, 0.42)


def reference_color(image: Image.Image) -> Color:
    """A figure colour from a reference picture: its average colour at the saturation and
    brightness of `cast_color`, so a member with a reference reads as that picture's tone in
    every panel (a grey picture gives a grey figure)."""
    mean = np.asarray(image.convert("RGB"), dtype=np.float64).mean(axis=(0, 1)) / 255
    red, green, blue = (float(c) for c in mean)
    hue, saturation, _value = colorsys.rgb_to_hsv(red, green, blue)
    return _hsv(hue, min(saturation, 0.55), 0.42)


def draw_scene(
    canvas: Image.Image,
    shot_size: str,
    horizon: int,
    palette: Palette,
    rng: np.random.Generator,
    cast: Sequence[str] = (),
    named: list[tuple[str, Box]] | None = None,
    colors: Mapping[str, Color] | None = None,
) -> Box:
    """Draw the set and the figures; return the main subject's box (for the framing guide).

    With `cast` (the shot's members, in order) the subject is the first member and the
    second figure the second, each in its own colour (`cast_color`), and (name, box) pairs
    are appended to `named` for labels. `colors` overrides a member's colour (the draft takes
    it from the member's reference image). Without a cast, the panel is what it always was."""
    width, height = canvas.size

    def color_of(name: str) -> Color:
        return (colors or {}).get(name) or cast_color(name)

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
    # rng.random() is drawn first either way, so panels without a cast stay as they were.
    if shot_size in ("extreme-wide", "wide", "medium") and (rng.random() < 0.6 or len(cast) > 1):
        other = width - third if third != width / 2 else width * float(rng.choice([0.2, 0.8]))
        scale = rng.uniform(0.75, 0.95)
        color = color_of(cast[1]) if len(cast) > 1 else palette.far
        box = figure(draw, other, head_top + size * (1 - scale) * 0.6, size * scale, color, rng)
        if len(cast) > 1 and named is not None:
            named.append((cast[1], box))
    subject = figure(
        draw, third, head_top, size, color_of(cast[0]) if cast else palette.figure, rng
    )
    if cast and named is not None:
        named.append((cast[0], subject))
    if shot_size == "extreme-close-up":
        _eyes(draw, third, head_top, size, palette)
    return subject


def _sun(
    draw: ImageDraw.ImageDraw,
    width: int,
    height: int,
    horizon: int,
    palette: Palette,
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
    palette: Palette,
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


def _bokeh(canvas: Image.Image, palette: Palette, rng: np.random.Generator) -> None:
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


def figure(
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
    draw: ImageDraw.ImageDraw, cx: float, head_top: float, size: float, palette: Palette
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
