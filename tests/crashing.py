"""A pipeline that kills its worker process, for the quarantine test (catalogue
`implementation: tests.crashing:CrashPipeline`)."""

from __future__ import annotations

import os
from typing import Any


class CrashPipeline:
    name = "crash"
    model_id = "crash"
    revision = "1"

    def render_frame(self, *_args: Any, **_kwargs: Any) -> Any:
        os._exit(17)  # like a segfault or an OOM kill: no exception, no cleanup

    def render_clip(self, *_args: Any, **_kwargs: Any) -> Any:
        os._exit(17)


class ExhaustedPipeline:
    """Runs out of (GPU) memory on every render, as a too-large model or size would."""

    name = "exhausted"
    model_id = "exhausted"
    revision = "1"

    def render_frame(self, *_args: Any, **_kwargs: Any) -> Any:
        from pipelines.errors import OutOfMemoryError

        raise OutOfMemoryError("exhausted", "rendering with", "CUDA out of memory (simulated)")
