"""What a catalogue entry is: plain frozen dataclasses, no parsing, no implementations.

These live apart from `pipelines.catalogue` so that the implementations (draft, diffusers,
the prompt writer) and `pipelines.provenance` can take an entry without importing the
catalogue, which itself imports the implementations when it loads one: with the types here,
the catalogue depends on the implementations and never the other way round.

This module imports no other `pipelines` module but `pipelines.requests`, which imports none.
`pipelines.catalogue` re-exports these names, so `from pipelines.catalogue import
PipelineEntry` keeps working.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from pipelines.requests import DEFAULT_REFERENCE_SCALE

__all__ = ["IpAdapterSpec", "LoraSpec", "PipelineEntry"]


@dataclass(frozen=True)
class LoraSpec:
    """A LoRA applied at load: a local file/folder or a hub id, at `scale`."""

    path: str
    scale: float = 1.0
    weight_name: str = ""  # the file inside a folder/repo holding several
    adapter_name: str = ""  # defaults to lora0, lora1, …


@dataclass(frozen=True)
class IpAdapterSpec:
    """IP-Adapter weights loaded at load time (diffusers' `load_ip_adapter`), so renders can
    follow reference pictures (`RenderRequest.references`).

    `model_id` is a hub id or a folder (the catalogue fills in the entry's own when the file
    leaves it out); the adapter file is `subfolder/weight_name` inside it, and its CLIP image
    encoder `subfolder/image_encoder_folder` (a path with a "/" is taken from the top of
    `model_id` instead, as diffusers does). `scale` is the strength callers should give a
    reference whose strength nobody chose (the studio does)."""

    weight_name: str
    model_id: str = ""
    subfolder: str = ""
    image_encoder_folder: str = "image_encoder"
    revision: str = ""
    scale: float = DEFAULT_REFERENCE_SCALE

    @property
    def weight_path(self) -> str:
        """The adapter file relative to `model_id`."""
        return f"{self.subfolder}/{self.weight_name}" if self.subfolder else self.weight_name

    @property
    def image_encoder_path(self) -> str:
        """The image encoder's folder relative to `model_id`, as diffusers resolves it."""
        if self.subfolder and "/" not in self.image_encoder_folder:
            return f"{self.subfolder}/{self.image_encoder_folder}"
        return self.image_encoder_folder


@dataclass(frozen=True)
class PipelineEntry:
    """One named catalogue entry, as validated by `pipelines.catalogue.Catalogue.load`."""

    name: str
    tasks: tuple[str, ...]
    implementation: str
    model_id: str = ""
    revision: str = ""
    cost_factor: float = 1.0
    description: str = ""
    defaults: Mapping[str, Any] = field(default_factory=dict)
    dtype: str = "auto"
    device: str = "auto"
    memory: Mapping[str, Any] = field(default_factory=dict)
    loras: tuple[LoraSpec, ...] = ()
    # task → diffusers pipeline class; empty: whatever the model's model_index.json names.
    pipeline_class: Mapping[str, str] = field(default_factory=dict)
    variant: str = ""  # e.g. "fp16": load the half-size weight files a repo offers
    # Components loaded separately and passed to from_pretrained (a motion adapter, a VAE):
    # name → {class, model_id (default: the entry's), subfolder, dtype, variant, revision}.
    components: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    ip_adapter: IpAdapterSpec | None = None  # reference pictures, through an IP-Adapter
    preset_of: str = ""  # set on entries derived from another (saved tweaks), not in files

    def supports(self, task: str) -> bool:
        return task in self.tasks

    def pipeline_class_for(self, task: str) -> str:
        return self.pipeline_class.get(task, "")

    @property
    def supports_references(self) -> bool:
        """Whether renders follow `RenderRequest.references`: through an IP-Adapter, or drawn
        by the weightless draft pipeline. Other entries ignore references."""
        return self.ip_adapter is not None or self.implementation == "draft"

    @property
    def supports_loras(self) -> bool:
        """Whether renders apply `RenderRequest.loras` (a cast member's own LoRA): the diffusers
        text-to-image implementation does. The draft, video, prompt-writer, similarity and
        custom (`package.module:Class`) implementations ignore them, so callers send them only
        where this is true."""
        return self.implementation == "diffusers-image"

    @property
    def reference_scale(self) -> float:
        """The strength to give a reference when nobody chose one: the ip_adapter's `scale`,
        else the usual IP-Adapter strength."""
        return self.ip_adapter.scale if self.ip_adapter else DEFAULT_REFERENCE_SCALE
