"""The weightless `draft` pipeline: storyboard panels and animatic camera moves.

No model, no torch: Pillow + numpy only, so the studio works on any laptop and in CI.
A panel is a seeded scene sketch (sky, ground, silhouettes scaled to the shot size) with
storyboard marks on top: rule-of-thirds lines, a framing box, a camera-move arrow, the
shot number and the prompt as a caption. A clip moves a crop window over the panel.
A shot's cast (`request.extra["cast"]`, names in order) is drawn as its figures: each member
in a colour of its own, from its name, with its name above it, so an animatic already shows
the same person in every shot. A member with a reference picture (`request.references`) is
drawn in that picture's tone, with a small square of the picture beside its name.
A reference named "scene" (`STYLE_REFERENCE`: a scene's first panel, sent with the
project's scene style reference) lends the panel its sky and ground colours.
`request.extra["sheet"]` (a member's name) asks for a character sheet instead of a panel:
the member from the front, three-quarter and profile on a plain background
(`pipelines.draft_sheet`).

The pieces live beside this module: `pipelines.draft_scene` (the scene sketch),
`pipelines.draft_marks` (storyboard marks and text) and `pipelines.draft_camera` (the crop
window of each animatic frame).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import numpy as np
from PIL import Image

from pipelines.draft_camera import Box, camera_boxes
from pipelines.draft_marks import annotate, draw_guides, name_tags, shrink_box
from pipelines.draft_scene import (
    STYLE_REFERENCE,
    cast_color,
    draw_background,
    draw_scene,
    horizon_row,
    palette_like,
    random_palette,
    reference_color,
)
from pipelines.draft_sheet import draw_sheet
from pipelines.requests import CAMERA_MOVES, SHOT_SIZES, Cancelled, RenderRequest

__all__ = ["DraftPipeline", "camera_boxes"]

SUPERSAMPLE = 2  # shapes are drawn at 2× and reduced: cheap anti-aliasing
CANCEL_EVERY = 4  # frames between should_cancel() checks


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
        if request.extra.get("sheet"):
            return self._sheet(request, str(request.extra["sheet"]), progress)
        steps = 4
        # 1. Scene: seeded sky and ground with silhouettes sized by the shot size.
        rng = np.random.default_rng(request.seed % 2**64)
        palette = random_palette(rng)
        style = next((r for r in request.references if r.name == STYLE_REFERENCE), None)
        if style is not None and style.scale > 0:
            palette = palette_like(palette, style.image)  # the scene's first panel's colours
        scale = SUPERSAMPLE
        width, height = request.width * scale, request.height * scale
        horizon = horizon_row(height, request.shot_size, rng)
        canvas = draw_background(width, height, horizon, palette)
        progress(1, steps)
        cast = [str(name) for name in request.extra.get("cast", ())][:2]
        named: list[tuple[str, Box]] = []
        faces = {r.name: r.image for r in request.references if r.scale > 0 and r.name in cast}
        colors = {name: reference_color(image) for name, image in faces.items()}
        subject = draw_scene(canvas, request.shot_size, horizon, palette, rng, cast, named, colors)
        progress(2, steps)
        # 2. Guides: thirds, framing box, camera-move arrow (drawn at 2× too).
        draw_guides(canvas, subject, request.camera_move)
        panel = canvas.reduce(scale)
        progress(3, steps)
        # 3. Text at final size: FreeType anti-aliases it already.
        annotate(panel, request, shrink_box(subject, scale))
        name_tags(panel, [(name, shrink_box(box, scale)) for name, box in named], faces)
        progress(4, steps)
        return panel

    def _sheet(
        self, request: RenderRequest, name: str, progress: Callable[[int, int], None]
    ) -> Image.Image:
        """A character sheet of `name` (front, three-quarter, profile)."""
        face = next((r.image for r in request.references if r.name == name and r.scale > 0), None)
        color = reference_color(face) if face is not None else cast_color(name)
        sheet = draw_sheet(request.width, request.height, name, color, request.seed, face)
        progress(1, 1)
        return sheet

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


def _check(request: RenderRequest) -> None:
    if request.width < 1 or request.height < 1:
        raise ValueError(f"size must be positive, got {request.width}×{request.height}")
    if request.shot_size not in SHOT_SIZES:
        raise ValueError(f"unknown shot size {request.shot_size!r}; expected one of {SHOT_SIZES}")
    if request.camera_move not in CAMERA_MOVES:
        raise ValueError(
            f"unknown camera move {request.camera_move!r}; expected one of {CAMERA_MOVES}"
        )
