"""Text-to-image through any diffusers pipeline, and the loading every diffusers pipeline shares.

`DiffusersPipeline` is the shared part: it loads a catalogue entry's model with
`from_pretrained` (hub id or local folder, offline-aware), applies LoRAs, the device and the
memory options, swaps schedulers per call, runs one call at a time with progress and
cancellation, and turns failures into `WeightsUnavailableError` / `OutOfMemoryError`.
`DiffusersImagePipeline` adds `render_frame`/`render_frames`; `pipelines.diffusers_video`
adds clips.

torch, diffusers and transformers are imported inside functions (through `_lib`), so importing
this module stays cheap and the catalogue can ask it for a revision in a torch-free process.
"""

from __future__ import annotations

import importlib
import importlib.util
import inspect
import json
import logging
import math
import os
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Self

import numpy as np
from PIL import Image

from pipelines.catalogue import LoraSpec, PipelineEntry
from pipelines.errors import (
    OutOfMemoryError,
    PipelineError,
    WeightsUnavailableError,
    looks_like_path,
)
from pipelines.provenance import cached_commit, model_revision, record
from pipelines.requests import Cancelled, RenderRequest

__all__ = [
    "DiffusersImagePipeline",
    "DiffusersPipeline",
    "RenderConfig",
    "load_weights",
    "render_config",
]

log = logging.getLogger(__name__)

Progress = Callable[[int, int], None]
Preview = Callable[[Image.Image], None]
ShouldCancel = Callable[[], bool]

# Used where neither the request nor the catalogue entry says otherwise.
BUILTIN_DEFAULTS: dict[str, Any] = {
    "steps": 25,
    "guidance": 5.0,
    "num_frames": 16,
    "fps": 8,
    "strength": 0.8,
    "multiple_of": 8,
    "negative_prompt": "",
    "scheduler": "",
    "interpolation": "blend",
}
MAX_BATCH = 8  # images per diffusers call: bounds peak memory of a large preview batch

# Linear fits from 4-channel latents to RGB: a live preview without running the VAE.
_LATENT_RGB = {
    "sd": (
        (0.298, 0.207, 0.208),
        (0.187, 0.286, 0.173),
        (-0.158, 0.189, 0.264),
        (-0.184, -0.271, -0.473),
    ),
    "sdxl": (
        (0.3651, 0.4232, 0.4341),
        (-0.2533, -0.0042, 0.1068),
        (0.1076, 0.1111, -0.0362),
        (-0.3165, -0.2492, -0.2188),
    ),
}


def _lib(name: str) -> Any:
    """Import a heavy library on first use; typed Any so mypy does not crawl torch."""
    return importlib.import_module(name)


def hf_offline() -> bool:
    """HF_HUB_OFFLINE as it is now (huggingface_hub reads it once, when first imported)."""
    return os.environ.get("HF_HUB_OFFLINE", "").strip().upper() in ("1", "ON", "YES", "TRUE")


# -- per-call settings -------------------------------------------------------------------


@dataclass(frozen=True)
class RenderConfig:
    """One call's settings: request.extra over the entry's defaults over BUILTIN_DEFAULTS."""

    steps: int
    guidance: float
    width: int  # the size the model renders at; outputs are resized to the request's size
    height: int
    num_frames: int
    fps: float
    strength: float
    negative_prompt: str
    scheduler: Any  # "" (the model's own), a class name, or {"class": name, **config}
    interpolation: str
    call: dict[str, Any]  # extra keyword arguments for the diffusers call

    def batch_key(self) -> str:
        """Requests with equal keys can share one batched call."""
        return json.dumps(self.__dict__, sort_keys=True, default=str)


def render_config(entry: PipelineEntry, request: RenderRequest) -> RenderConfig:
    merged = {**BUILTIN_DEFAULTS, **entry.defaults, **request.extra}
    call = {**dict(entry.defaults.get("call") or {}), **dict(request.extra.get("call") or {})}
    width, height = render_size(request, merged, explicit=request.extra)
    return RenderConfig(
        steps=int(merged["steps"]),
        guidance=float(merged["guidance"]),
        width=width,
        height=height,
        num_frames=int(merged["num_frames"]),
        fps=float(merged["fps"]),
        strength=float(merged["strength"]),
        negative_prompt=request.negative_prompt or str(merged["negative_prompt"]),
        scheduler=merged["scheduler"],
        interpolation=str(merged["interpolation"]),
        call=call,
    )


def render_size(
    request: RenderRequest, settings: dict[str, Any], explicit: dict[str, Any]
) -> tuple[int, int]:
    """The model's render size for a request.

    An explicit width and height in request.extra win. Otherwise the model's native size
    (defaults width×height) is reshaped to the request's aspect ratio at the same pixel area
    — models are trained for an area, not for every output size — and rounded to the model's
    `multiple_of`. The result is resized to the request's size afterwards."""
    multiple = int(settings["multiple_of"])
    if "width" in explicit and "height" in explicit:
        width, height = float(explicit["width"]), float(explicit["height"])
    elif "width" in settings and "height" in settings:
        area = float(settings["width"]) * float(settings["height"])
        aspect = request.width / request.height
        width, height = math.sqrt(area * aspect), math.sqrt(area / aspect)
    else:
        width, height = float(request.width), float(request.height)
    return (
        max(multiple, round(width / multiple) * multiple),
        max(multiple, round(height / multiple) * multiple),
    )


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
    hub_errors = _lib("huggingface_hub.errors")
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
        raise WeightsUnavailableError(model_id, _first_line(exc)) from exc


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0][:300]


def resolve_device(spec: str, torch: Any) -> str:
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
    if spec == "auto":
        return "float32" if device == "cpu" else "float16"
    if spec == "float16" and device == "cpu":
        # Many CPU kernels lack float16 (and those that have it are slow): use full precision.
        log.warning("float16 on CPU is not supported well; loading in float32 instead")
        return "float32"
    return spec


def _is_oom(exc: BaseException, torch: Any) -> bool:
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


class DiffusersPipeline:
    """A catalogue entry's diffusers model: loaded once, called one request at a time."""

    # The task whose pipeline class loads the weights; other tasks derive from it (from_pipe).
    base_tasks: ClassVar[tuple[str, ...]] = ("text-to-image",)

    def __init__(self, entry: PipelineEntry, *, device: str = "", dtype: str = "") -> None:
        self.entry = entry
        self.name = entry.name
        self.model_id = entry.model_id
        self.revision = entry.revision or model_revision(entry)
        self.device_spec = device or entry.device
        self.dtype_spec = dtype or entry.dtype
        self.device = ""  # resolved at load()
        self.dtype = ""
        self.applied_memory: list[str] = []
        self.loads = 0
        self._pipes: dict[str, Any] = {}  # task → diffusers pipeline (all share components)
        self._base_task = ""
        self._placed_task = ""  # the pipeline whose offload hooks are installed
        self._model_scheduler: Any = None
        self._schedulers: dict[str, Any] = {}
        # Diffusers pipelines are not re-entrant (scheduler state, offload hooks): one call at
        # a time, and unload() waits for a running call.
        self._lock = threading.RLock()

    @classmethod
    def from_entry(cls, entry: PipelineEntry) -> Self:
        """Construct and load (what `catalogue.load_pipeline` calls)."""
        return cls(entry).load()

    @classmethod
    def revision_for(cls, entry: PipelineEntry) -> str:
        """The model revision without loading anything (torch-free)."""
        return entry.revision or model_revision(entry)

    @property
    def loaded(self) -> bool:
        return bool(self._pipes)

    def load(self) -> Self:
        """Load the weights (once): components, LoRAs, then device and memory options."""
        with self._lock:
            if self._pipes:
                return self
            torch = _lib("torch")
            self.device = resolve_device(self.device_spec, torch)
            self.dtype = resolve_dtype(self.dtype_spec, self.device)
            task = next((t for t in self.base_tasks if self.entry.supports(t)), self.entry.tasks[0])
            try:
                pipe = self._from_pretrained(task, torch)
                pipe.set_progress_bar_config(disable=True)  # progress goes to on_progress
                self._apply_loras(pipe)
                self.applied_memory = self._place(pipe)
            except (PipelineError, Cancelled):
                raise
            except Exception as exc:
                if _is_oom(exc, torch):
                    free_accelerator_memory()
                    raise OutOfMemoryError(self.name, "loading", _first_line(exc)) from exc
                raise
            self._pipes = {task: pipe}
            self._base_task = self._placed_task = task
            self._model_scheduler = pipe.scheduler
            self._schedulers = {}
            self.loads += 1
            return self

    def unload(self) -> None:
        """Drop the weights (waits for a running call); the next render loads again."""
        with self._lock:
            for pipe in self._pipes.values():
                remove = getattr(pipe, "remove_all_hooks", None)
                if remove is not None:
                    remove()
            self._pipes = {}
            self._model_scheduler = None
            self._schedulers = {}
        free_accelerator_memory()

    def memory_bytes(self) -> int:
        """Bytes of parameters and buffers of the loaded models (0 when not loaded)."""
        with self._lock:
            if not self._pipes:
                return 0
            pipe = self._pipes[self._base_task]
            total, seen = 0, set()
            for component in pipe.components.values():
                tensors = getattr(component, "parameters", None)
                if tensors is None or id(component) in seen:
                    continue
                seen.add(id(component))
                for tensor in [*component.parameters(), *component.buffers()]:
                    total += tensor.numel() * tensor.element_size()
            return total

    def settings(self, request: RenderRequest) -> dict[str, Any]:
        """What a render of `request` uses, resolved (for provenance)."""
        config = render_config(self.entry, request)
        scheduler = config.scheduler
        if isinstance(scheduler, dict):
            scheduler = scheduler["class"]
        if not scheduler and self._model_scheduler is not None:
            scheduler = type(self._model_scheduler).__name__
        return {
            "revision": self.revision,
            "device": self.device or self.device_spec,
            "dtype": self.dtype or self.dtype_spec,
            "scheduler": scheduler,
            "steps": config.steps,
            "guidance": config.guidance,
            "render_width": config.width,
            "render_height": config.height,
            "memory": list(self.applied_memory),
        }

    def provenance(self, request: RenderRequest) -> dict[str, Any]:
        return record(self.entry, request, self.settings(request))

    # -- loading, step by step -------------------------------------------------------------

    def _from_pretrained(self, task: str, torch: Any) -> Any:
        diffusers = _lib("diffusers")
        cls = _pipeline_class(diffusers, self.entry.pipeline_class_for(task))
        kwargs: dict[str, Any] = {"dtype": getattr(torch, self.dtype)}
        if self.entry.variant:
            kwargs["variant"] = self.entry.variant
        for name, spec in self.entry.components.items():
            kwargs[name] = self._component(spec, torch, diffusers)
        return load_weights(
            cls.from_pretrained, self.entry.model_id, revision=self.entry.revision, **kwargs
        )

    def _component(self, spec: Mapping[str, Any], torch: Any, diffusers: Any) -> Any:
        """A separately loaded component (motion adapter, VAE) passed to from_pretrained."""
        name = spec["class"]
        cls = getattr(diffusers, name, None) or getattr(_lib("transformers"), name, None)
        if cls is None:
            raise PipelineError(f"{self.name}: no diffusers/transformers class {name!r}")
        dtype = spec.get("dtype", "auto")
        kwargs: dict[str, Any] = {"dtype": getattr(torch, self.dtype if dtype == "auto" else dtype)}
        subfolder = str(spec.get("subfolder") or "")
        if subfolder:
            kwargs["subfolder"] = subfolder
        if spec.get("variant"):
            kwargs["variant"] = spec["variant"]
        index = f"{subfolder}/config.json" if subfolder else "config.json"
        return load_weights(
            cls.from_pretrained,
            str(spec.get("model_id") or self.entry.model_id),
            revision=str(spec.get("revision") or ""),
            index_file=index,
            **kwargs,
        )

    def _apply_loras(self, pipe: Any) -> None:
        if not self.entry.loras:
            return
        if not hasattr(pipe, "load_lora_weights"):
            raise PipelineError(f"{type(pipe).__name__} ({self.name}) cannot load LoRA weights")
        if importlib.util.find_spec("peft") is None:
            raise PipelineError(f"{self.name}: LoRA loading needs peft (`pip install peft`)")
        for lora in self.entry.loras:
            self._load_lora(pipe, lora)
        pipe.set_adapters(
            [lora.adapter_name for lora in self.entry.loras],
            adapter_weights=[lora.scale for lora in self.entry.loras],
        )

    @staticmethod
    def _load_lora(pipe: Any, lora: LoraSpec) -> None:
        kwargs: dict[str, Any] = {"adapter_name": lora.adapter_name}
        path = Path(lora.path).expanduser()
        if lora.weight_name:
            kwargs["weight_name"] = lora.weight_name
        if path.is_file():
            pipe.load_lora_weights(str(path), **kwargs)
            return
        load_weights(
            pipe.load_lora_weights,
            lora.path,
            index_file=lora.weight_name or "pytorch_lora_weights.safetensors",
            **kwargs,
        )

    def _place(self, pipe: Any) -> list[str]:
        """Move to the device and apply the entry's memory options; returns those applied."""
        memory, applied = dict(self.entry.memory), []
        offload = next(
            (key for key in ("sequential_cpu_offload", "model_cpu_offload") if memory.get(key)),
            "",
        )
        if offload and self.device != "cpu":
            # Offload keeps weights in RAM and moves them to the GPU when they run.
            getattr(pipe, f"enable_{offload}")(device=self.device)
            applied.append(offload)
        else:
            if offload:
                log.info("%s: %s skipped: the model runs on the CPU", self.name, offload)
            pipe.to(self.device)
        vae = getattr(pipe, "vae", None)
        for key, method in (("vae_tiling", "enable_tiling"), ("vae_slicing", "enable_slicing")):
            if not memory.get(key):
                continue
            if vae is not None and hasattr(vae, method):
                getattr(vae, method)()
                applied.append(key)
            else:
                log.warning("%s: %s is not supported by this model; ignored", self.name, key)
        slicing = memory.get("attention_slicing")
        if slicing:
            if hasattr(pipe, "enable_attention_slicing"):
                pipe.enable_attention_slicing("auto" if slicing is True else slicing)
                applied.append("attention_slicing")
            else:
                log.warning("%s: attention_slicing is not supported; ignored", self.name)
        return applied

    def _pipe(self, task: str) -> Any:
        """The diffusers pipeline for a task: the loaded one, or a sibling sharing its models."""
        self.load()
        pipe = self._pipes.get(task)
        if pipe is None:
            pipe = self._sibling(task)
            pipe.set_progress_bar_config(disable=True)
            self._pipes[task] = pipe
        if task != self._placed_task and self.applied_memory:
            # Offload hooks belong to one pipeline object: install them on this one.
            self._place(pipe)
            self._placed_task = task
        return pipe

    def _sibling(self, task: str) -> Any:
        """A pipeline of another class over the same (shared, already loaded) models."""
        diffusers = _lib("diffusers")
        cls = _pipeline_class(diffusers, self.entry.pipeline_class_for(task))
        base = self._pipes[self._base_task]
        # from_pipe casts every model to one dtype (float32 unless told): keep each model's
        # own dtype, since a model kept in float32 on purpose (a VAE) is shared with `base`.
        dtypes = {
            name: module.dtype
            for name, module in base.components.items()
            if hasattr(module, "dtype") and hasattr(module, "to")
        }
        verbosity = diffusers.utils.logging.get_verbosity()
        diffusers.utils.logging.set_verbosity_error()  # "kept in float32" noise from the cast
        try:
            pipe = cls.from_pipe(base, dtype=getattr(_lib("torch"), self.dtype))
        finally:
            diffusers.utils.logging.set_verbosity(verbosity)
        for name, dtype in dtypes.items():
            module = getattr(pipe, name, None)
            if module is not None and getattr(module, "dtype", dtype) != dtype:
                module.to(dtype=dtype)
        return pipe

    def _use_scheduler(self, pipe: Any, spec: Any) -> None:
        """Per call: the model's scheduler, or one built from its config by class name."""
        if not spec:
            pipe.scheduler = self._model_scheduler
            return
        key = json.dumps(spec, sort_keys=True)
        scheduler = self._schedulers.get(key)
        if scheduler is None:
            name, overrides = (spec, {}) if isinstance(spec, str) else (spec["class"], spec)
            cls = getattr(_lib("diffusers"), name, None)
            if cls is None or not hasattr(cls, "from_config"):
                raise PipelineError(f"{self.name}: unknown scheduler {name!r}")
            config = {k: v for k, v in overrides.items() if k != "class"}
            scheduler = cls.from_config(self._model_scheduler.config, **config)
            self._schedulers[key] = scheduler
        pipe.scheduler = scheduler

    # -- calling ---------------------------------------------------------------------------

    def _run(
        self,
        task: str,
        kwargs: dict[str, Any],
        *,
        scheduler: Any,
        on_step: Progress | None = None,
        should_cancel: ShouldCancel | None = None,
        on_preview: Preview | None = None,
    ) -> Any:
        """One diffusers call. Arguments the pipeline does not take are dropped (so one set of
        kwargs serves SD, SVD, LTX, Wan…); progress, cancel and preview run per step."""
        torch = _lib("torch")
        with self._lock:
            pipe = self._pipe(task)
            self._use_scheduler(pipe, scheduler)
            accepted = inspect.signature(pipe.__call__).parameters
            call = {k: v for k, v in kwargs.items() if k in accepted and v is not None}
            ignored = sorted(k for k in kwargs if k not in accepted and kwargs[k] is not None)
            if ignored:
                log.debug("%s: %s does not take %s", self.name, type(pipe).__name__, ignored)

            def step_end(p: Any, step: int, timestep: Any, tensors: dict[str, Any]) -> Any:
                # Raising here stops the denoising loop; Cancelled reaches the caller as is.
                if should_cancel is not None and should_cancel():
                    raise Cancelled(f"{self.name}: cancelled at step {step + 1}")
                if on_step is not None:
                    on_step(step + 1, int(getattr(p, "_num_timesteps", 0) or 0))
                if on_preview is not None and "latents" in tensors:
                    preview = _latent_preview(tensors["latents"], type(p).__name__)
                    if preview is not None:
                        on_preview(preview)
                return tensors

            if "callback_on_step_end" in accepted:
                call["callback_on_step_end"] = step_end
            try:
                return pipe(**call)
            except BaseException as exc:
                # A call stopped midway leaves offloaded models on the GPU: put them back.
                free = getattr(pipe, "maybe_free_model_hooks", None)
                if free is not None:
                    free()
                if not isinstance(exc, Cancelled | PipelineError) and _is_oom(exc, torch):
                    free_accelerator_memory()
                    raise OutOfMemoryError(self.name, "rendering with", _first_line(exc)) from exc
                raise
            finally:
                pipe.scheduler = self._model_scheduler  # a per-call override ends with the call


def _pipeline_class(diffusers: Any, name: str) -> Any:
    if not name:
        return diffusers.DiffusionPipeline  # model_index.json names the class
    cls = getattr(diffusers, name, None)
    if cls is None or not hasattr(cls, "from_pretrained"):
        raise PipelineError(
            f"diffusers {getattr(diffusers, '__version__', '')} has no pipeline class {name!r}"
        )
    return cls


def _latent_preview(latents: Any, pipeline_class: str) -> Image.Image | None:
    """A rough RGB view of the first item's latents (4-channel image latents only)."""
    if getattr(latents, "ndim", 0) != 4 or latents.shape[1] != 4:
        return None
    torch = _lib("torch")
    weights = _LATENT_RGB["sdxl" if "XL" in pipeline_class else "sd"]
    matrix = torch.tensor(weights, dtype=torch.float32)
    rgb = torch.einsum("chw,cr->hwr", latents[0].detach().float().cpu(), matrix)
    pixels = ((rgb + 1) * 127.5).clamp(0, 255).to(torch.uint8).numpy()
    return Image.fromarray(pixels, "RGB")


def to_uint8(pixels: np.ndarray) -> np.ndarray:
    """[0, 1] floats → uint8, rounding as diffusers' own numpy_to_pil does."""
    return np.asarray((np.clip(pixels, 0.0, 1.0) * 255).round(), dtype=np.uint8)


def fit(image: Image.Image, width: int, height: int) -> Image.Image:
    if image.size == (width, height):
        return image
    return image.resize((width, height), Image.Resampling.LANCZOS)


class DiffusersImagePipeline(DiffusersPipeline):
    """Text-to-image: SD 1.x/2.x, SD-Turbo, SDXL, … — whatever `from_pretrained` loads."""

    base_tasks = ("text-to-image",)

    def render_frame(
        self,
        request: RenderRequest,
        on_progress: Progress | None = None,
        *,
        should_cancel: ShouldCancel | None = None,
        on_preview: Preview | None = None,
    ) -> Image.Image:
        """One request.width × request.height RGB image, identical for identical requests."""
        return self.render_frames(
            [request], on_progress, should_cancel=should_cancel, on_preview=on_preview
        )[0]

    def render_frames(
        self,
        requests: list[RenderRequest],
        on_progress: Progress | None = None,
        *,
        should_cancel: ShouldCancel | None = None,
        on_preview: Preview | None = None,
    ) -> list[Image.Image]:
        """Many previews in as few batched calls as their settings allow. Each request keeps
        its own seeded generator, so a batch renders what one-by-one calls would."""
        arrays = self.render_arrays(
            requests, on_progress, should_cancel=should_cancel, on_preview=on_preview
        )
        return [
            fit(Image.fromarray(to_uint8(pixels), "RGB"), request.width, request.height)
            for pixels, request in zip(arrays, requests, strict=True)
        ]

    def render_arrays(
        self,
        requests: list[RenderRequest],
        on_progress: Progress | None = None,
        *,
        should_cancel: ShouldCancel | None = None,
        on_preview: Preview | None = None,
    ) -> list[np.ndarray]:
        """Like render_frames, as H×W×3 float arrays in [0, 1] at the model's render size."""
        torch = _lib("torch")
        configs = [render_config(self.entry, request) for request in requests]
        # 1. Group requests that can share a call (same size, steps, scheduler, …).
        groups: dict[str, list[int]] = {}
        for index, config in enumerate(configs):
            groups.setdefault(config.batch_key(), []).append(index)
        batches = [
            indices[start : start + MAX_BATCH]
            for indices in groups.values()
            for start in range(0, len(indices), MAX_BATCH)
        ]
        total = sum(configs[batch[0]].steps for batch in batches)
        results: dict[int, np.ndarray] = {}
        done, reported = 0, [0]

        def report(value: int) -> None:
            if on_progress is not None and value > reported[0]:
                reported[0] = value
                on_progress(value, total)

        for batch in batches:
            config = configs[batch[0]]
            items = [requests[i] for i in batch]

            def on_step(step: int, steps: int, offset: int = done) -> None:
                report(min(offset + step, total))

            # 2. One call, one CPU generator per item: seeds reproduce across devices.
            output = self._run(
                "text-to-image",
                {
                    "prompt": [r.prompt for r in items],
                    "negative_prompt": (
                        [config.negative_prompt for _ in items] if config.negative_prompt else None
                    ),
                    "height": config.height,
                    "width": config.width,
                    "num_inference_steps": config.steps,
                    "guidance_scale": config.guidance,
                    "generator": [torch.Generator("cpu").manual_seed(r.seed) for r in items],
                    "output_type": "np",
                    **config.call,
                },
                scheduler=config.scheduler,
                on_step=on_step,
                should_cancel=should_cancel,
                on_preview=on_preview,
            )
            # 3. Collect in request order.
            for index, pixels in zip(batch, np.asarray(output.images), strict=True):
                results[index] = pixels
            done += config.steps
            report(done)  # a pipeline that ran fewer steps than planned still reaches 100 %
        return [results[i] for i in range(len(requests))]
