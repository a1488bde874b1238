"""Reference pictures (`RenderRequest.references`) in a diffusers text-to-image call, through
the IP-Adapter of the catalogue entry (`ip_adapter`, loaded by `pipelines.diffusers_loading`).

- All references of one request go to the one adapter together
  (`ip_adapter_image=[[first, second]]`): diffusers encodes each picture and gives the UNet
  their image tokens side by side. diffusers has one scale per adapter, not per picture, so
  the call's scale is the mean of the references' scales.
- A pipeline with an IP-Adapter loaded needs image embeddings on every call (its UNet refuses
  to run without them). A request without references passes a neutral grey picture at scale
  0, which diffusers' attention skips entirely: the render is what the model makes without
  the adapter.
- diffusers gives every prompt of a batched call the same reference embeddings, so requests
  with different references or scales never share a call (`ReferenceCall.batch_key`).

Plain Python and Pillow: no torch.
"""

from __future__ import annotations

import functools
import json
import logging
from dataclasses import dataclass
from typing import Any

from PIL import Image

from pipelines.entries import PipelineEntry
from pipelines.requests import Reference, RenderRequest

__all__ = ["ReferenceCall", "reference_call", "warn_ignored"]

log = logging.getLogger(__name__)


@functools.cache
def _neutral() -> Image.Image:
    # Its content does not matter at scale 0; a small flat picture keeps encoding it cheap.
    return Image.new("RGB", (64, 64), (128, 128, 128))


@dataclass(frozen=True)
class ReferenceCall:
    """How one request's references enter a diffusers call."""

    adapter: bool  # the pipeline has an IP-Adapter loaded
    references: tuple[Reference, ...]  # those used: none without an adapter
    ignored: tuple[Reference, ...] = ()  # asked for, but the entry has no adapter

    @property
    def scale(self) -> float:
        """The adapter's scale for the call: the mean of the references' scales (0: none)."""
        if not self.references:
            return 0.0
        return sum(reference.scale for reference in self.references) / len(self.references)

    def batch_key(self) -> str:
        """Requests with equal keys can share a batched call (same pictures, same scales)."""
        return json.dumps([[r.effective_digest, r.scale] for r in self.references])

    def call_kwargs(self) -> dict[str, Any]:
        """The diffusers call's reference arguments: one list of pictures for the one adapter."""
        if not self.adapter:
            return {}
        images = [reference.image for reference in self.references] or [_neutral()]
        return {"ip_adapter_image": [images]}

    def settings(self) -> dict[str, Any]:
        """What provenance records beyond the request's references (`provenance.record`)."""
        if self.adapter:
            return {"reference_scale": self.scale}
        if self.ignored:
            return {"references": [], "ignored_references": [r.name for r in self.ignored]}
        return {}


def reference_call(entry: PipelineEntry, request: RenderRequest, adapter: bool) -> ReferenceCall:
    """The references of `request` as a pipeline of `entry` uses them: all of them when it has
    an IP-Adapter loaded (`adapter`), none otherwise (the studio checks
    `entry.supports_references` before sending any)."""
    if adapter:
        return ReferenceCall(True, request.references)
    return ReferenceCall(False, (), request.references)


def warn_ignored(entry: PipelineEntry, calls: list[ReferenceCall]) -> None:
    """One log line for a batch whose references this entry cannot use."""
    ignored = sorted({reference.name for call in calls for reference in call.ignored})
    if ignored:
        log.warning(
            "%s: references %s ignored: the catalogue entry has no ip_adapter",
            entry.name,
            ", ".join(ignored),
        )
