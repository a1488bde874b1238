"""Tiny random CLIP image models for `pipelines.tiny`: an IP-Adapter for tiny-sd (with its image
encoder) and a whole CLIP model for image similarity, each saved in the layout of the real
repository it stands in for, so it loads through the same code path.

Built from configs with fixed seeds: two builds are equal. torch, transformers and
safetensors are imported inside functions (through `diffusers_base.import_library`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pipelines.diffusers_base import import_library

__all__ = ["IP_ADAPTER_FILE", "IP_ADAPTER_GAIN", "save_clip", "save_ip_adapter"]

IP_ADAPTER_FILE = "ip-adapter_tiny.safetensors"  # in <folder>/models, as h94 lays it out
# Random adapter weights at the usual initialisation barely move the picture; this gain makes
# a reference at scale 0.6 change the tiny model's output visibly (a mean of ~0.07 in [0, 1]).
IP_ADAPTER_GAIN = 3.0


def save_ip_adapter(folder: Path, unet: Any) -> None:
    """Random IP-Adapter weights for `unet`, in the file layout `load_ip_adapter` reads:
    `folder/models/ip-adapter_tiny.safetensors` and its CLIP image encoder (with an image
    processor config) in `folder/models/image_encoder`, as in h94/IP-Adapter.

    The keys follow diffusers' converters (loaders/unet.py): `image_proj.*` is an
    `ImageProjection` from the encoder's image embedding to 4 tokens of the UNet's
    cross-attention width (`proj` becomes `image_embeds`), and `ip_adapter.{n}.to_k_ip` /
    `to_v_ip` are the extra key/value projections of each cross-attention layer, numbered
    1, 3, 5, … in the order of the UNet's attention processors (odd numbers: the file format
    counts self-attention layers too, which take no image tokens)."""
    torch, transformers = import_library("torch"), import_library("transformers")
    safetensors_torch = import_library("safetensors.torch")
    encoder_folder = folder / "models" / "image_encoder"
    torch.manual_seed(0)
    encoder = transformers.CLIPVisionModelWithProjection(_vision_config())
    encoder.eval().save_pretrained(str(encoder_folder))
    _save_image_processor(encoder_folder, encoder.config.image_size)
    generator = torch.Generator().manual_seed(2)

    def random(rows: int, columns: int) -> Any:  # unit-variance outputs, times the gain
        return torch.randn(rows, columns, generator=generator) * IP_ADAPTER_GAIN / columns**0.5

    width, embedding = unet.config.cross_attention_dim, encoder.config.projection_dim
    tensors = {
        "image_proj.proj.weight": random(4 * width, embedding),
        "image_proj.proj.bias": torch.zeros(4 * width),
        "image_proj.norm.weight": torch.ones(width),
        "image_proj.norm.bias": torch.zeros(width),
    }
    number = 1
    for name in unet.attn_processors:
        if name.endswith("attn1.processor"):
            continue  # self-attention: no image tokens
        attention = unet.get_submodule(name.removesuffix(".processor"))
        rows, columns = attention.to_k.weight.shape  # (hidden size, cross-attention width)
        tensors[f"ip_adapter.{number}.to_k_ip.weight"] = random(rows, columns)
        tensors[f"ip_adapter.{number}.to_v_ip.weight"] = random(rows, columns)
        number += 2
    safetensors_torch.save_file(tensors, str(folder / "models" / IP_ADAPTER_FILE))


def save_clip(folder: Path, vocab_size: int) -> None:
    """A whole tiny CLIP model (text and vision towers) and its image processor, as a hub CLIP
    repository (openai/clip-vit-base-patch32) holds them; similarity uses the vision side."""
    torch, transformers = import_library("torch"), import_library("transformers")
    torch.manual_seed(0)
    text = {
        "hidden_size": 32,
        "intermediate_size": 37,
        "num_attention_heads": 4,
        "num_hidden_layers": 2,
        "vocab_size": vocab_size,
        "max_position_embeddings": 77,
        "bos_token_id": vocab_size - 2,
        "eos_token_id": vocab_size - 1,
        "pad_token_id": vocab_size - 1,
    }
    vision = _vision_config().to_dict()
    model = transformers.CLIPModel(
        transformers.CLIPConfig(text_config=text, vision_config=vision, projection_dim=32)
    )
    model.eval().save_pretrained(str(folder))
    _save_image_processor(folder, vision["image_size"])


def _vision_config() -> Any:
    """A tiny CLIP vision tower looking at 32×32 pictures in 8×8 patches."""
    return import_library("transformers").CLIPVisionConfig(
        hidden_size=32,
        intermediate_size=37,
        num_attention_heads=4,
        num_hidden_layers=2,
        image_size=32,
        patch_size=8,
        projection_dim=32,
    )


def _save_image_processor(folder: Path, size: int) -> None:
    """preprocessor_config.json for pictures resized and centre-cropped to size × size."""
    processor = import_library("transformers").CLIPImageProcessor(
        size={"shortest_edge": size}, crop_size={"height": size, "width": size}
    )
    processor.save_pretrained(str(folder))
