"""What a pipeline is asked to render or to say: plain dataclasses, no torch, no studio."""

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
    "SPEECH_PITCHES",
    "SPEECH_SPEEDS",
    "Cancelled",
    "Reference",
    "RenderRequest",
    "RequestLora",
    "SpeechRequest",
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
class RequestLora:
    """A LoRA for one render (e.g. a cast member's own), on top of the entry's own `loras`.

    `path` is a local .safetensors file, or a folder holding one (`weight_name` names the file
    in a folder holding several). Hub ids are not accepted here: a request must never make a
    worker download something, and the caller (the studio) checks that the path is one it
    may read; a path that is not on this machine fails the render. `scale` is the strength
    (1.0: as trained; 0: no effect; negative: away from it). `digest` is a content hash the
    caller already has (e.g. the file's sha256): batching, the pipeline's cache of loaded
    LoRAs and provenance use it; left empty, the path (and `weight_name`) stand in for it
    (`effective_digest`)."""

    path: str
    scale: float = 1.0
    weight_name: str = ""
    digest: str = ""

    def __post_init__(self) -> None:
        if not (isinstance(self.path, str) and self.path.strip()):
            raise ValueError(
                f"a request LoRA needs a path (a local file or folder), not {self.path!r}"
            )
        if not (
            isinstance(self.scale, int | float)
            and not isinstance(self.scale, bool)
            and math.isfinite(self.scale)
        ):
            raise ValueError(f"LoRA {self.path!r}: scale must be a number, not {self.scale!r}")

    @property
    def effective_digest(self) -> str:
        """`digest`, else the path (with `#weight_name` when one is given)."""
        if self.digest:
            return self.digest
        return f"{self.path}#{self.weight_name}" if self.weight_name else self.path

    def as_dict(self) -> dict[str, Any]:
        """As `RenderRequest.as_dict` lists it: the fields as given."""
        return {
            "path": self.path,
            "scale": self.scale,
            "weight_name": self.weight_name,
            "digest": self.digest,
        }

    def describe(self) -> dict[str, Any]:
        """What provenance records of it: path, weight_name, scale and the effective digest."""
        return {**self.as_dict(), "digest": self.effective_digest}


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
    # LoRAs for this render only (a cast member's own), on top of the entry's; only pipelines
    # whose entry `supports_loras` use them, the others ignore them.
    loras: tuple[RequestLora, ...] = ()

    def __post_init__(self) -> None:
        seen: set[str] = set()
        for lora in self.loras:
            if not isinstance(lora, RequestLora):
                raise TypeError(f"loras must hold RequestLora values, not {lora!r}")
            # The same LoRA twice would be applied twice (diffusers keeps one scale per name).
            if lora.effective_digest in seen:
                raise ValueError(f"the LoRA {lora.path!r} is listed twice in one request")
            seen.add(lora.effective_digest)

    @property
    def frame_count(self) -> int:
        return max(1, round(self.duration * self.fps))

    def as_dict(self) -> dict[str, Any]:
        """The request as plain data (the studio hashes it for its render cache).

        Without references and LoRAs this is exactly what it was before they existed, so
        every existing cache key stays valid; with references, a "references" list of name,
        scale and digest (no pixels); with LoRAs, a "loras" list of path, scale, weight_name
        and digest (as given)."""
        # asdict would deep-copy the images; drop the references first, describe them after.
        data = asdict(dataclasses.replace(self, references=(), loras=()))
        del data["references"], data["loras"]
        if self.references:
            data["references"] = [reference.describe() for reference in self.references]
        if self.loras:
            data["loras"] = [lora.as_dict() for lora in self.loras]
        return data


# SpeechRequest limits: beyond them every engine sounds broken (or refuses).
SPEECH_SPEEDS = (0.5, 2.0)  # a multiplier of the engine's normal rate
SPEECH_PITCHES = (-12.0, 12.0)  # semitones: an octave either way


@dataclass(frozen=True)
class SpeechRequest:
    """One line to speak (pipelines.speech): the text as it should sound, no stage directions.

    `voice` is an engine voice id (each engine's `voices()` lists them; "" is the entry's
    `defaults["voice"]`). `speed` multiplies the engine's normal rate; `pitch` shifts the voice
    by semitones (how each engine does it is in docs/voices.md). `seed` picks the noise of
    stochastic engines (VITS's durations and sound, eSpeak's breath): with VITS the same
    request gives the same samples."""

    text: str
    voice: str = ""
    speed: float = 1.0
    pitch: float = 0.0
    seed: int = 0

    def __post_init__(self) -> None:
        if not isinstance(self.text, str) or not self.text.strip():
            raise ValueError("a speech request needs some text to say, not an empty line")
        if not isinstance(self.voice, str):
            raise ValueError(f"voice must be a voice id (a string), not {self.voice!r}")
        low, high = SPEECH_SPEEDS
        if not (_is_real(self.speed) and low <= self.speed <= high):
            raise ValueError(f"speed must be between {low} and {high}, not {self.speed!r}")
        low, high = SPEECH_PITCHES
        if not (_is_real(self.pitch) and low <= self.pitch <= high):
            raise ValueError(
                f"pitch must be between {low:g} and {high:g} semitones, not {self.pitch!r}"
            )
        if not (isinstance(self.seed, int) and not isinstance(self.seed, bool)):
            raise ValueError(f"seed must be an integer, not {self.seed!r}")


def _is_real(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


class Cancelled(Exception):
    """Raised inside a pipeline when the caller asked it to stop."""
