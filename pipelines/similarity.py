"""How alike pictures look: CLIP image embeddings and their cosine similarity.

A catalogue entry with `tasks: [image-similarity]` and `implementation: clip-similarity`
names a CLIP model (a hub id or a local folder): either a whole CLIP model (`CLIPModel`, e.g.
openai/clip-vit-base-patch32: its text tower is loaded too and left unused) or a vision
tower with its projection alone (`CLIPVisionModelWithProjection`, e.g. an IP-Adapter's
image encoder), chosen by the model's config.json. The folder or snapshot also needs the
image processor's preprocessor_config.json.

    scorer = load_pipeline(catalogue.get("clip-vit-b32"))
    scorer.scores(reference, [frame_1, frame_2])   # → [0.83, 0.41]

It renders nothing, so it is not listed for text-to-image or video. torch and transformers
are imported inside functions (through `diffusers_base.import_library`); loading, unloading
and the revision are `pipelines.transformers_model.TransformersModel`'s.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from PIL import Image

from pipelines.diffusers_base import (
    first_line,
    free_accelerator_memory,
    import_library,
    is_out_of_memory,
)
from pipelines.errors import OutOfMemoryError, PipelineError
from pipelines.transformers_model import TransformersModel

__all__ = ["BATCH", "ClipSimilarity"]

BATCH = 32  # pictures per forward pass: bounds peak memory for long lists

# config.json's model_type → the transformers class that loads it.
_CLASSES = {"clip": "CLIPModel", "clip_vision_model": "CLIPVisionModelWithProjection"}


class ClipSimilarity(TransformersModel):
    """A catalogue entry's CLIP image encoder: loaded once, one batch at a time (the
    lifecycle is `TransformersModel`'s)."""

    def _load_parts(self, transformers: Any, dtype: Any) -> tuple[Any, Any]:
        """The model class its config.json names, and the image processor; `PipelineError`
        for a model that is not CLIP."""
        config = self._pretrained(transformers.AutoConfig.from_pretrained)
        cls_name = _CLASSES.get(str(getattr(config, "model_type", "")))
        if cls_name is None:
            raise PipelineError(
                f"{self.name}: {self.model_id} is a {config.model_type!r} model, not a "
                "CLIP model (clip or clip_vision_model)"
            )
        processor = self._pretrained(
            transformers.CLIPImageProcessor.from_pretrained,
            index_file="preprocessor_config.json",
        )
        model = self._pretrained(getattr(transformers, cls_name).from_pretrained, dtype=dtype)
        return model, processor

    def embed(self, images: Sequence[Image.Image]) -> np.ndarray:
        """One L2-normalised float32 row per picture (N × the model's projection size)."""
        torch = import_library("torch")
        with self._lock:
            self.load()
            rows = [self._embed_batch(images[i : i + BATCH]) for i in range(0, len(images), BATCH)]
            if not rows:
                return np.zeros((0, self._dimension()), dtype=np.float32)
        features = torch.cat(rows).float()
        # Normalised in float32 even for a float16 model: cosines are then dot products.
        return torch.nn.functional.normalize(features, dim=-1).numpy()

    def scores(self, reference: Image.Image, images: Sequence[Image.Image]) -> list[float]:
        """Cosine similarity of each picture to `reference`, in [-1, 1] (1: the same picture,
        as the model sees it). Same pictures, same scores."""
        if not images:
            return []
        # One pass for all, so the reference is embedded exactly as the pictures are.
        rows = self.embed([reference, *images])
        return [float(np.clip(value, -1.0, 1.0)) for value in rows[1:] @ rows[0]]

    def settings(self) -> dict[str, Any]:
        """What the scores come from (for provenance)."""
        return {
            "pipeline": self.name,
            "implementation": self.entry.implementation,
            "model_id": self.model_id,
            "revision": self.revision,
            "device": self.device or self.device_spec,
            "dtype": self.dtype or self.dtype_spec,
        }

    def _embed_batch(self, images: Sequence[Image.Image]) -> Any:
        torch = import_library("torch")
        pictures = [image.convert("RGB") for image in images]  # RGBA, L, P… as RGB
        try:
            pixels = self._processor(images=pictures, return_tensors="pt").pixel_values
            parameter = next(self._model.parameters())
            pixels = pixels.to(device=parameter.device, dtype=parameter.dtype)
            with torch.inference_mode():
                if hasattr(self._model, "get_image_features"):  # a whole CLIPModel
                    output = self._model.get_image_features(pixel_values=pixels)
                    # transformers 5 wraps the projected features; 4.x returned the tensor.
                    features = getattr(output, "pooler_output", output)
                else:
                    features = self._model(pixel_values=pixels).image_embeds
        except Exception as exc:
            if is_out_of_memory(exc, torch):
                free_accelerator_memory()
                raise OutOfMemoryError(self.name, "scoring with", first_line(exc)) from exc
            raise
        return features.detach().cpu()

    def _dimension(self) -> int:
        config = self._model.config
        return int(getattr(config, "projection_dim", 0) or config.hidden_size)
