"""Cast members' own LoRAs: what the studio accepts before storing one.

A LoRA arrives as a .safetensors file (a character LoRA trained elsewhere). It is checked
without torch, by reading the safetensors header: an 8-byte length, then a JSON table of the
tensors. A file that is not safetensors, or whose tensors are not LoRA weights, is refused
here with a clear message instead of failing every render later; whether its shapes fit the
model is only known when a pipeline loads it (the render then fails with the pipeline's
one-line reason, and the pipeline stays usable). Stored content-addressed like any artifact,
so remote workers fetch it from storage by its sha256.
"""

from __future__ import annotations

import json
import struct
from pathlib import Path

from studio.core.errors import InvalidInput

MAX_LORA_BYTES = 2_000_000_000  # a large SDXL LoRA is a few hundred MB
MAX_HEADER_BYTES = 100_000_000
SUFFIX = ".safetensors"


def check_lora(path: Path, field: str = "lora") -> None:
    """InvalidInput unless `path` is a readable safetensors file of LoRA weights."""
    if not path.is_file():
        raise InvalidInput(f"No LoRA file at {path}", field)
    size = path.stat().st_size
    if size > MAX_LORA_BYTES:
        raise InvalidInput(
            f"{path.name} is {size / 1e9:.1f} GB; the limit is {MAX_LORA_BYTES / 1e9:.0f} GB",
            field,
        )
    with path.open("rb") as handle:
        head = handle.read(8)
        length = struct.unpack("<Q", head)[0] if len(head) == 8 else 0
        if not 2 <= length <= min(MAX_HEADER_BYTES, size - 8):
            raise InvalidInput(f"{path.name} is not a .safetensors file", field)
        try:
            header = json.loads(handle.read(length))
        except (UnicodeDecodeError, json.JSONDecodeError):
            raise InvalidInput(f"{path.name} is not a .safetensors file", field) from None
    if not isinstance(header, dict):
        raise InvalidInput(f"{path.name} is not a .safetensors file", field)
    tensors = [name for name in header if name != "__metadata__"]
    if not any("lora" in name.lower() for name in tensors):
        raise InvalidInput(
            f"{path.name} holds no LoRA weights ({len(tensors)} tensors, none named lora_…): "
            "is it a full model or an embedding?",
            field,
        )
