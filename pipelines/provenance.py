"""What made a render, for notebook users who run pipelines without the studio.

`record(entry, request, extra)` returns a plain JSON-able dict. `model_revision(entry)` pins
which weights were used without importing torch: a hub id resolves to the commit of the cached
snapshot, a local folder to a fingerprint of its files; `ip_adapter_revision(spec)` does the
same for an entry's IP-Adapter.
"""

from __future__ import annotations

import functools
import hashlib
import json
from importlib import metadata
from pathlib import Path
from typing import Any

from pipelines.entries import IpAdapterSpec, PipelineEntry
from pipelines.errors import looks_like_path
from pipelines.requests import RenderRequest

# Libraries whose versions change pixels; read from package metadata, never imported.
LIBRARIES = ("torch", "diffusers", "transformers", "accelerate", "peft", "safetensors")
_SMALL_FILE = 1 << 20  # config-sized files are hashed whole, weights by name and size


@functools.cache  # package metadata does not change within a process; reading it is slow
def _library_versions() -> tuple[tuple[str, str], ...]:
    return tuple(library_versions_uncached().items())


def library_versions() -> dict[str, str]:
    return dict(_library_versions())


def library_versions_uncached() -> dict[str, str]:
    versions = {}
    for dist in LIBRARIES:
        try:
            versions[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            versions[dist] = "not installed"
    return versions


def record(
    entry: PipelineEntry, request: RenderRequest, extra: dict[str, Any] | None = None
) -> dict[str, Any]:
    """Provenance of one render: the entry's configuration, the request, and `extra` — what
    the loaded pipeline actually used (`pipeline.settings(request)`: resolved device, dtype,
    scheduler, steps, size) — which wins over the configured values."""
    defaults = dict(entry.defaults)
    scheduler = defaults.get("scheduler", "")
    out: dict[str, Any] = {
        "pipeline": entry.name,
        "implementation": entry.implementation,
        "model_id": entry.model_id,
        "revision": entry.revision or model_revision(entry),
        "variant": entry.variant,
        "dtype": entry.dtype,
        "device": entry.device,
        "scheduler": scheduler.get("class", "") if isinstance(scheduler, dict) else scheduler,
        "steps": request.extra.get("steps", defaults.get("steps")),
        "guidance": request.extra.get("guidance", defaults.get("guidance")),
        "seed": request.seed,
        "prompt": request.prompt,
        "negative_prompt": request.negative_prompt,
        "width": request.width,
        "height": request.height,
        "loras": [
            {"path": lora.path, "scale": lora.scale, "weight_name": lora.weight_name}
            for lora in entry.loras
        ],
        "libraries": library_versions(),
    }
    # Only when present, so the records of renders without them keep their shape.
    if entry.ip_adapter is not None:
        out["ip_adapter"] = ip_adapter_record(entry.ip_adapter)
    if request.references:
        out["references"] = [reference.describe() for reference in request.references]
    if request.loras:
        # The request's own LoRAs (a cast member's), beside the entry's "loras"; a pipeline
        # that does not apply them records them as ignored (its `settings` say the same).
        used = entry.supports_loras
        out["request_loras"] = [lora.describe() for lora in request.loras] if used else []
        if not used:
            out["ignored_request_loras"] = [lora.path for lora in request.loras]
    out.update(extra or {})
    return out


def ip_adapter_record(spec: IpAdapterSpec) -> dict[str, Any]:
    """Which IP-Adapter weights an entry loads (the scale is per render: `reference_scale`)."""
    return {
        "model_id": spec.model_id,
        "subfolder": spec.subfolder,
        "weight_name": spec.weight_name,
        "image_encoder_folder": spec.image_encoder_folder,
        "revision": ip_adapter_revision(spec),
    }


def ip_adapter_revision(spec: IpAdapterSpec) -> str:
    """The adapter's pinned revision; else a local folder's fingerprint or the cached hub
    snapshot's commit; "" when its weights are not on this machine. Never imports torch."""
    if spec.revision or not spec.model_id:
        return spec.revision
    folder = Path(spec.model_id).expanduser()
    if folder.is_dir():
        return folder_fingerprint(folder)
    if looks_like_path(spec.model_id):
        return ""
    return cached_commit(spec.model_id, spec.weight_path)


def model_revision(entry: PipelineEntry, marker: str = "model_index.json") -> str:
    """The entry's pinned revision; else the cached hub snapshot's commit (a snapshot holding
    `marker`: model_index.json for diffusers, config.json for transformers); else a local
    folder's fingerprint; "" when the weights are not on this machine."""
    if entry.revision:
        return entry.revision
    model_id = entry.model_id
    folder = Path(model_id).expanduser()
    if model_id and folder.is_dir():
        return folder_fingerprint(folder)
    if not model_id or looks_like_path(model_id):
        return ""
    return cached_commit(model_id, marker)


def folder_fingerprint(folder: Path) -> str:
    """A short hash over the folder's file names, sizes and small (config) files' contents.

    Weights are not read: hashing gigabytes per submit would be slow, and a retrained weight
    file of identical size next to unchanged configs is rare enough to accept."""
    digest = hashlib.sha256()
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        relative = path.relative_to(folder).as_posix()
        if relative.startswith(".") or "/." in relative:
            continue  # .cache/ and friends are not the model
        size = path.stat().st_size
        digest.update(f"{relative}\0{size}\0".encode())
        if size <= _SMALL_FILE and path.suffix in (".json", ".txt", ".yaml", ".model"):
            digest.update(path.read_bytes())
    return "folder-" + digest.hexdigest()[:16]


def cached_commit(repo_id: str, filename: str = "model_index.json", revision: str = "") -> str:
    """The commit of the locally cached snapshot holding `filename`, or "" (not cached)."""
    try:
        from huggingface_hub import try_to_load_from_cache
    except ImportError:
        return ""
    try:
        found = try_to_load_from_cache(repo_id, filename, revision=revision or None)
    except ValueError:  # not a valid repo id
        return ""
    if not isinstance(found, str):
        return ""
    # …/models--org--name/snapshots/<commit>/model_index.json
    return Path(found).parent.name


def as_json(provenance: dict[str, Any]) -> str:
    return json.dumps(provenance, sort_keys=True, ensure_ascii=False, default=str)
