"""The draft's character sheet: one cast member three times (front, three-quarter, profile)
on a plain background, with its name and the view under each figure.

Asked for with `request.extra["sheet"]` (the member's name, as the studio's
`render_character_sheet` sends it). The figure is the draft's own silhouette in the member's
colour (its reference picture's tone when it has one, else its name's), so the sheet shows
the same person the storyboard panels show; turned views are the front view narrowed, the
profile with a nose. Seeded: the same request draws the same sheet.
"""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageDraw

from pipelines.draft_marks import name_tags, view_labels
from pipelines.draft_scene import Color, figure

__all__ = ["VIEWS", "draw_sheet"]

# (label, horizontal squeeze of the front silhouette)
VIEWS: tuple[tuple[str, float], ...] = (("FRONT", 1.0), ("THREE-QUARTER", 0.78), ("PROFILE", 0.5))
_BACKGROUND: Color = (226, 226, 222)
SUPERSAMPLE = 2


def draw_sheet(
    width: int,
    height: int,
    name: str,
    color: Color,
    seed: int,
    face: Image.Image | None = None,
) -> Image.Image:
    """A width × height RGB sheet of `name` in `color`; `seed` shapes the figure (the same
    in every view: it is one person)."""
    scale = SUPERSAMPLE
    canvas = Image.new("RGB", (width * scale, height * scale), _BACKGROUND)
    size = canvas.height * 0.72
    top = canvas.height * 0.16
    column = canvas.width / len(VIEWS)
    boxes = []
    for index, (label, squeeze) in enumerate(VIEWS):
        layer = Image.new("RGBA", (round(column), canvas.height), (0, 0, 0, 0))
        rng = np.random.default_rng(seed % 2**64)
        box = figure(ImageDraw.Draw(layer), column / 2, top, size, color, rng)
        if label == "PROFILE":
            _nose(ImageDraw.Draw(layer), column / 2, top, size, color)
        if squeeze != 1.0:
            narrow = round(column * squeeze)
            layer = layer.resize((narrow, canvas.height), Image.Resampling.LANCZOS)
            offset = round(index * column + (column - narrow) / 2)
            half = (box[2] - box[0]) * squeeze / 2
            box = (offset + narrow / 2 - half, box[1], offset + narrow / 2 + half, box[3])
        else:
            offset = round(index * column)
            box = (box[0] + offset, box[1], box[2] + offset, box[3])
        canvas.paste(layer, (offset, 0), layer)
        boxes.append((label, box))
    sheet = canvas.reduce(scale)
    shrunk = [(label, tuple(v / scale for v in box)) for label, box in boxes]
    view_labels(sheet, [(label, (box[0], box[1], box[2], box[3])) for label, box in shrunk])
    first = shrunk[0][1]
    title_box = (first[0], height * 0.12, first[2], height * 0.2)
    name_tags(sheet, [(name, title_box)], {name: face} if face is not None else None)
    return sheet


def _nose(draw: ImageDraw.ImageDraw, cx: float, head_top: float, size: float, color: Color) -> None:
    """A profile's nose: a small wedge on the right of the head."""
    head_r = size * 0.065
    y = head_top + head_r
    draw.polygon(
        [
            (cx + head_r * 0.8, y - head_r * 0.2),
            (cx + head_r * 1.25, y + head_r * 0.25),
            (cx + head_r * 0.8, y + head_r * 0.35),
        ],
        fill=color,
    )
