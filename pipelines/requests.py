"""What a pipeline is asked to render: plain dataclasses, no torch, no studio."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

# Shot vocabulary shared by the script breakdown (studio) and the renderers (pipelines).
SHOT_SIZES: tuple[str, ...] = ("extreme-wide", "wide", "medium", "close-up", "extreme-close-up")
CAMERA_MOVES: tuple[str, ...] = (
    "static",
    "pan-left",
    "pan-right",
    "tilt-up",
    "tilt-down",
    "dolly-in",
    "dolly-out",
    "zoom-in",
    "zoom-out",
)


@dataclass(frozen=True)
class RenderRequest:
    """One shot to render: a still (preview) or a clip of `duration` seconds at `fps`."""

    prompt: str
    negative_prompt: str = ""
    seed: int = 0
    width: int = 640
    height: int = 360
    shot_number: int = 1
    shot_size: str = "medium"
    camera_move: str = "static"
    duration: float = 3.0
    fps: int = 24
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def frame_count(self) -> int:
        return max(1, round(self.duration * self.fps))

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


class Cancelled(Exception):
    """Raised inside a pipeline when the caller asked it to stop."""
