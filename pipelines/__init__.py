"""Renderers for the studio, usable on their own in a notebook.

Invariant: nothing in `pipelines` imports `studio`. torch/diffusers are imported lazily by the
implementations that need them; the catalogue and the `draft` pipeline are weightless.
"""

from pipelines.catalogue import Catalogue, PipelineEntry, UnknownPipelineError
from pipelines.requests import (
    CAMERA_MOVES,
    SHOT_SIZES,
    Cancelled,
    Reference,
    RenderRequest,
    RequestLora,
)

__all__ = [
    "CAMERA_MOVES",
    "SHOT_SIZES",
    "Cancelled",
    "Catalogue",
    "PipelineEntry",
    "Reference",
    "RenderRequest",
    "RequestLora",
    "UnknownPipelineError",
]
