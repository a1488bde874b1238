"""Animatic camera moves for the `draft` pipeline: which panel region each frame shows.

A clip moves a crop window over the panel: pans and tilts slide a window over the panel
up-scaled by `PAN_SCALE`, dollies and zooms magnify towards (or away from) `ZOOM_SCALE`,
eased in and out. Pure arithmetic: no Pillow, no numpy.
"""

from __future__ import annotations

import math

from pipelines.requests import CAMERA_MOVES

__all__ = ["PAN_SCALE", "ZOOM_SCALE", "Box", "camera_boxes"]

Box = tuple[float, float, float, float]

PAN_SCALE = 1.2  # pans and tilts slide a window over the panel up-scaled this much
ZOOM_SCALE = 1.25  # dolly/zoom in ends (out starts) magnified this much


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
