"""What every single-model transformers implementation shares: one model and its input
processor, loaded once onto the entry's device and used one call at a time.

Why a base: the prompt writer (`pipelines.prompt_writer`), the VITS voices
(`pipelines.speech_transformers`) and CLIP similarity (`pipelines.similarity`) hold their
model the same way: device and dtype resolved at load, weights from a local folder or the
Hugging Face cache through `load_weights` (missing weights are a `WeightsUnavailableError`),
a load that does not fit freed and reported as `OutOfMemoryError`, the model in `eval()`
mode, `unload` and `memory_bytes` for the pipeline cache. Written out in each, that was three
copies of one lifecycle. What differs is which classes load the model and its processor and
what an implementation refuses: a subclass implements `_load_parts` (and may override
`_after_load` for a check that needs the loaded model). What comes before loading (the
entry's name and model, the revision asked for torch-free by the catalogue and provenance,
`from_entry`, the lock) is `diffusers_base.ModelPipeline`'s, shared with the diffusers
pipelines, which load a pipeline of components (`pipelines.diffusers_loading`).

torch and transformers are imported inside `load` (through `diffusers_base.import_library`),
so importing this module stays cheap.
"""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Callable
from typing import Any, Self

from pipelines.diffusers_base import (
    ModelPipeline,
    first_line,
    free_accelerator_memory,
    import_library,
    is_out_of_memory,
    load_weights,
    resolve_device,
    resolve_dtype,
)
from pipelines.entries import PipelineEntry
from pipelines.errors import OutOfMemoryError, PipelineError

__all__ = ["TransformersModel"]


class TransformersModel(ModelPipeline):
    """A catalogue entry's transformers model and its processor: loaded once, one call at a
    time. Subclasses implement `_load_parts`."""

    revision_marker = "config.json"

    def __init__(self, entry: PipelineEntry, *, device: str = "", dtype: str = "") -> None:
        # The lock (`ModelPipeline`'s) also keeps seeds reproducible: a seeded call touches
        # torch's global RNG.
        super().__init__(entry, device=device, dtype=dtype)
        self._model: Any = None
        # What turns inputs into tensors: a tokenizer for text, an image processor for pictures.
        self._processor: Any = None

    @property
    def loaded(self) -> bool:
        return self._model is not None

    @property
    def _tokenizer(self) -> Any:
        """`_processor` by the name text models give it (None when not loaded)."""
        return self._processor

    def load(self) -> Self:
        """Load the processor and the model (once) onto the entry's device.

        Raises `WeightsUnavailableError` (naming the model) when the files are neither in a
        local folder nor in the Hugging Face cache, `PipelineError` when the implementation
        refuses the model (see `_load_parts`), `OutOfMemoryError` when it does not fit."""
        with self._lock:
            if self._model is not None:
                return self
            torch, transformers = import_library("torch"), import_library("transformers")
            self.device = resolve_device(self.device_spec, torch)
            self.dtype = resolve_dtype(self.dtype_spec, self.device)
            try:
                model, processor = self._load_parts(transformers, getattr(torch, self.dtype))
                model.to(self.device)
            except PipelineError:
                raise
            except Exception as exc:
                if is_out_of_memory(exc, torch):
                    free_accelerator_memory()
                    raise OutOfMemoryError(self.name, "loading", first_line(exc)) from exc
                raise
            # eval(): no dropout, so the same input always gives the same output.
            self._model, self._processor = model.eval(), processor
            self.loads += 1
            self._after_load()
            return self

    def unload(self) -> None:
        """Drop the weights (waits for a running call); the next call loads again."""
        with self._lock:
            self._model = self._processor = None
        free_accelerator_memory()

    def memory_bytes(self) -> int:
        """Bytes of the loaded model's parameters and buffers (0 when not loaded)."""
        with self._lock:
            if self._model is None:
                return 0
            tensors = [*self._model.parameters(), *self._model.buffers()]
            return sum(t.numel() * t.element_size() for t in tensors)

    # -- what a subclass provides ------------------------------------------------------------

    @abstractmethod
    def _load_parts(self, transformers: Any, dtype: Any) -> tuple[Any, Any]:
        """The model, with weights in the torch `dtype` (not yet on its device), and its
        processor, loaded with `_pretrained`. Raises `PipelineError` for a model this
        implementation cannot run."""

    def _after_load(self) -> None:
        """A check that needs the loaded model (runs under the lock; nothing by default)."""

    def _pretrained(
        self, loader: Callable[..., Any], *, index_file: str = "config.json", **kwargs: Any
    ) -> Any:
        """`loader` (a `from_pretrained`) on the entry's model at its revision, through
        `load_weights`: `index_file` marks a usable folder or cached snapshot."""
        return load_weights(
            loader, self.model_id, revision=self.entry.revision, index_file=index_file, **kwargs
        )
