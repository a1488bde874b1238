"""What a pipeline is asked to render: plain dataclasses, no torch, no studio."""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import math
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # only annotations: importing this module must not need Pillow loaded
    from PIL import Image

__all__ = [
    "CAMERA_MOVES",
    "DEFAULT_REFERENCE_SCALE",
    "SHOT_SIZES",
    "Cancelled",
    "Reference",
    "RenderRequest",
    "image_digest",
]

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
# IP-Adapter's usual strength: enough to carry a face or a prop, still led by the prompt.
DEFAULT_REFERENCE_SCALE = 0.6


@dataclass(frozen=True)
class Reference:
    """A picture the render should resemble (a cast member's face, a prop, a place).

    `scale` is how strongly (IP-Adapter scale; 0 = not at all). `digest` is a content hash
    the caller already has (e.g. the sha256 of the stored file): batching and provenance use
    it instead of hashing pixels. Left empty, `effective_digest` hashes the pixels once."""

    name: str
    image: Image.Image = field(repr=False)
    scale: float = DEFAULT_REFERENCE_SCALE
    digest: str = ""

    def __post_init__(self) -> None:
        if not (isinstance(self.scale, int | float) and math.isfinite(self.scale)):
            raise ValueError(f"reference {self.name!r}: scale must be a number, not {self.scale!r}")
        if self.scale < 0:
            raise ValueError(f"reference {self.name!r}: scale must be ≥ 0, not {self.scale}")

    @functools.cached_property  # frozen, so it cannot change; cached_property skips __setattr__
    def effective_digest(self) -> str:
        """`digest`, else a hash of the image's pixels (see `image_digest`)."""
        return self.digest or image_digest(self.image)

    def describe(self) -> dict[str, Any]:
        """What provenance and cache keys record of it: no pixels."""
        return {"name": self.name, "scale": self.scale, "digest": self.effective_digest}


def image_digest(image: Image.Image) -> str:
    """A hash of an image's mode, size and pixels, prefixed "pixels-" so it is never taken for
    the sha256 of a file (a PNG and a JPEG of one picture differ as files, not as pixels)."""
    digest = hashlib.sha256(f"{image.mode}\0{image.size[0]}x{image.size[1]}\0".encode())
    digest.update(image.tobytes())
    return "pixels-" + digest.hexdigest()


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
    # Pictures to resemble; only pipelines whose entry `supports_references` use them.
    references: tuple[Reference, ...] = ()

    @property
    def frame_count(self) -> int:
        return max(1, round(self.duration * self.fps))

    def as_dict(self) -> dict[str, Any]:
        """The request as plain data (the studio hashes it for its render cache).

        Without references this is exactly what it was before references existed, so every
        existing cache key stays valid; with them, a "references" list of name, scale and
        digest (no pixels)."""
        # asdict would deep-copy the images; drop the references first, describe them after.
        data = asdict(dataclasses.replace(self, references=()))
        del data["references"]
        if self.references:
            data["references"] = [reference.describe() for reference in self.references]
        return data


class Cancelled(Exception):
    """Raised inside a pipeline when the caller asked it to stop."""
