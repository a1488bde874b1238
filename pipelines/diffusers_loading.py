"""Loading a catalogue entry's diffusers model, step by step.

`DiffusersLoading` holds the steps `DiffusersPipeline.load` (in `pipelines.diffusers_image`)
takes: `from_pretrained` with separately loaded components (motion adapter, VAE), LoRAs, an
IP-Adapter (reference pictures), the device and the memory options, and sibling pipelines of
another class over the same loaded models (`from_pipe`). `resolve_pipeline_class` turns a
catalogue entry's class name into the diffusers class.

torch, diffusers and transformers are imported inside functions (through
`diffusers_base.import_library`), so importing this module stays cheap.
"""

from __future__ import annotations

import importlib.util
import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pipelines.diffusers_base import first_line, import_library, is_out_of_memory, load_weights
from pipelines.entries import IpAdapterSpec, LoraSpec, PipelineEntry
from pipelines.errors import PipelineError, WeightsUnavailableError, looks_like_path

__all__ = ["DiffusersLoading", "resolve_pipeline_class"]

log = logging.getLogger(__name__)


class DiffusersLoading:
    """The loading steps of `DiffusersPipeline`, which mixes this class in.

    `DiffusersPipeline.__init__` sets the attributes declared here; its `load` and `_pipe`
    call these methods with its lock held.
    """

    entry: PipelineEntry
    name: str
    device: str  # resolved at load()
    dtype: str
    _pipes: dict[str, Any]  # task → diffusers pipeline (all share components)
    _base_task: str

    def _from_pretrained(self, task: str, torch: Any) -> Any:
        diffusers = import_library("diffusers")
        cls = resolve_pipeline_class(diffusers, self.entry.pipeline_class_for(task))
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
        cls = getattr(diffusers, name, None) or getattr(import_library("transformers"), name, None)
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

    def _apply_ip_adapter(self, pipe: Any) -> None:
        """Load the entry's IP-Adapter (and its CLIP image encoder) into `pipe`, before `_place`
        so the encoder moves to the device and joins the offload sequence with the rest.

        Missing files become `WeightsUnavailableError`, a file diffusers cannot read a
        `PipelineError`: one line naming the ip_adapter, not a traceback."""
        spec = self.entry.ip_adapter
        if spec is None:
            return
        if not hasattr(pipe, "load_ip_adapter"):
            raise PipelineError(
                f"{self.name}: {type(pipe).__name__} cannot load an IP-Adapter (its ip_adapter)"
            )
        folder = Path(spec.model_id).expanduser()
        encoder = folder / spec.image_encoder_path / "config.json"
        if (
            (folder / spec.weight_path).is_file()  # else load_weights says the file is missing
            and getattr(pipe, "image_encoder", None) is None  # else diffusers loads none
            and not encoder.is_file()
        ):
            # transformers' own message names the top folder only, not where it looked.
            raise WeightsUnavailableError(
                spec.model_id,
                f"{self.name}'s ip_adapter: the image encoder folder {spec.image_encoder_path} "
                f"has no config.json",
                _ip_adapter_hint(spec),
            )
        diffusers = import_library("diffusers")
        verbosity = diffusers.utils.logging.get_verbosity()
        diffusers.utils.logging.set_verbosity_error()  # "kept in float32" noise from its cast
        try:
            load_weights(
                pipe.load_ip_adapter,
                spec.model_id,
                revision=spec.revision,
                index_file=spec.weight_path,  # what must be in the folder or the cache
                subfolder=spec.subfolder,
                weight_name=spec.weight_name,
                image_encoder_folder=spec.image_encoder_folder,
            )
        except WeightsUnavailableError as exc:
            raise WeightsUnavailableError(
                spec.model_id,
                f"{self.name}'s ip_adapter: {exc.reason.rstrip('.')}",
                _ip_adapter_hint(spec),
            ) from exc
        except Exception as exc:
            if is_out_of_memory(exc, import_library("torch")):
                raise  # load() reports it as OutOfMemoryError
            # A damaged file, or weights made for another model (shapes, keys).
            raise PipelineError(
                f"{self.name}: its ip_adapter {spec.weight_path} in {spec.model_id} could not be "
                f"loaded: {first_line(exc)}"
            ) from exc
        finally:
            diffusers.utils.logging.set_verbosity(verbosity)

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

    def _sibling(self, task: str) -> Any:
        """A pipeline of another class over the same (shared, already loaded) models."""
        diffusers = import_library("diffusers")
        cls = resolve_pipeline_class(diffusers, self.entry.pipeline_class_for(task))
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
            pipe = cls.from_pipe(base, dtype=getattr(import_library("torch"), self.dtype))
        finally:
            diffusers.utils.logging.set_verbosity(verbosity)
        for name, dtype in dtypes.items():
            module = getattr(pipe, name, None)
            if module is not None and getattr(module, "dtype", dtype) != dtype:
                module.to(dtype=dtype)
        return pipe


def _ip_adapter_hint(spec: IpAdapterSpec) -> str:
    encoder = spec.image_encoder_path
    if looks_like_path(spec.model_id):
        return (
            f"Point ip_adapter.model_id at a folder holding {spec.weight_path} and the image "
            f"encoder in {encoder}/ (config.json and weights)."
        )
    return (
        f"Download both on a machine with internet, e.g. `hf download {spec.model_id} "
        f"--include '{spec.weight_path}' '{encoder}/*'`, copy the Hugging Face cache over and "
        "set HF_HOME to it; or point ip_adapter.model_id at a local folder."
    )


def resolve_pipeline_class(diffusers: Any, name: str) -> Any:
    """The diffusers pipeline class named `name`; DiffusionPipeline when `name` is empty."""
    if not name:
        return diffusers.DiffusionPipeline  # model_index.json names the class
    cls = getattr(diffusers, name, None)
    if cls is None or not hasattr(cls, "from_pretrained"):
        raise PipelineError(
            f"diffusers {getattr(diffusers, '__version__', '')} has no pipeline class {name!r}"
        )
    return cls
