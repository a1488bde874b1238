"""Pricing: a pure function of the resolved job, so estimates and charges always agree."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

BASE_STEPS = 25  # the step count the per-megapixel-frame price is quoted for


@dataclass(frozen=True)
class PricingPolicy:
    """Credits per megapixel-frame (× steps/25 for diffusion) times the pipeline cost factor;
    films per second of output; spoken lines per 1,000 characters of text (× the voice
    engine's cost factor); a render-cache hit pays `cache_hit` × the full price."""

    per_megapixel_frame: float = 1.0
    film_per_second: float = 0.0
    cache_hit: float = 0.0
    speech_per_1000_characters: float = 0.1

    def __post_init__(self) -> None:
        for name in (
            "per_megapixel_frame",
            "film_per_second",
            "cache_hit",
            "speech_per_1000_characters",
        ):
            value = getattr(self, name)
            if not (math.isfinite(value) and value >= 0):
                raise ValueError(f"pricing {name} must be a finite number ≥ 0, not {value!r}")


def estimate_cost(
    kind: str,
    *,
    width: int,
    height: int,
    frames: int = 1,
    steps: int = BASE_STEPS,
    cost_factor: float = 1.0,
    seconds: float = 0.0,
    policy: PricingPolicy = PricingPolicy(),
) -> float:
    """Credits a job of this shape costs; rounded to 0.01."""
    if min(width, height, frames, steps) < 1 or not (
        math.isfinite(cost_factor) and math.isfinite(seconds) and cost_factor >= 0 and seconds >= 0
    ):
        raise ValueError("width, height, frames and steps must be ≥ 1; factors finite and ≥ 0")
    if kind == "film":
        return round(policy.film_per_second * seconds, 2)
    megapixel_frames = width * height * frames / 1_000_000
    return round(
        policy.per_megapixel_frame * megapixel_frames * steps / BASE_STEPS * cost_factor, 2
    )


def job_cost(params: dict[str, Any], policy: PricingPolicy = PricingPolicy()) -> float:
    """The cost of a job from its resolved params (the dict the studio stores on the job):
    kind, request size/frames, steps (per-call override, else the pipeline default) and the
    pipeline's cost factor."""
    kind = str(params.get("kind", ""))
    request = params.get("request") or {}
    if kind == "film":
        seconds = float(params.get("seconds", 0.0))
        return estimate_cost("film", width=1, height=1, seconds=seconds, policy=policy)
    pipeline = params.get("pipeline") or {}
    if kind == "speech":
        characters = len(str(request.get("text", "")))
        factor = float(pipeline.get("cost_factor", 1.0))
        return round(policy.speech_per_1000_characters * characters / 1000 * factor, 2)
    defaults = pipeline.get("defaults") or {}
    extra = request.get("extra") or {}
    steps = int(extra.get("num_inference_steps") or defaults.get("num_inference_steps") or 25)
    frames = 1
    if kind == "clip":
        frames = max(1, round(float(request.get("duration", 1.0)) * int(request.get("fps", 24))))
        frames = int(extra.get("num_frames") or frames)
    return estimate_cost(
        kind,
        width=int(request.get("width", 1)),
        height=int(request.get("height", 1)),
        frames=frames,
        steps=steps,
        cost_factor=float(pipeline.get("cost_factor", 1.0)),
        policy=policy,
    )
