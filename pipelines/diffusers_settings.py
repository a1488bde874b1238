"""Per-call settings of the diffusers pipelines: what one render of a request uses.

`render_config` merges request.extra over the catalogue entry's defaults over
`BUILTIN_DEFAULTS` into a `RenderConfig`, including the size the model renders at
(`render_size`). Plain arithmetic: no torch, no diffusers.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any

from pipelines.entries import PipelineEntry
from pipelines.requests import RenderRequest

__all__ = ["BUILTIN_DEFAULTS", "RenderConfig", "render_config", "render_size"]

# Used where neither the request nor the catalogue entry says otherwise.
BUILTIN_DEFAULTS: dict[str, Any] = {
    "steps": 25,
    "guidance": 5.0,
    "num_frames": 16,
    "fps": 8,
    "strength": 0.8,
    "multiple_of": 8,
    "negative_prompt": "",
    "scheduler": "",
    "interpolation": "blend",
}


@dataclass(frozen=True)
class RenderConfig:
    """One call's settings: request.extra over the entry's defaults over BUILTIN_DEFAULTS."""

    steps: int
    guidance: float
    width: int  # the size the model renders at; outputs are resized to the request's size
    height: int
    num_frames: int
    fps: float
    strength: float
    negative_prompt: str
    scheduler: Any  # "" (the model's own), a class name, or {"class": name, **config}
    interpolation: str
    call: dict[str, Any]  # extra keyword arguments for the diffusers call

    def batch_key(self) -> str:
        """Requests with equal keys can share one batched call."""
        return json.dumps(self.__dict__, sort_keys=True, default=str)


def render_config(entry: PipelineEntry, request: RenderRequest) -> RenderConfig:
    """The settings a render of `request` with `entry`'s model uses."""
    merged = {**BUILTIN_DEFAULTS, **entry.defaults, **request.extra}
    call = {**dict(entry.defaults.get("call") or {}), **dict(request.extra.get("call") or {})}
    width, height = render_size(request, merged, explicit=request.extra)
    return RenderConfig(
        steps=int(merged["steps"]),
        guidance=float(merged["guidance"]),
        width=width,
        height=height,
        num_frames=int(merged["num_frames"]),
        fps=float(merged["fps"]),
        strength=float(merged["strength"]),
        negative_prompt=request.negative_prompt or str(merged["negative_prompt"]),
        scheduler=merged["scheduler"],
        interpolation=str(merged["interpolation"]),
        call=call,
    )


def render_size(
    request: RenderRequest, settings: dict[str, Any], explicit: dict[str, Any]
) -> tuple[int, int]:
    """The model's render size for a request.

    An explicit width and height in request.extra win. Otherwise the model's native size
    (defaults width×height) is reshaped to the request's aspect ratio at the same pixel area
    — models are trained for an area, not for every output size — and rounded to the model's
    `multiple_of`. The result is resized to the request's size afterwards."""
    multiple = int(settings["multiple_of"])
    if "width" in explicit and "height" in explicit:
        width, height = float(explicit["width"]), float(explicit["height"])
    elif "width" in settings and "height" in settings:
        area = float(settings["width"]) * float(settings["height"])
        aspect = request.width / request.height
        width, height = math.sqrt(area * aspect), math.sqrt(area / aspect)
    else:
        width, height = float(request.width), float(request.height)
    return (
        max(multiple, round(width / multiple) * multiple),
        max(multiple, round(height / multiple) * multiple),
    )
