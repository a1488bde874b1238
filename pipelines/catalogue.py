"""The pipeline catalogue: names → what to load and how (configs/pipelines.yaml).

Module layout, so that nothing in `pipelines` imports in a cycle: the entry types live in
`pipelines.entries` (re-exported here: `from pipelines.catalogue import PipelineEntry` keeps
working), the implementations import those and never this module, and this module imports an
implementation only inside `_implementation`, when an entry is first loaded — which also keeps
torch and diffusers out of a process that only reads the catalogue.
"""

from __future__ import annotations

import importlib
import math
import string
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import yaml

# Re-exported: code outside `pipelines` imports these from here.
from pipelines.entries import IpAdapterSpec, LoraSpec, PipelineEntry

# text-generation: an optional prompt writer (pipelines.prompt_writer), not a renderer;
# image-similarity: scores pictures against a reference (pipelines.similarity), not a renderer;
# text-to-speech: speaks a character's line (pipelines.speech_espeak, .speech_transformers).
TASKS = (
    "text-to-image",
    "image-to-video",
    "text-to-video",
    "text-generation",
    "image-similarity",
    "text-to-speech",
)
DEFAULT_CATALOGUE = Path(__file__).resolve().parent.parent / "configs" / "pipelines.yaml"
DTYPES = ("auto", "float16", "bfloat16", "float32")
DEVICES = ("auto", "cuda", "mps", "cpu")  # "cuda:N" picks one GPU
# Memory savers, each applied at load when set and supported by the pipeline class.
MEMORY_OPTIONS = (
    "model_cpu_offload",  # whole models move to the GPU only while they run
    "sequential_cpu_offload",  # layer by layer: least memory, slowest
    "vae_tiling",  # decode large images/videos in tiles
    "vae_slicing",  # decode a batch one item at a time
    "attention_slicing",  # true, "auto", "max" or a slice size
)
# defaults: key → (type check, what the message says it must be)
DEFAULT_KEYS: dict[str, tuple[Callable[[Any], bool], str]] = {
    "steps": (lambda v: _is_int(v) and v >= 1, "an integer ≥ 1"),
    "guidance": (lambda v: _is_number(v) and v >= 0, "a number ≥ 0"),
    "width": (lambda v: _is_int(v) and v >= 8, "an integer ≥ 8"),
    "height": (lambda v: _is_int(v) and v >= 8, "an integer ≥ 8"),
    "num_frames": (lambda v: _is_int(v) and v >= 1, "an integer ≥ 1"),
    "fps": (lambda v: _is_number(v) and v > 0, "a number > 0"),
    "strength": (lambda v: _is_number(v) and 0 < v <= 1, "a number in (0, 1]"),
    "multiple_of": (lambda v: _is_int(v) and v >= 1, "an integer ≥ 1"),
    "negative_prompt": (lambda v: isinstance(v, str), "a string"),
    "interpolation": (lambda v: v in ("blend", "nearest"), "'blend' or 'nearest'"),
    "scheduler": (
        lambda v: (
            (isinstance(v, str) and bool(v))
            or (isinstance(v, dict) and isinstance(v.get("class"), str))
        ),
        "a scheduler class name or a mapping with 'class' and config overrides",
    ),
    "call": (lambda v: isinstance(v, dict), "a mapping of extra pipeline call arguments"),
    # text-generation (prompt writer) entries:
    "template": (
        lambda v: _is_template(v),
        "a string with a {line} placeholder (and optionally {style}; write {{ }} for braces)",
    ),
    "max_new_tokens": (lambda v: _is_int(v) and v >= 1, "an integer ≥ 1"),
    "temperature": (lambda v: _is_number(v) and v >= 0, "a number ≥ 0 (0: greedy)"),
    # text-to-speech entries: the voice a line gets when its request names none.
    "voice": (lambda v: isinstance(v, str) and bool(v.strip()), "a voice id (a non-empty string)"),
}


class UnknownPipelineError(KeyError):
    """A pipeline name that the catalogue does not list."""

    def __init__(self, name: str, known: list[str]):
        super().__init__(name)
        self.name = name
        self.known = known

    def __str__(self) -> str:
        return f"Unknown pipeline {self.name!r}; the catalogue has: {', '.join(self.known)}"


class CatalogueError(ValueError):
    """The catalogue file itself is malformed."""


class Catalogue:
    """Read-only view over a catalogue file."""

    def __init__(self, entries: Mapping[str, PipelineEntry], source: Path | None = None):
        self._entries = dict(entries)
        self.source = source

    @classmethod
    def load(cls, path: Path | str | None = None) -> Catalogue:
        source = Path(path) if path else DEFAULT_CATALOGUE
        try:
            raw = yaml.safe_load(source.read_text(encoding="utf-8")) or {}
        except FileNotFoundError as exc:
            raise CatalogueError(f"Pipeline catalogue not found: {source}") from exc
        except yaml.YAMLError as exc:
            raise CatalogueError(f"Pipeline catalogue {source} is not valid YAML: {exc}") from exc
        items = raw.get("pipelines") if isinstance(raw, dict) else None
        if not isinstance(items, dict) or not items:
            raise CatalogueError(f"{source}: expected a non-empty 'pipelines:' mapping")
        return cls({name: _entry(name, spec, source) for name, spec in items.items()}, source)

    def with_entries(self, extra: Mapping[str, PipelineEntry]) -> Catalogue:
        """A new catalogue with `extra` entries added (e.g. saved presets)."""
        return Catalogue({**self._entries, **extra}, self.source)

    def get(self, name: str) -> PipelineEntry:
        try:
            return self._entries[name]
        except KeyError:
            raise UnknownPipelineError(name, sorted(self._entries)) from None

    def for_task(self, task: str) -> list[PipelineEntry]:
        return [e for e in self._entries.values() if e.supports(task)]

    def names(self) -> list[str]:
        return sorted(self._entries)

    def __iter__(self) -> Iterator[PipelineEntry]:
        return iter(self._entries.values())

    def __contains__(self, name: object) -> bool:
        return name in self._entries


def _entry(name: str, spec: Any, source: Path) -> PipelineEntry:
    if not isinstance(spec, dict):
        raise CatalogueError(f"{source}: pipeline {name!r} must be a mapping")
    tasks = spec.get("tasks") or ([spec["task"]] if "task" in spec else [])
    unknown = [t for t in tasks if t not in TASKS]
    if not tasks or unknown:
        raise CatalogueError(f"{source}: pipeline {name!r} needs tasks from {', '.join(TASKS)}")
    if "implementation" not in spec:
        raise CatalogueError(f"{source}: pipeline {name!r} has no 'implementation'")
    where = f"{source}: pipeline {name!r}"
    return PipelineEntry(
        name=name,
        tasks=tuple(tasks),
        implementation=str(spec["implementation"]),
        model_id=str(spec.get("model_id", "")),
        revision=str(spec.get("revision", "")),
        cost_factor=_cost_factor(name, spec.get("cost_factor", 1.0), source),
        description=str(spec.get("description", "")),
        defaults=_defaults(spec.get("defaults"), where),
        dtype=_choice(spec.get("dtype", "auto"), DTYPES, "dtype", where),
        device=_device(spec.get("device", "auto"), where),
        memory=_memory(spec.get("memory"), where),
        loras=_loras(spec.get("loras"), where),
        pipeline_class=_pipeline_class(spec.get("pipeline_class"), tuple(tasks), where),
        variant=str(spec.get("variant") or ""),
        components=_components(spec.get("components"), where),
        ip_adapter=_ip_adapter(spec.get("ip_adapter"), spec, where),
    )


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _is_template(value: Any) -> bool:
    """A str.format template using {line} and at most {style}, nothing else."""
    if not isinstance(value, str):
        return False
    try:
        fields = [field for _, field, _, _ in string.Formatter().parse(value) if field is not None]
    except ValueError:  # an unmatched { or }
        return False
    return "line" in fields and set(fields) <= {"line", "style"}


def _mapping(value: Any, what: str, where: str) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise CatalogueError(f"{where}: '{what}' must be a mapping, not {value!r}")
    return dict(value)


def _defaults(value: Any, where: str) -> dict[str, Any]:
    defaults = _mapping(value, "defaults", where)
    for key, item in defaults.items():
        if key not in DEFAULT_KEYS:
            raise CatalogueError(
                f"{where}: unknown defaults key {key!r}; expected one of {', '.join(DEFAULT_KEYS)}"
            )
        check, expected = DEFAULT_KEYS[key]
        if not check(item):
            raise CatalogueError(f"{where}: defaults.{key} must be {expected}, not {item!r}")
    return defaults


def _choice(value: Any, choices: tuple[str, ...], what: str, where: str) -> str:
    if value not in choices:
        raise CatalogueError(f"{where}: {what} must be one of {', '.join(choices)}, not {value!r}")
    return str(value)


def _device(value: Any, where: str) -> str:
    if isinstance(value, str) and value.startswith("cuda:") and value[5:].isdigit():
        return value
    return _choice(value, DEVICES, "device", where)


def _memory(value: Any, where: str) -> dict[str, Any]:
    memory = _mapping(value, "memory", where)
    for key, item in memory.items():
        if key not in MEMORY_OPTIONS:
            raise CatalogueError(
                f"{where}: unknown memory option {key!r}; expected one of "
                f"{', '.join(MEMORY_OPTIONS)}"
            )
        valid = isinstance(item, bool) or (
            key == "attention_slicing" and (item in ("auto", "max") or _is_int(item))
        )
        if not valid:
            raise CatalogueError(f"{where}: memory.{key} must be true or false, not {item!r}")
    if memory.get("model_cpu_offload") and memory.get("sequential_cpu_offload"):
        raise CatalogueError(
            f"{where}: choose one of memory.model_cpu_offload and memory.sequential_cpu_offload"
        )
    return memory


def _loras(value: Any, where: str) -> tuple[LoraSpec, ...]:
    if value is None:
        return ()
    if not isinstance(value, list):
        raise CatalogueError(f"{where}: 'loras' must be a list, not {value!r}")
    loras = []
    for index, item in enumerate(value):
        spec = {"path": item} if isinstance(item, str) else item
        if not isinstance(spec, dict) or not isinstance(spec.get("path"), str) or not spec["path"]:
            raise CatalogueError(
                f"{where}: loras[{index}] needs a 'path' (a local file/folder or a hub id)"
            )
        unknown = set(spec) - {"path", "scale", "weight_name", "adapter_name"}
        if unknown:
            raise CatalogueError(f"{where}: loras[{index}] has unknown keys {sorted(unknown)}")
        scale = spec.get("scale", 1.0)
        if not _is_number(scale):
            raise CatalogueError(f"{where}: loras[{index}].scale must be a number, not {scale!r}")
        loras.append(
            LoraSpec(
                path=spec["path"],
                scale=float(scale),
                weight_name=str(spec.get("weight_name") or ""),
                adapter_name=str(spec.get("adapter_name") or f"lora{index}"),
            )
        )
    names = [lora.adapter_name for lora in loras]
    if len(set(names)) != len(names):
        raise CatalogueError(f"{where}: loras need distinct adapter_name values, got {names}")
    return tuple(loras)


def _pipeline_class(value: Any, tasks: tuple[str, ...], where: str) -> dict[str, str]:
    if value is None or value == "":
        return {}
    if isinstance(value, str):
        return dict.fromkeys(tasks, value)  # one class for every task the entry lists
    classes = _mapping(value, "pipeline_class", where)
    for task, cls in classes.items():
        if task not in tasks or not isinstance(cls, str) or not cls:
            raise CatalogueError(
                f"{where}: pipeline_class maps a listed task ({', '.join(tasks)}) to a "
                f"diffusers pipeline class name, not {task!r}: {cls!r}"
            )
    return classes


def _components(value: Any, where: str) -> dict[str, dict[str, Any]]:
    components = _mapping(value, "components", where)
    allowed = {"class", "model_id", "subfolder", "dtype", "variant", "revision"}
    for name, spec in components.items():
        if not isinstance(spec, dict) or not isinstance(spec.get("class"), str):
            raise CatalogueError(
                f"{where}: components.{name} needs a 'class' (e.g. MotionAdapter, AutoencoderKL)"
            )
        unknown = set(spec) - allowed
        if unknown:
            raise CatalogueError(f"{where}: components.{name} has unknown keys {sorted(unknown)}")
        if "dtype" in spec:
            _choice(spec["dtype"], DTYPES, f"components.{name}.dtype", where)
    return {name: dict(spec) for name, spec in components.items()}


# Implementations that cannot take an IP-Adapter (diffusers-image and your own can).
_NO_IP_ADAPTER = (
    "draft",
    "diffusers-video",
    "transformers-text",
    "clip-similarity",
    "espeak",
    "transformers-tts",
)
_IP_ADAPTER_KEYS = ("model_id", "subfolder", "weight_name", "image_encoder_folder", "revision")


def _ip_adapter(value: Any, spec: dict[str, Any], where: str) -> IpAdapterSpec | None:
    if value is None:
        return None
    if not isinstance(value, dict):
        raise CatalogueError(
            f"{where}: 'ip_adapter' must be a mapping with weight_name (and optionally model_id, "
            f"subfolder, image_encoder_folder, revision, scale), not {value!r}"
        )
    implementation = str(spec.get("implementation"))
    if implementation in _NO_IP_ADAPTER:
        raise CatalogueError(
            f"{where}: ip_adapter needs a diffusers-image entry; implementation "
            f"{implementation!r} cannot use one"
        )
    unknown = set(value) - {*_IP_ADAPTER_KEYS, "scale"}
    if unknown:
        raise CatalogueError(
            f"{where}: ip_adapter has unknown keys {sorted(unknown)}; expected "
            f"{', '.join(_IP_ADAPTER_KEYS)}, scale"
        )
    for key in _IP_ADAPTER_KEYS:
        if key in value and not isinstance(value[key], str):
            raise CatalogueError(f"{where}: ip_adapter.{key} must be a string, not {value[key]!r}")
    if not value.get("weight_name"):
        raise CatalogueError(
            f"{where}: ip_adapter needs a 'weight_name' (the adapter file, e.g. "
            "ip-adapter_sd15.safetensors)"
        )
    model_id = value.get("model_id") or str(spec.get("model_id") or "")
    if not model_id:
        raise CatalogueError(f"{where}: ip_adapter needs a 'model_id' (a hub id or a folder)")
    scale = value.get("scale", IpAdapterSpec.scale)
    if not (_is_number(scale) and scale >= 0):
        raise CatalogueError(f"{where}: ip_adapter.scale must be a number ≥ 0, not {scale!r}")
    if value.get("image_encoder_folder") == "":
        raise CatalogueError(
            f"{where}: ip_adapter.image_encoder_folder must name a folder (default image_encoder)"
        )
    return IpAdapterSpec(
        weight_name=value["weight_name"],
        model_id=model_id,
        subfolder=value.get("subfolder", ""),
        image_encoder_folder=value.get("image_encoder_folder", IpAdapterSpec.image_encoder_folder),
        revision=value.get("revision", ""),
        scale=float(scale),
    )


def _implementation(entry: PipelineEntry) -> Any:
    # Imported here, not at the top: the diffusers modules pull torch in only when they load,
    # and the implementations import `pipelines.entries`, never this module, so these imports
    # close no cycle.
    if entry.implementation == "draft":
        from pipelines.draft import DraftPipeline

        return DraftPipeline
    if entry.implementation == "diffusers-image":
        from pipelines.diffusers_image import DiffusersImagePipeline

        return DiffusersImagePipeline
    if entry.implementation == "diffusers-video":
        from pipelines.diffusers_video import DiffusersVideoPipeline

        return DiffusersVideoPipeline
    if entry.implementation == "transformers-text":
        from pipelines.prompt_writer import PromptWriter

        return PromptWriter
    if entry.implementation == "clip-similarity":
        from pipelines.similarity import ClipSimilarity

        return ClipSimilarity
    if entry.implementation == "espeak":
        from pipelines.speech_espeak import EspeakSpeech

        return EspeakSpeech
    if entry.implementation == "transformers-tts":
        from pipelines.speech_transformers import TransformersSpeech

        return TransformersSpeech
    if ":" in entry.implementation:
        return _imported(entry)
    raise CatalogueError(
        f"Pipeline {entry.name!r} uses implementation {entry.implementation!r}, "
        "which this version of the studio does not provide"
    )


def _imported(entry: PipelineEntry) -> Any:
    """A custom implementation named `package.module:Class` (plugins, tests)."""
    module_name, _, attribute = entry.implementation.partition(":")
    try:
        return getattr(importlib.import_module(module_name), attribute)
    except (ImportError, AttributeError) as exc:
        raise CatalogueError(
            f"Pipeline {entry.name!r}: cannot import implementation {entry.implementation!r} "
            f"({exc})"
        ) from exc


def _cost_factor(name: str, value: Any, source: Path) -> float:
    try:
        factor = float(value)
    except (TypeError, ValueError):
        factor = -1.0
    if not factor >= 0 or factor == float("inf"):
        raise CatalogueError(f"{source}: pipeline {name!r} needs a cost_factor ≥ 0, not {value!r}")
    return factor


def load_pipeline(entry: PipelineEntry) -> Any:
    """Instantiate the implementation an entry names, loaded and ready to render (lazily: heavy
    imports happen here). Model-backed implementations raise `pipelines.errors.PipelineError`
    subclasses (`WeightsUnavailableError`, `OutOfMemoryError`) when they cannot load."""
    implementation = _implementation(entry)
    from_entry = getattr(implementation, "from_entry", None)
    if from_entry is not None:
        return from_entry(entry)
    return implementation()


def effective_revision(entry: PipelineEntry) -> str:
    """The entry's pinned revision, else the implementation's own (so a redrawn `draft` or an
    updated implementation invalidates cached renders); for model-backed implementations the
    model's revision as found on disk (hub snapshot commit or a local folder's fingerprint).
    Never imports torch."""
    if entry.revision:
        return entry.revision
    implementation = _implementation(entry)
    revision_for = getattr(implementation, "revision_for", None)
    if revision_for is not None:
        return str(revision_for(entry))
    return str(getattr(implementation, "revision", ""))
