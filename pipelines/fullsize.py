"""Full-size random-weight pipelines: the real architectures, built from shipped configs.

Why: speed and memory are only measured honestly at the real size — a tiny model
(`pipelines.tiny`) says nothing about a 2.6-billion-parameter UNet's step time, its peak
GPU memory or what CPU offload costs — but a GPU machine lent for a benchmark has no
internet and no time for 15 GB of downloads. So `pipelines/fullsize/*.json` ship the
components' configs as the Hub repositories have them (`model_index.json`, each
`config.json` / `scheduler_config.json` / `preprocessor_config.json`; each file names the
repository it mirrors in its `mirrors` field, see pipelines/fullsize/README.md), and
`make_fullsize` instantiates them with seeded random weights at full size and saves a real
diffusers folder, so the studio's own loading path (`from_pretrained`, dtype, variant,
offload) is what a GPU check measures. The pictures are noise (or NaN in float16); the
arithmetic, the memory and the data movement are the real models'.

    from pipelines.fullsize import make_fullsize
    folder = make_fullsize("sdxl", Path("/tmp/fullsize/sdxl"), "float16", device="cuda")

Made: `sd-turbo` (SD 2.1 architecture at 512 px), `sdxl` (SDXL base 1.0), `svd` (Stable
Video Diffusion img2vid-xt: image-to-video) and `animatediff` (SD 1.5 plus the AnimateDiff
v1-5-2 motion adapter in `motion_adapter/`: text-to-video).

Cost: meant for a GPU machine. In float16 the folders take about 2.6 GB (sd-turbo),
6.9 GB (sdxl), 4.5 GB (svd) and 3.0 GB (animatediff) on disk; building one holds its
largest model in float32 while it is made (about 10 GB for SDXL's UNet), on `device`:
pass device="cuda" to initialise on the GPU in seconds rather than minutes on the CPU.
`parameter_counts` builds the models on torch's meta device instead: no memory, no disk.
`shrink=True` builds the same pipelines with every width and depth cut down (a few MB),
to try the whole path on a CPU (benchmarks/gpu_check.py --dry-run).

torch, diffusers and transformers are imported inside functions (through
`diffusers_base.import_library`), so importing this module stays cheap.
"""

from __future__ import annotations

import copy
import hashlib
import json
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from pipelines.diffusers_base import import_library
from pipelines.tiny import byte_characters

__all__ = [
    "CONFIG_DIR",
    "FULLSIZE_NAMES",
    "build_model",
    "make_fullsize",
    "model_components",
    "parameter_counts",
    "spec",
    "write_full_clip_tokenizer",
]

CONFIG_DIR = Path(__file__).resolve().parent / "fullsize"
FULLSIZE_NAMES = ("sd-turbo", "sdxl", "svd", "animatediff")
MARKER = "fullsize.json"  # written last: a folder with it is complete
CLIP_VOCAB = 49408  # the CLIP BPE vocabulary every text encoder here embeds
CLIP_CONTEXT = 77

# What `shrink=True` makes of each model class: same blocks and wiring, tiny widths.
_TINY_CHANNELS = 32  # GroupNorm's 32 groups need at least this many channels
_TINY_TEXT = 32  # hidden size of each text encoder, and of the image encoder's projection
_TINY_TIME = 8  # addition_time_embed_dim


def spec(name: str, *, shrink: bool = False) -> dict[str, Any]:
    """The shipped configs of pipeline `name` (`pipelines/fullsize/<name>.json`): `mirrors`,
    `model_index`, `components` (name → config) and, for animatediff, `separate` (models
    saved in their own subfolder, outside model_index). With `shrink`, cut down in width and
    depth (see `make_fullsize`)."""
    path = CONFIG_DIR / f"{name}.json"
    if name not in FULLSIZE_NAMES or not path.is_file():
        raise ValueError(f"no full-size config {name!r}; there are {', '.join(FULLSIZE_NAMES)}")
    loaded: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return _shrunk(loaded) if shrink else loaded


def model_components(pipeline_spec: dict[str, Any]) -> dict[str, tuple[str, str, dict[str, Any]]]:
    """The models (weights, not schedulers, tokenizers or image processors) of a spec:
    name → (library, class name, config). Separate models come last, under their own name."""
    index = pipeline_spec["model_index"]
    models: dict[str, tuple[str, str, dict[str, Any]]] = {}
    for name, config in pipeline_spec["components"].items():
        library, class_name = index[name]
        if _kind(class_name) == "model":
            models[name] = (library, class_name, config)
    for name, separate in pipeline_spec.get("separate", {}).items():
        models[name] = ("diffusers", separate["config"]["_class_name"], separate["config"])
    return models


def build_model(library: str, class_name: str, config: dict[str, Any]) -> Any:
    """One model with fresh (random) weights, on torch's current default device — wrap the
    call in `with torch.device("meta"):` to allocate nothing."""
    module = import_library(library)
    cls = getattr(module, class_name)
    if library == "diffusers":
        return cls.from_config(config)
    return cls(cls.config_class.from_dict(config))


def parameter_counts(name: str, *, shrink: bool = False) -> dict[str, int]:
    """Parameters of each model of pipeline `name`, built on the meta device: no memory is
    allocated and nothing is written. Shared (tied) parameters count once."""
    torch = import_library("torch")
    counts = {}
    for component, (library, class_name, config) in model_components(
        spec(name, shrink=shrink)
    ).items():
        with torch.device("meta"):
            model = build_model(library, class_name, config)
        counts[component] = sum(p.numel() for p in model.parameters())
        del model
    return counts


def make_fullsize(
    name: str,
    folder: Path,
    dtype: str = "float16",
    *,
    device: str = "cpu",
    variant: str | None = None,
    shrink: bool = False,
    seed: int = 0,
) -> Path:
    """Build pipeline `name` with seeded random weights and save it as a diffusers folder at
    `folder` (returned), loadable by `DiffusionPipeline.from_pretrained(folder)` and by a
    catalogue entry whose model_id is the folder.

    `dtype`: the weights' torch dtype on disk ("float16", "bfloat16", "float32"); `variant`:
    a weight-file variant ("fp16": `*.fp16.safetensors`, as the Hub repositories have them and
    the shipped catalogue entries ask for; models in `separate` subfolders are saved without
    it, as guoyww's adapter repos have a plain file too); `device`: where the weights are
    initialised ("cuda" is far faster at full size); `shrink`: a tiny version of the same
    architecture, for trying the path on a CPU. A folder already built with the same settings
    is reused as it is; one built with others is rebuilt; any other non-empty folder is left
    alone (FileExistsError)."""
    torch = import_library("torch")
    folder = Path(folder).expanduser().resolve()
    pipeline_spec = spec(name, shrink=shrink)
    fingerprint = {
        "name": name,
        "mirrors": pipeline_spec["mirrors"],
        "dtype": dtype,
        "variant": variant,
        "shrink": shrink,
        "seed": seed,
        "spec_sha256": hashlib.sha256(
            json.dumps(pipeline_spec, sort_keys=True).encode("utf-8")
        ).hexdigest(),
    }
    marker = folder / MARKER
    if marker.is_file() and json.loads(marker.read_text(encoding="utf-8")) == fingerprint:
        return folder
    if folder.exists() and not marker.is_file() and any(folder.iterdir()):
        # Replaced only when this function made it: never someone's own folder.
        raise FileExistsError(f"{folder} exists and was not made by make_fullsize")
    partial = folder.with_name(folder.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    torch_dtype = getattr(torch, dtype)
    devices = [torch.device(device).index or 0] if device.startswith("cuda") else []
    with torch.random.fork_rng(devices=devices):  # seeded without disturbing the caller's RNG
        index = pipeline_spec["model_index"]
        for number, (component, config) in enumerate(pipeline_spec["components"].items()):
            library, class_name = index[component]
            kind = _kind(class_name)
            target = partial / component
            if kind == "scheduler":
                getattr(import_library(library), class_name).from_config(config)  # it loads
                _write_json(target / "scheduler_config.json", config)
            elif kind == "processor":
                _write_json(target / "preprocessor_config.json", config)
            else:
                _save_model(
                    library, class_name, config, target, torch_dtype, device, seed + number, variant
                )
        for component in _tokenizer_names(index):
            write_full_clip_tokenizer(partial / component, _text_vocab(pipeline_spec))
        offset = len(pipeline_spec["components"])
        for number, (component, separate) in enumerate(pipeline_spec.get("separate", {}).items()):
            config = separate["config"]
            _save_model(
                "diffusers",
                config["_class_name"],
                config,
                partial / component,
                torch_dtype,
                device,
                seed + offset + number,
                None,
            )
    _write_json(partial / "model_index.json", index)
    _write_json(partial / MARKER, fingerprint)
    shutil.rmtree(folder, ignore_errors=True)
    partial.rename(folder)
    return folder


def write_full_clip_tokenizer(folder: Path, vocab_size: int = CLIP_VOCAB) -> Any:
    """A CLIP tokenizer of exactly `vocab_size` tokens, saved to `folder` and returned.

    Like `pipelines.tiny.write_clip_tokenizer` (single bytes, no merges: what it makes of a
    prompt does not matter for speed), padded with unused tokens up to the real vocabulary so
    its size matches the text encoders' embeddings, with <|startoftext|> and <|endoftext|>
    last (ids 49406 and 49407, as in the real one)."""
    transformers = import_library("transformers")
    characters = byte_characters()
    vocab = {c: i for i, c in enumerate(characters)}
    vocab.update({f"{c}</w>": len(characters) + i for i, c in enumerate(characters)})
    if vocab_size < len(vocab) + 2:
        raise ValueError(f"a CLIP tokenizer needs at least {len(vocab) + 2} tokens")
    for number in range(vocab_size - 2 - len(vocab)):
        vocab[f"<|unused{number}|>"] = len(vocab)
    vocab["<|startoftext|>"] = len(vocab)
    vocab["<|endoftext|>"] = len(vocab)
    with tempfile.TemporaryDirectory(prefix="clip-tokenizer-") as tmp:
        (Path(tmp) / "vocab.json").write_text(json.dumps(vocab), encoding="utf-8")
        (Path(tmp) / "merges.txt").write_text("#version: 0.2\n", encoding="utf-8")
        tokenizer = transformers.CLIPTokenizer.from_pretrained(tmp, model_max_length=CLIP_CONTEXT)
    if len(tokenizer) != vocab_size:
        raise RuntimeError(f"CLIP tokenizer has {len(tokenizer)} tokens, not {vocab_size}")
    tokenizer.save_pretrained(str(folder))
    return tokenizer


# -- building ------------------------------------------------------------------------------


def _kind(class_name: str) -> str:
    if class_name.endswith("Scheduler"):
        return "scheduler"
    if class_name.endswith(("ImageProcessor", "FeatureExtractor")):
        return "processor"
    if "Tokenizer" in class_name:
        return "tokenizer"
    return "model"


def _tokenizer_names(index: dict[str, Any]) -> Iterator[str]:
    for component, value in index.items():
        if isinstance(value, list) and value[1] and _kind(value[1]) == "tokenizer":
            yield component


def _text_vocab(pipeline_spec: dict[str, Any]) -> int:
    sizes = {
        config["vocab_size"]
        for library, _cls, config in model_components(pipeline_spec).values()
        if library == "transformers" and "vocab_size" in config
    }
    if len(sizes) != 1:
        raise ValueError(f"{pipeline_spec['mirrors']}: text encoders disagree on vocab {sizes}")
    return int(sizes.pop())


def _save_model(
    library: str,
    class_name: str,
    config: dict[str, Any],
    target: Path,
    dtype: Any,
    device: str,
    seed: int,
    variant: str | None,
) -> None:
    torch = import_library("torch")
    torch.manual_seed(seed)  # every device's generator, CUDA included
    with torch.device(device):
        model = build_model(library, class_name, config)
    logging = import_library("diffusers").utils.logging
    verbosity = logging.get_verbosity()
    logging.set_verbosity_error()  # "modules that should be kept in float32: []" on each cast
    try:
        model = model.to(dtype=dtype).eval()
    finally:
        logging.set_verbosity(verbosity)
    model.save_pretrained(str(target), variant=variant)
    del model
    if device.startswith("cuda"):
        torch.cuda.empty_cache()


def _write_json(path: Path, data: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")


# -- shrinking (dry runs on a CPU) ---------------------------------------------------------


CLIP_ENCODERS = ("CLIPTextModel", "CLIPTextModelWithProjection", "CLIPVisionModelWithProjection")


def _shrunk(pipeline_spec: dict[str, Any]) -> dict[str, Any]:
    """The same pipeline with tiny widths and depths: every block type, the wiring between
    components (cross-attention width = text width, latent channels, added time ids) and the
    VAE's 8× scale kept, so the same calls run on the same code paths in seconds."""
    shrunk = copy.deepcopy(pipeline_spec)
    index = shrunk["model_index"]
    components = shrunk["components"]
    text_encoders = 0
    for name, config in components.items():
        class_name = index[name][1]
        if class_name in CLIP_ENCODERS:
            text_encoders += class_name != "CLIPVisionModelWithProjection"
            config.update(
                hidden_size=_TINY_TEXT,
                intermediate_size=2 * _TINY_TEXT,
                num_attention_heads=4,
                num_hidden_layers=2,
                projection_dim=_TINY_TEXT,
            )
        elif class_name in ("AutoencoderKL", "AutoencoderKLTemporalDecoder"):
            blocks = len(config["block_out_channels"])  # kept: the VAE's 2^(n-1) scale
            config.update(block_out_channels=[_TINY_CHANNELS] * blocks, layers_per_block=1)
    for name, config in components.items():
        class_name = index[name][1]
        if class_name == "UNet2DConditionModel":
            _shrink_unet(config, cross_attention_dim=_TINY_TEXT * max(1, text_encoders))
        elif class_name == "UNetSpatioTemporalConditionModel":
            _shrink_unet(config, cross_attention_dim=_TINY_TEXT)
            config["num_attention_heads"] = [2] * len(config["block_out_channels"])
            config["projection_class_embeddings_input_dim"] = 3 * _TINY_TIME  # fps, motion, aug
    for separate in shrunk.get("separate", {}).values():
        config = separate["config"]
        if config["_class_name"] == "MotionAdapter":
            unet = components["unet"]
            config.update(
                block_out_channels=list(unet["block_out_channels"]),
                motion_layers_per_block=unet["layers_per_block"],
                motion_num_attention_heads=2,
            )
    return shrunk


def _shrink_unet(config: dict[str, Any], *, cross_attention_dim: int) -> None:
    blocks = len(config["block_out_channels"])
    config["block_out_channels"] = [_TINY_CHANNELS * (1 + min(i, 1)) for i in range(blocks)]
    config["layers_per_block"] = 1
    config["cross_attention_dim"] = cross_attention_dim
    if "attention_head_dim" in config:  # diffusers reads it as the number of heads
        head = config["attention_head_dim"]
        config["attention_head_dim"] = [2] * blocks if isinstance(head, list) else 2
    layers = config.get("transformer_layers_per_block")
    if isinstance(layers, list):
        config["transformer_layers_per_block"] = [min(n, 2) for n in layers]
    if config.get("addition_embed_type") == "text_time":  # SDXL: 6 time ids + pooled text
        config["addition_time_embed_dim"] = _TINY_TIME
        config["projection_class_embeddings_input_dim"] = 6 * _TINY_TIME + _TINY_TEXT
    elif "addition_time_embed_dim" in config and config.get("addition_time_embed_dim"):
        config["addition_time_embed_dim"] = _TINY_TIME
