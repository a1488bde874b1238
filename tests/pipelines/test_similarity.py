"""Image similarity (`clip-similarity`) on tiny random CLIP models loaded from disk, offline.

Random weights know nothing about what pictures show, and they put every picture in much the
same direction (unrelated pictures score ~0.85–0.97 on `tiny-clip`). What they do keep, being
a smooth function of the pixels, is that a picture nearly unchanged embeds nearly the same:
so the checks are about identity, determinism, normalisation and order (a lightly blurred
copy beats the same pixels scrambled), never about absolute levels.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image, ImageFilter

from pipelines.catalogue import Catalogue, effective_revision, load_pipeline
from pipelines.errors import PipelineError, WeightsUnavailableError


def _reference() -> Image.Image:
    """A picture with structure: colour gradients and a yellow block."""
    y, x = np.mgrid[0:96, 0:96]
    pixels = np.stack([x * 2.5, y * 2.5, 255 - (x + y) * 1.3], axis=-1).clip(0, 255)
    pixels[20:50, 30:70] = (250, 240, 20)
    return Image.fromarray(pixels.astype(np.uint8))


def _scrambled(image: Image.Image) -> Image.Image:
    """The same pixels in a random order: the same colours, none of the picture."""
    pixels = np.asarray(image).reshape(-1, 3).copy()
    np.random.default_rng(1).shuffle(pixels)
    return Image.fromarray(pixels.reshape(image.height, image.width, 3))


@pytest.fixture(scope="module")
def clip(tiny_catalogue: Catalogue) -> Any:
    return load_pipeline(tiny_catalogue.get("tiny-clip"))


def test_the_similarity_entries_are_not_renderers(tiny_catalogue: Catalogue) -> None:
    entry = tiny_catalogue.get("tiny-clip")
    assert entry.tasks == ("image-similarity",) and entry.implementation == "clip-similarity"
    assert not entry.supports_references
    renderers = {"text-to-image", "image-to-video", "text-to-video"}
    assert all(entry not in tiny_catalogue.for_task(task) for task in renderers)
    shipped = Catalogue.load()
    assert [e.name for e in shipped.for_task("image-similarity")] == ["clip-vit-b32"]
    assert shipped.get("clip-vit-b32").model_id == "openai/clip-vit-base-patch32"


def test_the_same_picture_scores_one(clip: Any) -> None:
    reference = _reference()
    scores = clip.scores(reference, [reference, reference.copy(), Image.new("RGB", (40, 40))])
    assert scores[0] == pytest.approx(1.0, abs=1e-5) and scores[1] == pytest.approx(1.0, abs=1e-5)
    assert -1.0 <= scores[2] < 0.999
    assert clip.scores(reference, []) == []


def test_embeddings_are_unit_rows(clip: Any) -> None:
    pictures = [_reference(), Image.new("RGBA", (20, 30), (1, 2, 3, 4)), Image.new("L", (50, 50))]
    rows = clip.embed(pictures)
    assert rows.shape == (3, 32) and rows.dtype == np.float32  # tiny-clip projects to 32
    assert np.allclose(np.linalg.norm(rows, axis=1), 1.0, atol=1e-5)
    assert clip.embed([]).shape == (0, 32)


def test_scores_are_deterministic_across_calls_and_loads(
    clip: Any, tiny_catalogue: Catalogue
) -> None:
    reference, other = _reference(), _scrambled(_reference())
    first = clip.scores(reference, [other, reference.rotate(90)])
    assert clip.scores(reference, [other, reference.rotate(90)]) == first
    fresh = load_pipeline(tiny_catalogue.get("tiny-clip"))
    assert fresh.scores(reference, [other, reference.rotate(90)]) == pytest.approx(first, abs=1e-6)


def test_a_blurred_copy_scores_above_the_same_pixels_scrambled(clip: Any) -> None:
    reference = _reference()
    blurred, scrambled = reference.filter(ImageFilter.GaussianBlur(1.5)), _scrambled(reference)
    near, far = clip.scores(reference, [blurred, scrambled])
    assert 1.0 > near > far


def test_a_clip_vision_tower_alone_also_works(tiny_catalogue: Catalogue) -> None:
    """The other layout: CLIPVisionModelWithProjection (here the tiny IP-Adapter's encoder)."""
    adapter = tiny_catalogue.get("tiny-sd-reference").ip_adapter
    assert adapter is not None
    folder = Path(adapter.model_id) / adapter.image_encoder_path
    tower = load_pipeline(
        dataclasses.replace(tiny_catalogue.get("tiny-clip"), model_id=str(folder))
    )
    reference = _reference()
    assert tower.scores(reference, [reference])[0] == pytest.approx(1.0, abs=1e-5)
    assert tower.embed([reference]).shape == (1, 32)


def test_settings_and_revision_say_what_scored(clip: Any, tiny_catalogue: Catalogue) -> None:
    entry = tiny_catalogue.get("tiny-clip")
    settings = clip.settings()
    assert settings["model_id"] == entry.model_id and settings["device"] == "cpu"
    assert settings["revision"] == effective_revision(entry) and settings["revision"]
    json.dumps(settings)
    assert clip.memory_bytes() > 0


def test_missing_or_wrong_models_are_clear_errors(
    tiny_catalogue: Catalogue, tmp_path: Path
) -> None:
    entry = tiny_catalogue.get("tiny-clip")
    with pytest.raises(WeightsUnavailableError, match="no-such-clip"):
        load_pipeline(dataclasses.replace(entry, model_id=str(tmp_path / "no-such-clip")))
    with pytest.raises(WeightsUnavailableError, match="openai/clip-vit-base-patch32") as offline:
        load_pipeline(dataclasses.replace(entry, model_id="openai/clip-vit-base-patch32"))
    assert "hf download openai/clip-vit-base-patch32" in str(offline.value)
    no_processor = tmp_path / "no-processor"
    no_processor.mkdir()
    (no_processor / "config.json").write_bytes((Path(entry.model_id) / "config.json").read_bytes())
    with pytest.raises(WeightsUnavailableError, match=r"preprocessor_config\.json"):
        load_pipeline(dataclasses.replace(entry, model_id=str(no_processor)))
    gpt2 = tiny_catalogue.get("tiny-prompt-writer").model_id
    with pytest.raises(PipelineError, match="not a CLIP model"):
        load_pipeline(dataclasses.replace(entry, model_id=gpt2))
