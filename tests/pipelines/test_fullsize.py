"""The full-size random-weight configs (pipelines/fullsize/*.json), on torch's meta device only.

Nothing is allocated and nothing is written: each model is built on `meta` and its parameters
counted. Checked: every config builds; the counts equal the published architectures' where
they are well established; the components of each pipeline fit together (widths, channels,
added time ids, the tokenizer's vocabulary); and the shrunk (dry-run) versions keep the same
wiring.
"""

from __future__ import annotations

import importlib.util
import json
from typing import Any

import pytest

from pipelines.fullsize import CONFIG_DIR, FULLSIZE_NAMES, model_components, parameter_counts, spec
from tests.conftest import require_service

# diffusers' schedulers trip numpy 2's __array__(copy=) deprecation: not ours to fix.
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning:diffusers.*")

# Parameter counts of the published models (model.parameters(), tied weights once). Only
# numbers known from the released checkpoints are listed; the SVD temporal VAE and the
# AnimateDiff motion adapter are left out on purpose.
PUBLISHED = {
    "sd-turbo": {
        "unet": 865_910_724,  # SD 2.x UNet (linear projections, 1024-wide cross-attention)
        "vae": 83_653_863,  # the SD VAE (kl-f8)
        "text_encoder": 340_387_840,  # OpenCLIP ViT-H/14 text tower, 23 of its 24 layers
    },
    "sdxl": {
        "unet": 2_567_463_684,
        "vae": 83_653_863,
        "text_encoder": 123_060_480,  # CLIP ViT-L/14 text
        "text_encoder_2": 694_659_840,  # OpenCLIP ViT-bigG/14 text, with projection
    },
    "svd": {
        "unet": 1_524_623_082,
        "image_encoder": 632_076_800,  # OpenCLIP ViT-H/14 vision tower, with projection
    },
    "animatediff": {
        "unet": 859_520_964,  # SD 1.5 UNet
        "vae": 83_653_863,
        "text_encoder": 123_060_480,
    },
}


@pytest.fixture(scope="module", autouse=True)
def _ml_packages() -> None:
    missing = [n for n in ("torch", "diffusers", "transformers") if not importlib.util.find_spec(n)]
    if missing:
        require_service("torch + diffusers", None)  # skips, or fails when CI requires them


@pytest.fixture(scope="module")
def counts() -> dict[str, dict[str, int]]:
    return {name: parameter_counts(name) for name in FULLSIZE_NAMES}


def test_every_config_file_is_a_pipeline_and_names_its_hub_model() -> None:
    assert sorted(p.stem for p in CONFIG_DIR.glob("*.json")) == sorted(FULLSIZE_NAMES)
    readme = (CONFIG_DIR / "README.md").read_text(encoding="utf-8")
    for name in FULLSIZE_NAMES:
        loaded = spec(name)
        assert "/" in loaded["mirrors"] and loaded["mirrors"] in readme
        for component in loaded["components"]:
            assert component in loaded["model_index"], (name, component)
        for separate in loaded.get("separate", {}).values():
            assert separate["mirrors"] in readme
    with pytest.raises(ValueError, match="no full-size config"):
        spec("sd-nope")


def test_every_model_builds_and_counts_match_the_published_ones(
    counts: dict[str, dict[str, int]],
) -> None:
    for name in FULLSIZE_NAMES:
        assert set(counts[name]) == set(model_components(spec(name))), name
        assert all(n > 0 for n in counts[name].values())
        published = PUBLISHED[name]
        assert {k: counts[name][k] for k in published} == published, name


def test_the_sizes_are_the_full_ones(counts: dict[str, dict[str, int]]) -> None:
    """What the module docstring promises on disk (float16, 2 bytes a parameter)."""
    gigabytes = {name: 2 * sum(counts[name].values()) / 1e9 for name in FULLSIZE_NAMES}
    assert gigabytes["sdxl"] == pytest.approx(6.9, abs=0.1)
    assert gigabytes["sd-turbo"] == pytest.approx(2.6, abs=0.1)
    assert gigabytes["svd"] == pytest.approx(4.5, abs=0.1)
    assert gigabytes["animatediff"] == pytest.approx(3.0, abs=0.1)


def _config(loaded: dict[str, Any], component: str) -> dict[str, Any]:
    config: dict[str, Any] = loaded["components"][component]
    return config


@pytest.mark.parametrize("shrink", [False, True], ids=["full", "shrunk"])
def test_the_components_of_each_pipeline_fit_together(shrink: bool) -> None:
    for name in ("sd-turbo", "animatediff"):
        loaded = spec(name, shrink=shrink)
        unet, text = _config(loaded, "unet"), _config(loaded, "text_encoder")
        assert unet["cross_attention_dim"] == text["hidden_size"]
        assert unet["in_channels"] == _config(loaded, "vae")["latent_channels"]
        assert text["max_position_embeddings"] == 77

    sdxl = spec("sdxl", shrink=shrink)
    unet = _config(sdxl, "unet")
    text, text_2 = _config(sdxl, "text_encoder"), _config(sdxl, "text_encoder_2")
    # Both encoders' penultimate hidden states, concatenated, are the cross-attention input.
    assert unet["cross_attention_dim"] == text["hidden_size"] + text_2["hidden_size"]
    # text_time: 6 time ids (original size, crop, target size) + the pooled, projected text.
    time_ids = 6 * unet["addition_time_embed_dim"]
    assert unet["projection_class_embeddings_input_dim"] == time_ids + text_2["projection_dim"]
    assert unet["in_channels"] == _config(sdxl, "vae")["latent_channels"]
    assert len(unet["transformer_layers_per_block"]) == len(unet["block_out_channels"])

    svd = spec("svd", shrink=shrink)
    unet, encoder = _config(svd, "unet"), _config(svd, "image_encoder")
    assert unet["cross_attention_dim"] == encoder["projection_dim"]
    # Noisy latents and the conditioning image's latents, concatenated on channels.
    assert unet["in_channels"] == 2 * _config(svd, "vae")["latent_channels"]
    assert unet["out_channels"] == _config(svd, "vae")["latent_channels"]
    # 3 added time ids (fps, motion bucket, noise augmentation).
    assert unet["projection_class_embeddings_input_dim"] == 3 * unet["addition_time_embed_dim"]
    # The pipeline resizes the conditioning image to the encoder's input size.
    assert encoder["image_size"] == _config(svd, "feature_extractor")["crop_size"]["height"]

    animatediff = spec("animatediff", shrink=shrink)
    adapter = animatediff["separate"]["motion_adapter"]["config"]
    unet = _config(animatediff, "unet")
    assert adapter["block_out_channels"] == unet["block_out_channels"]
    assert adapter["motion_layers_per_block"] == unet["layers_per_block"]


def test_text_encoders_embed_the_full_clip_vocabulary() -> None:
    """The tokenizer make_fullsize writes has this many tokens (write_full_clip_tokenizer)."""
    for name in ("sd-turbo", "sdxl", "animatediff"):
        for _library, class_name, config in model_components(spec(name)).values():
            if class_name.startswith("CLIPText"):
                assert config["vocab_size"] == 49408


def test_shrunk_pipelines_build_small() -> None:
    for name in FULLSIZE_NAMES:
        counts = parameter_counts(name, shrink=True)
        assert set(counts) == set(model_components(spec(name))), name
        assert sum(counts.values()) < 10_000_000, (name, counts)


def test_the_config_files_are_plain_json() -> None:
    """No comments, no trailing commas: what the Hub's own files are."""
    for path in CONFIG_DIR.glob("*.json"):
        json.loads(path.read_text(encoding="utf-8"))
