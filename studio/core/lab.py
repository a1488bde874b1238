"""The Lab: tweak a catalogue pipeline the way a notebook would, one render or a sweep.

Lab renders are ordinary jobs (queue, cache, provenance) in a hidden per-owner project.
Tweaks go into `RenderRequest.extra`, which the diffusers implementations read over the
entry's defaults. A tweak worth keeping is saved as a preset: a new catalogue entry (base
entry + tweaked defaults, optionally a LoRA scale) stored in the database, so every worker
sees it, and usable by projects and shots like any pipeline.
"""

from __future__ import annotations

import dataclasses
import hashlib
import itertools
import json
import re
from typing import Any

from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from pipelines.catalogue import MEMORY_OPTIONS, Catalogue, PipelineEntry, UnknownPipelineError
from pipelines.requests import RenderRequest
from studio.core.db import session_scope
from studio.core.errors import InvalidInput
from studio.core.models import JobKind, Preset
from studio.core.params import PARAMS_VERSION, pipeline_params, resolve_preview_request
from studio.core.validation import number, text

# name → (integer?, low, high): what the Lab lets a researcher change per render.
KNOBS: dict[str, tuple[bool, float, float]] = {
    "steps": (True, 1, 500),
    "guidance": (False, 0, 50),
    "width": (True, 64, 2048),
    "height": (True, 64, 2048),
    "num_frames": (True, 1, 257),
    "strength": (False, 0.01, 1),
}
SWEEPABLE = (*KNOBS, "seed", "scheduler")
# Options that change how the pipeline is loaded, not one call: a Lab run with these uses a
# hidden preset ("lab-…") so that every worker loads the same variant.
LOAD_OPTIONS = ("lora_scale", "memory")
HIDDEN_PREFIX = "lab-"
MAX_SWEEP = 36
_SCHEDULER = re.compile(r"[A-Za-z][A-Za-z0-9_]{0,79}")
_PRESET_NAME = re.compile(r"[a-z0-9][a-z0-9._-]{0,63}")


def check_knob(name: str, value: Any) -> Any:
    if name == "scheduler":
        if not isinstance(value, str) or not _SCHEDULER.fullmatch(value):
            raise InvalidInput(
                f"Scheduler must be a diffusers class name, not {value!r}", "scheduler"
            )
        return value
    if name == "seed":
        return int(number(value, "Seed", 0, 2**31 - 1, integer=True))
    if name not in KNOBS:
        raise InvalidInput(f"Unknown Lab parameter {name!r}; use {', '.join(SWEEPABLE)}", name)
    integer, low, high = KNOBS[name]
    parsed = number(value, name.replace("_", " ").capitalize(), low, high, integer=integer)
    if name in ("width", "height") and int(parsed) % 8:
        raise InvalidInput(f"{name.capitalize()} must be a multiple of 8", name)
    return int(parsed) if integer else parsed


def check_overrides(overrides: dict[str, Any] | None) -> dict[str, Any]:
    """Validated tweaks; empty values mean "the entry's default"."""
    return {
        k: check_knob(k, v)
        for k, v in (overrides or {}).items()
        if v not in (None, "") and k != "seed" and k not in LOAD_OPTIONS
    }


def check_load_options(
    entry: PipelineEntry,
    lora_scale: float | str | None = None,
    memory: list[str] | dict[str, bool] | None = None,
) -> dict[str, Any]:
    """Validated load-time options: a LoRA scale (the entry must have LoRAs) and memory
    options (names from pipelines.catalogue.MEMORY_OPTIONS, switched on)."""
    options: dict[str, Any] = {}
    if lora_scale not in (None, ""):
        if not entry.loras:
            raise InvalidInput(f"{entry.name!r} has no LoRA to scale", "lora_scale")
        options["lora_scale"] = number(lora_scale, "LoRA scale", -4, 4)
    if memory:
        chosen = dict.fromkeys(memory, True) if isinstance(memory, list) else dict(memory)
        unknown = set(chosen) - set(MEMORY_OPTIONS)
        if unknown:
            raise InvalidInput(
                f"Unknown memory option(s) {', '.join(sorted(unknown))}; use "
                f"{', '.join(MEMORY_OPTIONS)}",
                "memory",
            )
        if chosen.get("model_cpu_offload") and chosen.get("sequential_cpu_offload"):
            raise InvalidInput("Choose one of model and sequential CPU offload", "memory")
        options["memory"] = {k: bool(v) for k, v in chosen.items()}
    return options


def hidden_preset_name(base: str, options: dict[str, Any]) -> str:
    digest = hashlib.sha256(json.dumps([base, options], sort_keys=True).encode()).hexdigest()
    return f"{HIDDEN_PREFIX}{digest[:12]}"


def sweep_cells(axes: dict[str, list[Any]]) -> list[dict[str, Any]]:
    """The grid of a sweep: every combination of up to two parameters' values."""
    axes = {k: v for k, v in axes.items() if v}
    if not axes or len(axes) > 2:
        raise InvalidInput("A sweep varies one or two parameters", "axes")
    checked = {name: [check_knob(name, v) for v in values] for name, values in axes.items()}
    cells = [
        dict(zip(checked, combo, strict=True)) for combo in itertools.product(*checked.values())
    ]
    if len(cells) > MAX_SWEEP:
        raise InvalidInput(
            f"A sweep of {len(cells)} renders is too big; the limit is {MAX_SWEEP}", "axes"
        )
    return cells


def lab_params(
    catalogue: Catalogue,
    pipeline: str,
    prompt: str,
    negative_prompt: str,
    seed: int,
    overrides: dict[str, Any],
    fps: int = 8,
) -> tuple[JobKind, dict[str, Any]]:
    """Resolved params of one Lab render: a still for image pipelines, a clip for video ones."""
    try:
        entry = catalogue.get(pipeline)
    except UnknownPipelineError as exc:
        raise InvalidInput(str(exc), "pipeline") from None
    defaults = entry.defaults
    width = int(overrides.get("width", defaults.get("width", 512)))
    height = int(overrides.get("height", defaults.get("height", 512)))
    frames = int(overrides.get("num_frames", defaults.get("num_frames", 16)))
    request = RenderRequest(
        prompt=prompt,
        negative_prompt=negative_prompt,
        seed=seed,
        width=width,
        height=height,
        duration=frames / fps,
        fps=fps,
        extra=dict(overrides),
    )
    if entry.supports("text-to-image"):
        return JobKind.preview, {
            "version": PARAMS_VERSION,
            "kind": JobKind.preview.value,
            "lab": True,
            "pipeline": pipeline_params(catalogue, pipeline, "text-to-image"),
            "request": request.as_dict(),
        }
    if not (entry.supports("text-to-video") or entry.supports("image-to-video")):
        raise InvalidInput(
            f"Pipeline {pipeline!r} renders no images or clips (it does {', '.join(entry.tasks)})",
            "pipeline",
        )
    task = "text-to-video" if entry.supports("text-to-video") else "image-to-video"
    params: dict[str, Any] = {
        "version": PARAMS_VERSION,
        "kind": JobKind.clip.value,
        "lab": True,
        "task": task,
        "pipeline": pipeline_params(catalogue, pipeline, task),
        "request": request.as_dict(),
    }
    if task == "image-to-video":
        # Image-to-video needs a first frame: a draft panel of the same prompt.
        params["preview"] = resolve_preview_request(catalogue, "draft", request)
    return JobKind.clip, params


# ---- presets ------------------------------------------------------------------------------
def with_presets(catalogue: Catalogue, engine: Engine) -> Catalogue:
    """The catalogue plus the presets saved in the database (one whose base vanished, or
    whose name a catalogue entry took since, is skipped)."""
    with session_scope(engine) as session:
        presets = session.exec(select(Preset)).all()
    extra = {
        p.name: preset_entry(catalogue.get(p.base), p)
        for p in presets
        if p.base in catalogue and p.name not in catalogue
    }
    return catalogue.with_entries(extra) if extra else catalogue


def preset_entry(base: PipelineEntry, preset: Preset) -> PipelineEntry:
    overrides = dict(preset.overrides)
    lora_scale = overrides.pop("lora_scale", None)
    loras = base.loras
    if lora_scale is not None:
        loras = tuple(dataclasses.replace(lora, scale=float(lora_scale)) for lora in base.loras)
    return dataclasses.replace(
        base,
        name=preset.name,
        defaults={**base.defaults, **overrides},
        loras=loras,
        description=preset.description or f"Lab preset of {base.name}",
    )


def save_preset(
    session: Session,
    catalogue: Catalogue,
    name: str,
    base: str,
    overrides: dict[str, Any],
    lora_scale: float | str | None = None,
    description: str = "",
    owner: str = "local",
    memory: list[str] | dict[str, bool] | None = None,
    hidden: bool = False,
) -> Preset:
    """Create or update a preset. A preset made from another preset (or from itself) is
    flattened: it keeps that preset's base, with the new tweaks over the old ones."""
    if not _PRESET_NAME.fullmatch(name or ""):
        raise InvalidInput("Preset names are lowercase letters, digits, '.', '_' or '-'", "name")
    if name.startswith(HIDDEN_PREFIX) and not hidden:
        raise InvalidInput(f"Names starting with {HIDDEN_PREFIX!r} are kept for Lab runs", "name")
    existing = session.get(Preset, name)
    if name in catalogue and existing is None:
        raise InvalidInput(f"{name!r} is already a catalogue pipeline; choose another name", "name")
    saved = dict(check_overrides(overrides))
    parent = session.get(Preset, base)
    if parent is not None:
        base, saved = parent.base, {**parent.overrides, **saved}
    try:
        entry = catalogue.get(base)
    except UnknownPipelineError as exc:
        raise InvalidInput(str(exc), "pipeline") from None
    saved.update(check_load_options(entry, lora_scale, memory))
    preset = existing or Preset(name=name, base=base)
    preset.base, preset.overrides = base, saved
    preset.description, preset.owner = text(description, "Description", 200), owner
    session.add(preset)
    return preset
