"""estimate_cost: a pure function of the job's shape, so estimates and charges agree."""

from __future__ import annotations

import math
from typing import Any

import pytest

from credits import PricingPolicy, estimate_cost


def test_one_megapixel_frame_at_25_steps_costs_one_credit() -> None:
    assert estimate_cost("preview", width=1000, height=1000) == 1.0


@pytest.mark.parametrize(
    ("shape", "factor"),
    [
        ({"width": 2000}, 2),  # twice the pixels
        ({"height": 3000}, 3),
        ({"frames": 24}, 24),  # one second at 24 fps
        ({"steps": 50}, 2),  # twice the diffusion steps
        ({"cost_factor": 2.5}, 2.5),  # a heavier pipeline
    ],
)
def test_cost_is_proportional_to_each_dimension(shape: dict[str, Any], factor: float) -> None:
    base: dict[str, Any] = {
        "width": 1000,
        "height": 1000,
        "frames": 1,
        "steps": 25,
        "cost_factor": 1.0,
    }
    assert estimate_cost("clip", **base) == 1.0
    assert estimate_cost("clip", **{**base, **shape}) == pytest.approx(factor)


def test_cost_is_the_product_of_pixels_frames_steps_and_factor() -> None:
    cost = estimate_cost("clip", width=640, height=360, frames=48, steps=30, cost_factor=1.5)
    assert cost == round(640 * 360 / 1e6 * 48 * 30 / 25 * 1.5, 2) == 19.91


def test_cost_is_rounded_to_hundredths() -> None:
    cost = estimate_cost("preview", width=333, height=333, steps=7)
    assert cost == round(cost, 2)
    assert cost == 0.03


def test_policy_scales_the_price() -> None:
    cheap = PricingPolicy(per_megapixel_frame=0.5)
    assert estimate_cost("clip", width=1000, height=1000, frames=10, policy=cheap) == 5.0


def test_draft_pipeline_is_free() -> None:
    # draft's cost factor is 0 (configs/pipelines.yaml): any size and length costs nothing.
    assert estimate_cost("preview", width=1920, height=1080, cost_factor=0.0) == 0.0
    assert estimate_cost("clip", width=1920, height=1080, frames=1440, cost_factor=0) == 0.0


def test_film_is_priced_per_second_not_per_pixel() -> None:
    policy = PricingPolicy(film_per_second=0.25, per_megapixel_frame=100.0)
    small = estimate_cost("film", width=64, height=64, seconds=20, policy=policy)
    big = estimate_cost("film", width=1920, height=1080, frames=480, seconds=20, policy=policy)
    assert small == big == 5.0
    assert estimate_cost("film", width=64, height=64, seconds=40, policy=policy) == 10.0


def test_film_is_free_under_the_default_policy() -> None:
    assert estimate_cost("film", width=640, height=360, seconds=120) == 0.0


def test_same_shape_same_price() -> None:
    args: dict[str, Any] = {
        "width": 768,
        "height": 432,
        "frames": 96,
        "steps": 20,
        "cost_factor": 1.2,
    }
    assert estimate_cost("clip", **args) == estimate_cost("clip", **args)


@pytest.mark.parametrize(
    "shape",
    [
        {"width": 0},
        {"height": 0},
        {"width": -640},
        {"frames": 0},
        {"frames": -1},
        {"steps": 0},
        {"cost_factor": -0.1},
        {"seconds": -1.0},
    ],
)
@pytest.mark.parametrize("kind", ["preview", "clip", "film"])
def test_invalid_shapes_raise_value_error(kind: str, shape: dict[str, Any]) -> None:
    args: dict[str, Any] = {
        "width": 640,
        "height": 360,
        "frames": 24,
        "steps": 25,
        "cost_factor": 1.0,
    }
    with pytest.raises(ValueError):
        estimate_cost(kind, **{**args, **shape})


@pytest.mark.parametrize(
    "shape",
    [
        {"cost_factor": math.nan},
        {"cost_factor": math.inf},
        {"seconds": math.nan, "kind": "film"},
        {"seconds": math.inf, "kind": "film"},
    ],
)
def test_non_finite_inputs_raise_value_error(shape: dict[str, Any]) -> None:
    # Regression: `cost_factor < 0` is False for NaN, so NaN/inf gave a NaN/inf price.
    args: dict[str, Any] = {"kind": "clip", "width": 640, "height": 360, **shape}
    kind = args.pop("kind")
    with pytest.raises(ValueError):
        estimate_cost(kind, **args)
