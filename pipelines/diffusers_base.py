"""What every model-backed pipeline shares: lazy heavy imports, loading weights, devices,
dtypes, out-of-memory handling, image helpers, and `ModelPipeline`, the part of a catalogue
implementation that comes before any loading (the entry's name, model and revision, the
device and dtype asked for, the lock).

`pipelines.diffusers_image`, `pipelines.diffusers_loading`, `pipelines.diffusers_video` and
`pipelines.transformers_model` (the prompt writer, the VITS voices, CLIP similarity) all
import these from here rather than from one another, so none of them reaches into another's
private helpers and the transformers implementations do not depend on the diffusers image
module. This module imports only `pipelines.entries`, `pipelines.errors` and
`pipelines.provenance`.

torch, diffusers and transformers are imported inside functions (through `import_library`),
so importing this module stays cheap and a torch-free process can still ask an implementation
for its revision.
"""

from __future__ import annotations

import importlib
import logging
import os
import threading
from abc import ABC, abstractmethod
from collections.abc import Callable
from pathlib import Path
from typing import Any, ClassVar, Self

import numpy as np
from PIL import Image

from pipelines.entries import PipelineEntry
from pipelines.errors import PipelineError, WeightsUnavailableError, looks_like_path
from pipelines.provenance import cached_commit, model_revision

__all__ = [
    "ModelPipeline",
    "Preview",
    "Progress",
    "ShouldCancel",
    "first_line",
    "fit",
    "free_accelerator_memory",
    "hf_offline",
    "import_library",
    "is_out_of_memory",
    "load_weights",
    "resolve_device",
    "resolve_dtype",
    "to_uint8",
]

log = logging.getLogger(__name__)

# Callbacks a render takes: progress (done, total), a live preview image, a cancel check.
Progress = Callable[[int, int], None]
Preview = Callable[[Image.Image], None]
ShouldCancel = Callable[[], bool]


def import_library(name: str) -> Any:
    """Import a heavy library on first use; typed Any so mypy does not crawl torch."""
    return importlib.import_module(name)


def hf_offline() -> bool:
    """HF_HUB_OFFLINE as it is now (huggingface_hub reads it once, when first imported)."""
    return os.environ.get("HF_HUB_OFFLINE", "").strip().upper() in ("1", "ON", "YES", "TRUE")


# -- loading -------------------------------------------------------------------------------


def load_weights(
    loader: Callable[..., Any],
    model_id: str,
    *,
    revision: str = "",
    index_file: str = "model_index.json",
    **kwargs: Any,
) -> Any:
    """`loader(model_id, **kwargs)` (a `from_pretrained`), with missing weights reported as
    `WeightsUnavailableError` instead of a hub traceback, and no network use when
    HF_HUB_OFFLINE is set. `index_file` is the file that marks a usable folder or cached repo
    (model_index.json for a pipeline, [subfolder/]config.json for one model)."""
    if not model_id:
        raise WeightsUnavailableError(
            "(none)", "the catalogue entry has no model_id", "Set model_id to a hub id or folder."
        )
    folder = Path(model_id).expanduser()
    if folder.is_dir():
        if index_file and not (folder / index_file).is_file():
            raise WeightsUnavailableError(
                model_id,
                f"the folder {folder} has no {index_file}",
                "Point model_id at a folder written by save_pretrained (or a hub snapshot).",
            )
        source, kwargs = str(folder), {**kwargs, "local_files_only": True}
    elif looks_like_path(model_id) or folder.exists():
        raise WeightsUnavailableError(model_id, f"there is no folder at {folder}")
    else:
        offline = hf_offline()
        if offline and not cached_commit(model_id, index_file, revision):
            cache = os.environ.get("HF_HOME") or "~/.cache/huggingface"
            raise WeightsUnavailableError(
                model_id,
                f"it is not in the local Hugging Face cache (HF_HOME={cache}) and "
                "HF_HUB_OFFLINE is set",
            )
        source, kwargs = model_id, {**kwargs, "local_files_only": offline}
        if revision:
            kwargs["revision"] = revision
    hub_errors = import_library("huggingface_hub.errors")
    try:
        return loader(source, **kwargs)
    except hub_errors.GatedRepoError as exc:
        raise WeightsUnavailableError(
            model_id,
            "the repository is gated",
            f"Accept its licence on the model page, log in with `hf auth login`, then download "
            f"it with `hf download {model_id}` (`huggingface-cli download` on older hubs).",
        ) from exc
    except (OSError, hub_errors.HFValidationError, hub_errors.EntryNotFoundError) as exc:
        raise WeightsUnavailableError(model_id, first_line(exc)) from exc


def first_line(exc: BaseException) -> str:
    """An exception's first line (at most 300 characters), for a one-line user message."""
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0][:300]


# -- devices, dtypes and memory ------------------------------------------------------------


def resolve_device(spec: str, torch: Any) -> str:
    """The device an entry's `device` names ("auto": CUDA, else MPS, else CPU); a device asked
    for by name but not present is a `PipelineError`, not a silent fallback."""
    cuda = bool(torch.cuda.is_available())
    mps_backend = getattr(torch.backends, "mps", None)
    mps = bool(mps_backend is not None and mps_backend.is_available())
    if spec == "auto":
        return "cuda" if cuda else "mps" if mps else "cpu"
    if spec.startswith("cuda") and not cuda:
        raise PipelineError(f"device {spec!r} was asked for but no CUDA GPU is visible")
    if spec == "mps" and not mps:
        raise PipelineError("device 'mps' was asked for but Metal (MPS) is not available")
    return spec


def resolve_dtype(spec: str, device: str) -> str:
    """The torch dtype name to load in: "auto" is float32 on the CPU and float16 elsewhere."""
    if spec == "auto":
        return "float32" if device == "cpu" else "float16"
    if spec == "float16" and device == "cpu":
        # Many CPU kernels lack float16 (and those that have it are slow): use full precision.
        log.warning("float16 on CPU is not supported well; loading in float32 instead")
        return "float32"
    return spec


def is_out_of_memory(exc: BaseException, torch: Any) -> bool:
    """Whether `exc` is the device (or the host) running out of memory, by whichever type or
    message this torch build and backend use."""
    torch_oom = getattr(torch, "OutOfMemoryError", None) or getattr(
        torch.cuda, "OutOfMemoryError", None
    )
    if isinstance(exc, MemoryError) or (torch_oom is not None and isinstance(exc, torch_oom)):
        return True
    return isinstance(exc, RuntimeError) and "out of memory" in str(exc).lower()  # MPS


def free_accelerator_memory() -> None:
    """Return cached GPU memory to the driver, if torch was ever imported."""
    import gc
    import sys

    gc.collect()
    torch = sys.modules.get("torch")
    if torch is not None and torch.cuda.is_available():
        torch.cuda.empty_cache()


# -- pixels --------------------------------------------------------------------------------


def to_uint8(pixels: np.ndarray) -> np.ndarray:
    """[0, 1] floats → uint8, rounding as diffusers' own numpy_to_pil does."""
    return np.asarray((np.clip(pixels, 0.0, 1.0) * 255).round(), dtype=np.uint8)


def fit(image: Image.Image, width: int, height: int) -> Image.Image:
    """`image` at width × height (Lanczos), or `image` itself when it already is that size."""
    if image.size == (width, height):
        return image
    return image.resize((width, height), Image.Resampling.LANCZOS)


class ModelPipeline(ABC):
    """A catalogue entry's model before and around loading: its name, model id and revision
    (asked without loading anything), the device and dtype asked for (resolved by `load`), a
    count of loads and a lock that keeps calls one at a time (`unload` waits for a running
    call). Subclasses implement `load`; `from_entry` is what `catalogue.load_pipeline` calls."""

    # The file a cached hub snapshot of this kind of model holds (see `model_revision`).
    revision_marker: ClassVar[str] = "model_index.json"

    def __init__(self, entry: PipelineEntry, *, device: str = "", dtype: str = "") -> None:
        self.entry = entry
        self.name = entry.name
        self.model_id = entry.model_id
        self.revision = self.revision_for(entry)
        self.device_spec = device or entry.device
        self.dtype_spec = dtype or entry.dtype
        self.device = ""  # resolved at load()
        self.dtype = ""
        self.loads = 0
        self._lock = threading.RLock()

    @classmethod
    def from_entry(cls, entry: PipelineEntry) -> Self:
        """Construct and load (what `catalogue.load_pipeline` calls)."""
        return cls(entry).load()

    @classmethod
    def revision_for(cls, entry: PipelineEntry) -> str:
        """The model revision without loading anything (torch-free): the pinned revision, the
        cached hub snapshot's commit, or a local folder's fingerprint; "" when not on disk."""
        return model_revision(entry, marker=cls.revision_marker)

    @abstractmethod
    def load(self) -> Self:
        """Load the weights (once) onto the entry's device."""
