"""Provenance: what made an artifact, recorded in the database, a JSON sidecar and the file."""

from __future__ import annotations

import functools
import io
import json
import platform
import sys
from datetime import UTC, datetime
from importlib import metadata
from typing import TYPE_CHECKING, Any

from studio.core.version import __version__

if TYPE_CHECKING:
    from PIL import Image

# Libraries whose versions change pixels. torch/diffusers are reported only when already
# imported, so provenance never pulls them into a torch-free process.
_ALWAYS = ("pillow", "av", "numpy")
_IF_LOADED = {"torch": "torch", "diffusers": "diffusers", "transformers": "transformers"}


def library_versions() -> dict[str, str]:
    versions = {"python": platform.python_version(), "studio": __version__}
    for dist in _ALWAYS:
        versions[dist] = _version(dist)
    for module, dist in _IF_LOADED.items():
        if module in sys.modules:
            versions[dist] = _version(dist)
    return versions


@functools.cache  # package metadata does not change within a process; reading it is slow
def _version(dist: str) -> str:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return "unknown"


def record(job_id: int, params: dict[str, Any], params_hash: str) -> dict[str, Any]:
    request = params.get("request", {})
    pipeline = params.get("pipeline", {})
    return {
        "job_id": job_id,
        "kind": params.get("kind"),
        "prompt": request.get("prompt"),
        "negative_prompt": request.get("negative_prompt"),
        "seed": request.get("seed"),
        "pipeline": pipeline.get("name"),
        "model_id": pipeline.get("model_id"),
        "model_revision": pipeline.get("revision"),
        "params": params,
        "params_hash": params_hash,
        "libraries": library_versions(),
        "created_at": datetime.now(UTC).isoformat(),
    }


def as_json(provenance: dict[str, Any]) -> str:
    return json.dumps(provenance, sort_keys=True, ensure_ascii=False)


def file_tags(provenance: dict[str, Any]) -> dict[str, str]:
    """Flat string tags embedded in PNG text chunks and MP4 metadata."""
    tags = {
        "studio_provenance": as_json(provenance),
        "comment": f"AI Film Studio {provenance.get('kind')} job {provenance.get('job_id')}",
    }
    for key in ("prompt", "negative_prompt", "seed", "pipeline", "model_id", "params_hash"):
        value = provenance.get(key)
        if value not in (None, ""):
            tags[f"studio_{key}"] = str(value)
    return tags


def png_bytes(image: Image.Image, tags: dict[str, str]) -> bytes:
    """The picture as a PNG file carrying `tags` (its provenance, `file_tags`)."""
    from PIL.PngImagePlugin import PngInfo  # (here: the rest of the module needs no Pillow)

    info = PngInfo()
    for key, value in tags.items():
        info.add_itxt(key, value)  # iTXt: UTF-8, so non-ASCII prompts survive
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", pnginfo=info)
    return buffer.getvalue()
