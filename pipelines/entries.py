"""What a catalogue entry is: plain frozen dataclasses, no parsing, no implementations.

These live apart from `pipelines.catalogue` so that the implementations (draft, diffusers,
the prompt writer) and `pipelines.provenance` can take an entry without importing the
catalogue, which itself imports the implementations when it loads one: with the types here,
the catalogue depends on the implementations and never the other way round.

This module imports no other `pipelines` module. `pipelines.catalogue` re-exports both
names, so `from pipelines.catalogue import PipelineEntry` keeps working.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = ["LoraSpec", "PipelineEntry"]


@dataclass(frozen=True)
class LoraSpec:
    """A LoRA applied at load: a local file/folder or a hub id, at `scale`."""

    path: str
    scale: float = 1.0
    weight_name: str = ""  # the file inside a folder/repo holding several
    adapter_name: str = ""  # defaults to lora0, lora1, …


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
    preset_of: str = ""  # set on entries derived from another (saved tweaks), not in files

    def supports(self, task: str) -> bool:
        return task in self.tasks

    def pipeline_class_for(self, task: str) -> str:
        return self.pipeline_class.get(task, "")
