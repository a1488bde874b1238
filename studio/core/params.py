"""Resolve a shot (or a film) into the full parameters of a job, and hash them.

The hash is the render-cache key: two jobs with equal resolved params produce the same
artifact, so the second is served from the first.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from pipelines.catalogue import Catalogue, UnknownPipelineError, effective_revision
from pipelines.draft_scene import STYLE_REFERENCE
from pipelines.provenance import ip_adapter_record
from pipelines.requests import RenderRequest
from storage.base import content_key
from studio.core.errors import InvalidInput
from studio.core.models import CastMemberBase, JobKind, Project, ProjectBase, Shot, ShotBase

NO_CAST: Mapping[str, str] = MappingProxyType({})  # a project without described cast
# Name → {digest, scale} of the members with a reference image (`studio.core.cast.references`).
NO_REFERENCES: Mapping[str, Mapping[str, Any]] = MappingProxyType({})
# Scene heading → the look its shots share (`studio.core.scenes.looks`).
NO_LOOKS: Mapping[str, str] = MappingProxyType({})

PARAMS_VERSION = 1  # bump when the meaning of params changes, to invalidate the cache


RUNTIME = "_runtime"  # params that say where to find inputs, not what to render: not hashed


def params_hash(params: dict[str, Any]) -> str:
    content = {k: v for k, v in params.items() if k != RUNTIME}
    canonical = json.dumps(content, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def join_prompt(*parts: str) -> str:
    return ", ".join(p.strip().strip(",").strip() for p in parts if p and p.strip())


def cast_text(shot: ShotBase, cast: Mapping[str, str]) -> str:
    """The shot's cast as every prompt says it, so "Mara" reads the same in each shot:
    "Mara (40s, weathered coat)" for each member of the shot with a description."""
    return ", ".join(f"{name.title()} ({cast[name]})" for name in shot.characters if cast.get(name))


def shot_request(
    project: ProjectBase,
    shot: ShotBase,
    shot_number: int,
    cast: Mapping[str, str] = NO_CAST,
    looks: Mapping[str, str] = NO_LOOKS,
) -> RenderRequest:
    return RenderRequest(
        prompt=join_prompt(
            shot.prompt, cast_text(shot, cast), looks.get(shot.scene, ""), project.style_prompt
        ),
        negative_prompt=join_prompt(shot.negative_prompt, project.negative_prompt),
        seed=shot.seed,
        width=project.width,
        height=project.height,
        shot_number=shot_number,
        shot_size=shot.shot_size,
        camera_move=shot.camera_move,
        duration=shot.duration,
        fps=project.fps,
        # Who is in the shot, for renderers that draw the cast (draft); only when someone is.
        extra={"cast": [name.title() for name in shot.characters]} if shot.characters else {},
    )


def pipeline_params(catalogue: Catalogue, name: str, task: str) -> dict[str, Any]:
    try:
        entry = catalogue.get(name)
    except UnknownPipelineError as exc:
        raise InvalidInput(str(exc), field="pipeline") from None
    if not entry.supports(task):
        raise InvalidInput(f"Pipeline {name!r} cannot do {task}", field="pipeline")
    params = {
        "name": entry.name,
        "model_id": entry.model_id,
        "revision": effective_revision(entry),
        "implementation": entry.implementation,
        "cost_factor": entry.cost_factor,
        # What the entry renders with: editing a catalogue entry or a Lab preset changes the
        # render, so it must change the cache key too.
        "defaults": dict(entry.defaults),
        "loras": [[lora.path, lora.scale] for lora in entry.loras],
        # Precision and weight files change pixels too (device and memory options do not).
        "dtype": entry.dtype,
        "variant": entry.variant,
    }
    if entry.ip_adapter is not None:  # other weights, other pixels (absent: keys as before)
        params["ip_adapter"] = ip_adapter_record(entry.ip_adapter)
    return params


def resolve_preview_request(
    catalogue: Catalogue, pipeline: str, request: RenderRequest
) -> dict[str, Any]:
    return {
        "version": PARAMS_VERSION,
        "kind": JobKind.preview.value,
        "pipeline": pipeline_params(catalogue, pipeline, "text-to-image"),
        "request": request.as_dict(),
    }


@dataclass(frozen=True)
class ProjectLooks:
    """What a project's cast and scenes add to each shot's render: descriptions (name →
    text), reference pictures and LoRAs (name → {digest, scale}), scene looks (heading →
    text). Read once per submission (`studio.core.cast`, `studio.core.scenes`)."""

    cast: Mapping[str, str] = field(default_factory=lambda: NO_CAST)
    references: Mapping[str, Mapping[str, Any]] = field(default_factory=lambda: NO_REFERENCES)
    looks: Mapping[str, str] = field(default_factory=lambda: NO_LOOKS)
    loras: Mapping[str, Mapping[str, Any]] = field(default_factory=lambda: NO_REFERENCES)


NO_PROJECT_LOOKS = ProjectLooks()


def resolve_preview(
    catalogue: Catalogue,
    project: Project,
    shot: Shot,
    number: int,
    context: ProjectLooks = NO_PROJECT_LOOKS,
) -> dict[str, Any]:
    pipeline = shot.preview_pipeline or project.preview_pipeline
    request = shot_request(project, shot, number, context.cast, context.looks)
    params = resolve_preview_request(catalogue, pipeline, request)
    entry = catalogue.get(pipeline)
    if entry.supports_references:
        _with_references(params, shot.characters, context.references)
    if entry.supports_loras:
        _with_loras(params, shot.characters, context.loras)
    return _with_cast(params, shot, context.cast)


def _with_loras(
    params: dict[str, Any], names: Sequence[str], loras: Mapping[str, Mapping[str, Any]]
) -> None:
    """The LoRAs of the shot's members (by content hash and strength): part of the cache key;
    the runner fetches each file from storage by digest (`lora_key`)."""
    found = [
        {"name": name.title(), "digest": loras[name]["digest"], "scale": lora_scale}
        for name in names
        if name in loras and (lora_scale := float(loras[name]["scale"])) > 0
    ]
    if found:
        params["loras"] = found


def lora_key(digest: str) -> str:
    """Where a member's LoRA file is in storage."""
    return content_key(digest, ".safetensors")


def _with_cast(params: dict[str, Any], shot: Shot, cast: Mapping[str, str]) -> dict[str, Any]:
    """Record the descriptions of the shot's cast (provenance; part of the cache key). Shots
    without a described member keep the params (and cache keys) they always had."""
    described = {name: cast[name] for name in shot.characters if cast.get(name)}
    if described:
        params["cast"] = described
    return params


def _with_references(
    params: dict[str, Any], names: Sequence[str], references: Mapping[str, Mapping[str, Any]]
) -> None:
    """The reference pictures of the shot's members, in the shot's cast order, by content
    hash and strength: part of the cache key, so a new picture re-renders exactly the shots
    of its member. The runner fetches the pictures by digest (`reference_key`). Shots without
    a referenced member keep the params they always had."""
    found = [
        {"name": name.title(), "digest": references[name]["digest"], "scale": ref_scale}
        for name in names
        if name in references and (ref_scale := float(references[name]["scale"])) > 0
    ]
    if found:
        params["references"] = found


# How strongly a scene's first preview steers the look of the scene's other shots: lower than
# a cast member's own picture (0.6), since it is the place and light, not the person.
SCENE_STYLE_SCALE = 0.35
SCENE_STYLE_NAME = STYLE_REFERENCE  # its reference's name in a request (the draft reads it)

SHEET_VIEWS = "front view, three-quarter view and profile side by side, full body, neutral pose"


def resolve_sheet(
    catalogue: Catalogue,
    project: Project,
    member: CastMemberBase,
    references: Mapping[str, Mapping[str, Any]] = NO_REFERENCES,
) -> dict[str, Any]:
    """A character sheet of a cast member through the project's preview pipeline: the member
    from the front, three-quarter and profile on a plain background (the draft draws exactly
    that; a model is asked for it in words, and sees the member's reference if it has one)."""
    name = member.name.title()
    who = f"{name} ({member.description})" if member.description else name
    request = RenderRequest(
        prompt=join_prompt(
            f"character sheet of {who}",
            SHEET_VIEWS,
            "plain light grey background",
            project.style_prompt,
        ),
        negative_prompt=join_prompt("busy background, cropped", project.negative_prompt),
        seed=member.seed,
        width=project.width,
        height=project.height,
        extra={"sheet": name, "cast": [name]},
    )
    params = resolve_preview_request(catalogue, project.preview_pipeline, request)
    if catalogue.get(project.preview_pipeline).supports_references:
        _with_references(params, [member.name], references)
    return params


def reference_key(digest: str) -> str:
    """Where a reference picture's bytes are in storage (references are stored as PNG)."""
    return content_key(digest, ".png")


def clip_task(catalogue: Catalogue, name: str) -> str:
    """Clips come from the preview frame when the pipeline can, else from the prompt."""
    try:
        entry = catalogue.get(name)
    except UnknownPipelineError as exc:
        raise InvalidInput(str(exc), field="pipeline") from None
    for task in ("image-to-video", "text-to-video"):
        if entry.supports(task):
            return task
    raise InvalidInput(
        f"Pipeline {name!r} cannot make clips (it does {', '.join(entry.tasks)})", field="pipeline"
    )


def resolve_clip(
    catalogue: Catalogue,
    project: Project,
    shot: Shot,
    number: int,
    context: ProjectLooks = NO_PROJECT_LOOKS,
) -> dict[str, Any]:
    pipeline = shot.clip_pipeline or project.clip_pipeline
    task = clip_task(catalogue, pipeline)
    params = {
        "version": PARAMS_VERSION,
        "kind": JobKind.clip.value,
        "task": task,
        "pipeline": pipeline_params(catalogue, pipeline, task),
        "request": shot_request(project, shot, number, context.cast, context.looks).as_dict(),
    }
    if task == "image-to-video":
        # Conditioned on the preview frame, so the preview's params are part of the clip's.
        # (The preview carries the references; the clip inherits them through it.)
        params["preview"] = resolve_preview(catalogue, project, shot, number, context)
    elif catalogue.get(pipeline).supports_references:
        _with_references(params, shot.characters, context.references)
    return _with_cast(params, shot, context.cast)


def request_from(params: dict[str, Any]) -> RenderRequest:
    return RenderRequest(**params["request"])
