"""Pricing: a pure function of the resolved job, so estimates and charges always agree."""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True)
class PricingPolicy:
    """Credits per megapixel-frame (× steps/25 for diffusion) times the pipeline cost factor."""

    per_megapixel_frame: float = 1.0
    film_per_second: float = 0.0
    cache_hit: float = 0.0


def estimate_cost(
    kind: str,
    *,
    width: int,
    height: int,
    frames: int = 1,
    steps: int = 25,
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
    return round(policy.per_megapixel_frame * megapixel_frames * steps / 25 * cost_factor, 2)
