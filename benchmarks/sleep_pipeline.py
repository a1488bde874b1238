"""A stand-in for GPU time: a preview pipeline whose render sleeps (benchmarks/farm_scaling.py).

Catalogue entry: `implementation: benchmarks.sleep_pipeline:SleepPipeline` (the repository
root must be importable, as it is for `python -m studio worker` started there). The render
sleeps `SECONDS` in `STEPS` steps, reporting progress after each like a diffusers render,
and returns a flat picture of the requested size: the CPU stays free, as it would while a
GPU renders, and the studio still encodes, stores and records the result as for any preview.
No `render_frames`, so a worker never batches these previews.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable

from PIL import Image

from pipelines.requests import RenderRequest

# Seconds per render: 0.5 unless STUDIO_SLEEP_SECONDS says (farm_scaling.py --render-seconds).
SECONDS = float(os.environ.get("STUDIO_SLEEP_SECONDS", "0.5"))
STEPS = 5


class SleepPipeline:
    name = "sleep"
    model_id = "sleep"
    revision = "sleep-1"

    def render_frame(
        self, request: RenderRequest, on_progress: Callable[[int, int], None] | None = None
    ) -> Image.Image:
        for step in range(STEPS):
            time.sleep(SECONDS / STEPS)
            if on_progress is not None:
                on_progress(step + 1, STEPS)
        shade = request.seed % 256
        return Image.new("RGB", (request.width, request.height), (shade, 96, 255 - shade))
