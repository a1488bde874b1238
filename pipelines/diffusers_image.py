"""Text-to-image through any diffusers pipeline, and the loading every diffusers pipeline shares.

`DiffusersPipeline` is the shared part: it loads a catalogue entry's model with
`from_pretrained` (hub id or local folder, offline-aware), applies LoRAs, the device and the
memory options, swaps schedulers per call, runs one call at a time with progress and
cancellation, and turns failures into `WeightsUnavailableError` / `OutOfMemoryError`.
`DiffusersImagePipeline` adds `render_frame`/`render_frames`; `pipelines.diffusers_video`
adds clips. What these classes share with the transformers implementations and the video
pipeline (`ModelPipeline`: the entry, its revision, `from_entry`, the lock; loading weights,
devices, dtypes, out-of-memory handling, pixel conversion) lives in `pipelines.diffusers_base`.

Pieces of this live beside it: the per-call settings (`RenderConfig`, `render_config`) in
`pipelines.diffusers_settings`, the loading steps (`from_pretrained`, components, LoRAs, the
IP-Adapter, device and memory options, sibling pipelines) in `pipelines.diffusers_loading`,
how reference pictures enter a call in `pipelines.diffusers_references`, and per-request
LoRAs (loaded once, activated per call) in `pipelines.diffusers_loras`.

torch, diffusers and transformers are imported inside functions (through
`diffusers_base.import_library`), so importing this module stays cheap and the catalogue can
ask it for a revision in a torch-free process.
"""

from __future__ import annotations

import inspect
import json
import logging
from collections.abc import Sequence
from typing import Any, ClassVar, Self

import numpy as np
from PIL import Image

from pipelines.diffusers_base import (
    ModelPipeline,
    Preview,
    Progress,
    ShouldCancel,
    first_line,
    fit,
    free_accelerator_memory,
    import_library,
    is_out_of_memory,
    load_weights,
    resolve_device,
    resolve_dtype,
    to_uint8,
)
from pipelines.diffusers_loading import DiffusersLoading
from pipelines.diffusers_loras import MAX_REQUEST_LORAS, RequestLoraCache, lora_call
from pipelines.diffusers_references import reference_call, warn_ignored
from pipelines.diffusers_settings import RenderConfig, render_config
from pipelines.entries import PipelineEntry
from pipelines.errors import OutOfMemoryError, PipelineError
from pipelines.provenance import record
from pipelines.requests import Cancelled, RenderRequest, RequestLora

__all__ = [
    "DiffusersImagePipeline",
    "DiffusersPipeline",
    "RenderConfig",  # defined in pipelines.diffusers_settings; still importable from here
    "load_weights",  # defined in pipelines.diffusers_base; still importable from here
    "render_config",
]

log = logging.getLogger(__name__)

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


class DiffusersPipeline(DiffusersLoading, ModelPipeline):
    """A catalogue entry's diffusers model: loaded once, called one request at a time."""

    # The task whose pipeline class loads the weights; other tasks derive from it (from_pipe).
    base_tasks: ClassVar[tuple[str, ...]] = ("text-to-image",)
    # Whether this class loads the entry's ip_adapter and passes references to its calls.
    uses_ip_adapter: ClassVar[bool] = False
    # Whether this class applies `RenderRequest.loras` (see pipelines.diffusers_loras).
    uses_request_loras: ClassVar[bool] = False
    max_request_loras: ClassVar[int] = MAX_REQUEST_LORAS  # loaded at once, per pipeline

    def __init__(self, entry: PipelineEntry, *, device: str = "", dtype: str = "") -> None:
        # Diffusers pipelines are not re-entrant (scheduler state, offload hooks): the lock
        # (`ModelPipeline`'s) keeps calls one at a time, and unload() waits for a running call.
        super().__init__(entry, device=device, dtype=dtype)
        self.applied_memory: list[str] = []
        self._pipes: dict[str, Any] = {}  # task → diffusers pipeline (all share components)
        self._base_task = ""
        self._placed_task = ""  # the pipeline whose offload hooks are installed
        self._model_scheduler: Any = None
        self._schedulers: dict[str, Any] = {}
        self._request_loras = RequestLoraCache(self.name, self.max_request_loras)

    @property
    def loaded(self) -> bool:
        return bool(self._pipes)

    @property
    def has_ip_adapter(self) -> bool:
        """Whether renders follow `RenderRequest.references` (through the entry's IP-Adapter)."""
        return self.uses_ip_adapter and self.entry.ip_adapter is not None

    def load(self) -> Self:
        """Load the weights (once): components, LoRAs, then device and memory options."""
        with self._lock:
            if self._pipes:
                return self
            torch = import_library("torch")
            self.device = resolve_device(self.device_spec, torch)
            self.dtype = resolve_dtype(self.dtype_spec, self.device)
            task = next((t for t in self.base_tasks if self.entry.supports(t)), self.entry.tasks[0])
            try:
                pipe = self._from_pretrained(task, torch)
                pipe.set_progress_bar_config(disable=True)  # progress goes to on_progress
                self._apply_loras(pipe)
                if self.uses_ip_adapter:
                    self._apply_ip_adapter(pipe)
                elif self.entry.ip_adapter is not None:
                    log.warning(
                        "%s: ip_adapter ignored: only diffusers-image entries use one", self.name
                    )
                self.applied_memory = self._place(pipe)
            except (PipelineError, Cancelled):
                raise
            except Exception as exc:
                if is_out_of_memory(exc, torch):
                    free_accelerator_memory()
                    raise OutOfMemoryError(self.name, "loading", first_line(exc)) from exc
                raise
            self._pipes = {task: pipe}
            self._base_task = self._placed_task = task
            self._model_scheduler = pipe.scheduler
            self._schedulers = {}
            self._request_loras.clear()  # new models: no request LoRA in them yet
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
            self._request_loras.clear()
        free_accelerator_memory()

    @property
    def request_lora_adapters(self) -> list[str]:
        """The adapter names of the request LoRAs now loaded, least recently used first (at
        most `max_request_loras`, unless one request asks for more)."""
        with self._lock:
            return self._request_loras.adapter_names

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
            # The reference scale used, or which references were ignored (none: nothing).
            **reference_call(self.entry, request, self.has_ip_adapter).settings(),
            # The request's LoRAs, or which were ignored (none: nothing).
            **lora_call(self.entry, request, self.uses_request_loras).settings(),
        }

    def provenance(self, request: RenderRequest) -> dict[str, Any]:
        return record(self.entry, request, self.settings(request))

    # -- the pipeline and scheduler of a call ----------------------------------------------

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

    def _use_scheduler(self, pipe: Any, spec: Any) -> None:
        """Per call: the model's scheduler, or one built from its config by class name."""
        if not spec:
            pipe.scheduler = self._model_scheduler
            return
        key = json.dumps(spec, sort_keys=True)
        scheduler = self._schedulers.get(key)
        if scheduler is None:
            name, overrides = (spec, {}) if isinstance(spec, str) else (spec["class"], spec)
            cls = getattr(import_library("diffusers"), name, None)
            if cls is None or not hasattr(cls, "from_config"):
                raise PipelineError(f"{self.name}: unknown scheduler {name!r}")
            config = {k: v for k, v in overrides.items() if k != "class"}
            scheduler = cls.from_config(self._model_scheduler.config, **config)
            self._schedulers[key] = scheduler
        pipe.scheduler = scheduler

    def _use_loras(self, pipe: Any, loras: Sequence[RequestLora]) -> None:
        """Per call: the entry's LoRAs plus `loras`, loading those not loaded yet."""
        try:
            self._request_loras.activate(pipe, self.entry.loras, loras)
        except BaseException:
            if any(option.endswith("cpu_offload") for option in self.applied_memory):
                # diffusers takes the offload hooks off to load a LoRA and puts them back only
                # when the load succeeds: without them the next call would run on the CPU.
                self._place(pipe)
            raise

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
        ip_adapter_scale: float | None = None,
        loras: Sequence[RequestLora] | None = None,
    ) -> Any:
        """One diffusers call. Arguments the pipeline does not take are dropped (so one set of
        kwargs serves SD, SVD, LTX, Wan…); progress, cancel and preview run per step.
        `ip_adapter_scale` sets the IP-Adapter's scale for this call and `loras` (not None)
        the request LoRAs active in it, beside the entry's own (pipeline state, hence under
        the lock)."""
        torch = import_library("torch")
        with self._lock:
            pipe = self._pipe(task)
            if loras is not None:
                self._use_loras(pipe, loras)
            self._use_scheduler(pipe, scheduler)
            if ip_adapter_scale is not None:
                pipe.set_ip_adapter_scale(ip_adapter_scale)
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
                if not isinstance(exc, Cancelled | PipelineError) and is_out_of_memory(exc, torch):
                    free_accelerator_memory()
                    raise OutOfMemoryError(self.name, "rendering with", first_line(exc)) from exc
                raise
            finally:
                pipe.scheduler = self._model_scheduler  # a per-call override ends with the call


def _latent_preview(latents: Any, pipeline_class: str) -> Image.Image | None:
    """A rough RGB view of the first item's latents (4-channel image latents only)."""
    if getattr(latents, "ndim", 0) != 4 or latents.shape[1] != 4:
        return None
    torch = import_library("torch")
    weights = _LATENT_RGB["sdxl" if "XL" in pipeline_class else "sd"]
    matrix = torch.tensor(weights, dtype=torch.float32)
    rgb = torch.einsum("chw,cr->hwr", latents[0].detach().float().cpu(), matrix)
    pixels = ((rgb + 1) * 127.5).clamp(0, 255).to(torch.uint8).numpy()
    return Image.fromarray(pixels, "RGB")


class DiffusersImagePipeline(DiffusersPipeline):
    """Text-to-image: SD 1.x/2.x, SD-Turbo, SDXL, … — whatever `from_pretrained` loads."""

    base_tasks = ("text-to-image",)
    uses_ip_adapter = True
    uses_request_loras = True

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
        torch = import_library("torch")
        configs = [render_config(self.entry, request) for request in requests]
        adapter = self.has_ip_adapter
        references = [reference_call(self.entry, request, adapter) for request in requests]
        warn_ignored(self.entry, references)
        loras = [lora_call(self.entry, request, True) for request in requests]
        # 1. Group requests that can share a call (same size, steps, scheduler, references,
        # LoRAs…).
        groups: dict[str, list[int]] = {}
        for index, config in enumerate(configs):
            key = config.batch_key() + references[index].batch_key() + loras[index].batch_key()
            groups.setdefault(key, []).append(index)
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
            config, reference = configs[batch[0]], references[batch[0]]
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
                    **reference.call_kwargs(),  # the batch's reference pictures, if any
                    **config.call,
                },
                scheduler=config.scheduler,
                on_step=on_step,
                should_cancel=should_cancel,
                on_preview=on_preview,
                ip_adapter_scale=reference.scale if adapter else None,
                loras=loras[batch[0]].loras,  # the batch's LoRAs, on top of the entry's
            )
            # 3. Collect in request order.
            for index, pixels in zip(batch, np.asarray(output.images), strict=True):
                results[index] = pixels
            done += config.steps
            report(done)  # a pipeline that ran fewer steps than planned still reaches 100 %
        return [results[i] for i in range(len(requests))]
