"""Per-request LoRAs (`RenderRequest.loras`, e.g. a cast member's own LoRA) in a diffusers
text-to-image call, on top of the catalogue entry's own `loras` (loaded with the model by
`pipelines.diffusers_loading`).

- Each request LoRA is loaded once per pipeline (`load_lora_weights`) under an adapter name
  derived from its digest, and kept for later requests: at most `MAX_REQUEST_LORAS`, the
  least recently used deleted first (`delete_adapters`), so a long session does not grow.
- Every call activates exactly the entry's LoRAs at their catalogue scales plus the
  request's at theirs (`set_adapters`). A call without request LoRAs gets the entry's alone;
  when the entry has none, the LoRA layers are disabled, so peft runs only the base layers
  and the picture is bit for bit the one the model makes without any LoRA. A pipeline that
  never loaded a request LoRA is not touched at all.
- diffusers applies one set of adapters to a whole batched call, so requests with different
  LoRAs or scales never share one (`LoraCall.batch_key`).
- A LoRA that does not load (no such file, not a LoRA, made for another model) is a one-line
  `PipelineError` (`WeightsUnavailableError` for a missing file) naming its path; whatever
  diffusers had half-built is deleted, so the next request renders as usual.

diffusers is reached only through the pipeline object's methods: importing this module
imports no torch.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import logging
import warnings
from collections import OrderedDict
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pipelines.diffusers_base import first_line, import_library, is_out_of_memory
from pipelines.entries import LoraSpec, PipelineEntry
from pipelines.errors import OutOfMemoryError, PipelineError, WeightsUnavailableError
from pipelines.requests import RenderRequest, RequestLora

__all__ = [
    "MAX_REQUEST_LORAS",
    "LoraCall",
    "RequestLoraCache",
    "adapter_name",
    "lora_call",
    "warn_ignored_loras",
]

log = logging.getLogger(__name__)

# Request LoRAs kept loaded per pipeline. An SD 1.5 LoRA is some 10–150 MB and an SDXL one up
# to ~900 MB of device memory, so a handful of recent cast members, not every one ever seen.
MAX_REQUEST_LORAS = 8

_MISSING_HINT = (
    "Request LoRAs are local files (hub ids are not fetched per request): check that the file "
    "is on this machine, e.g. on the storage the workers share."
)


@dataclass(frozen=True)
class LoraCall:
    """How one request's LoRAs enter a diffusers call."""

    loras: tuple[RequestLora, ...]  # those applied: none where the pipeline cannot
    ignored: tuple[RequestLora, ...] = ()  # asked for, but this pipeline does not use them

    def batch_key(self) -> str:
        """Requests with equal keys can share a batched call (same LoRAs, same scales, same
        order: adapters are summed in order, and float sums depend on it)."""
        return json.dumps([[lora.effective_digest, lora.scale] for lora in self.loras])

    def settings(self) -> dict[str, Any]:
        """What provenance records: only when the request has LoRAs, so other records keep
        their shape."""
        if self.ignored:
            return {"request_loras": [], "ignored_request_loras": [x.path for x in self.ignored]}
        if self.loras:
            return {"request_loras": [lora.describe() for lora in self.loras]}
        return {}


def lora_call(entry: PipelineEntry, request: RenderRequest, usable: bool) -> LoraCall:
    """The LoRAs of `request` as a pipeline of `entry` uses them: all where it can (`usable`),
    none otherwise (the studio checks `entry.supports_loras` before sending any)."""
    if usable:
        return LoraCall(request.loras)
    return LoraCall((), request.loras)


def warn_ignored_loras(entry: PipelineEntry, calls: Sequence[LoraCall]) -> None:
    """One log line for renders whose LoRAs this pipeline cannot apply."""
    ignored = sorted({lora.path for call in calls for lora in call.ignored})
    if ignored:
        log.warning(
            "%s: request LoRAs %s ignored: this pipeline does not apply request LoRAs",
            entry.name,
            ", ".join(ignored),
        )


def adapter_name(key: str) -> str:
    """The diffusers adapter name for a cached LoRA: a hash, since names become module keys
    (no dots) and must not collide with an entry's own (lora0, lora1, …)."""
    return "request_" + hashlib.sha256(key.encode()).hexdigest()[:16]


def _cache_key(lora: RequestLora) -> str:
    """What identifies the loaded weights: the caller's digest; without one, the path and the
    file's size and modification time, so a LoRA retrained in place is loaded again."""
    if lora.digest:
        return "digest:" + lora.digest
    path = Path(lora.path).expanduser()
    weights = path / lora.weight_name if path.is_dir() and lora.weight_name else path
    try:
        stat = weights.stat()
    except OSError:
        return "path:" + lora.effective_digest  # load() reports the missing file
    return f"path:{lora.effective_digest}:{stat.st_size}:{stat.st_mtime_ns}"


class RequestLoraCache:
    """The request LoRAs loaded into one pipeline's models, least recently used first.

    Used by `DiffusersPipeline._run` with its lock held: one call at a time."""

    def __init__(self, owner: str, limit: int = MAX_REQUEST_LORAS) -> None:
        self.owner = owner  # the pipeline's name, for messages
        self.limit = limit
        self._adapters: OrderedDict[str, str] = OrderedDict()  # cache key → adapter name
        # Whether a request LoRA was ever loaded: until then calls leave the pipeline as the
        # entry's load left it, exactly as before request LoRAs existed.
        self._touched = False

    @property
    def adapter_names(self) -> list[str]:
        """The loaded request LoRAs' adapter names, least recently used first."""
        return list(self._adapters.values())

    def clear(self) -> None:
        """Forget everything (the models were dropped: `unload`)."""
        self._adapters.clear()
        self._touched = False

    def activate(
        self, pipe: Any, entry_loras: Sequence[LoraSpec], loras: Sequence[RequestLora]
    ) -> None:
        """Load what `loras` needs and activate the entry's LoRAs plus these, at their scales."""
        if not loras and not self._touched:
            return
        keys = [_cache_key(lora) for lora in loras]
        keep = set(keys)
        names = [self._loaded(pipe, lora, key, keep) for lora, key in zip(loras, keys, strict=True)]
        adapters = [lora.adapter_name for lora in entry_loras] + names
        weights = [lora.scale for lora in entry_loras] + [lora.scale for lora in loras]
        if adapters:
            pipe.enable_lora()  # a call without any LoRA disabled them
            pipe.set_adapters(adapters, adapter_weights=weights)
        else:
            # No active adapter at all: disabled layers run only the base weights.
            pipe.disable_lora()

    def _loaded(self, pipe: Any, lora: RequestLora, key: str, keep: set[str]) -> str:
        """The adapter name of `lora`, loading it first (evicting old ones) if need be."""
        name = self._adapters.get(key)
        if name is not None:
            self._adapters.move_to_end(key)
            return name
        self._check(pipe, lora)
        # Make room first, so peak memory stays at `limit` LoRAs; never those of this call.
        for old in [k for k in self._adapters if k not in keep]:
            if len(self._adapters) < self.limit:
                break
            with _quiet_peft():
                pipe.delete_adapters(self._adapters.pop(old))
        name = adapter_name(key)
        self._load(pipe, lora, name)
        self._adapters[key] = name
        self._touched = True
        return name

    def _check(self, pipe: Any, lora: RequestLora) -> None:
        """Missing files and a pipeline that cannot take LoRAs, before diffusers sees them."""
        if not hasattr(pipe, "load_lora_weights"):
            raise PipelineError(
                f"{self.owner}: {type(pipe).__name__} cannot load LoRA weights (the LoRA "
                f"{lora.path})"
            )
        if importlib.util.find_spec("peft") is None:
            raise PipelineError(
                f"{self.owner}: the LoRA {lora.path} needs peft (`pip install peft`)"
            )
        path = Path(lora.path).expanduser()
        if not path.exists():
            raise WeightsUnavailableError(
                lora.path,
                f"{self.owner}'s request LoRA: there is no file or folder at {path}",
                _MISSING_HINT,
            )
        if path.is_dir() and lora.weight_name and not (path / lora.weight_name).is_file():
            raise WeightsUnavailableError(
                lora.path,
                f"{self.owner}'s request LoRA: the folder {path} has no {lora.weight_name}",
                _MISSING_HINT,
            )

    def _load(self, pipe: Any, lora: RequestLora, name: str) -> None:
        kwargs: dict[str, Any] = {"adapter_name": name, "local_files_only": True}
        if lora.weight_name:
            kwargs["weight_name"] = lora.weight_name
        diffusers = import_library("diffusers")
        verbosity = diffusers.utils.logging.get_verbosity()
        # "No LoRA keys associated to CLIPTextModel" for every UNet-only LoRA: noise.
        diffusers.utils.logging.set_verbosity_error()
        try:
            with _quiet_peft():
                pipe.load_lora_weights(str(Path(lora.path).expanduser()), **kwargs)
            loaded = any(name in found for found in pipe.get_list_adapters().values())
        except Exception as exc:
            self._forget(pipe, name)
            if is_out_of_memory(exc, import_library("torch")):
                raise OutOfMemoryError(self.owner, "loading a LoRA into", first_line(exc)) from exc
            raise PipelineError(
                f"{self.owner}: the LoRA {lora.path} could not be loaded: {_why(exc)}"
            ) from exc
        finally:
            diffusers.utils.logging.set_verbosity(verbosity)
        if not loaded:  # every key belonged to a component this pipeline does not have
            self._forget(pipe, name)
            raise PipelineError(
                f"{self.owner}: the LoRA {lora.path} holds no weights for this model's layers"
            )

    @staticmethod
    def _forget(pipe: Any, name: str) -> None:
        """Delete whatever a failed load left of adapter `name` (diffusers removes what it
        built only where the adapter had become active)."""
        try:
            with _quiet_peft():
                pipe.delete_adapters(name)
        except Exception:  # nothing of it was built: nothing to delete
            log.debug("no adapter %s to delete", name, exc_info=True)


@contextmanager
def _quiet_peft() -> Iterator[None]:
    """Without peft's warnings about what this module does on purpose: several adapters in
    one model, and deleting the one that was active (each call sets the active ones)."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "Already found a `peft_config`", UserWarning)
        warnings.filterwarnings("ignore", "Adapter .* was active which is now deleted", UserWarning)
        yield


def _why(exc: BaseException) -> str:
    """A LoRA load failure in words: peft's own messages run to hundreds of lines."""
    text = str(exc)
    if "size mismatch" in text:
        return "its layers' shapes do not match this model (a LoRA made for another base model?)"
    if "not found in the base model" in text:
        return "none of its layers are in this model (a LoRA made for another kind of model?)"
    return first_line(exc)
