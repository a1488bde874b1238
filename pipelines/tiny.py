"""Tiny random-weight diffusers pipelines, saved as real diffusers folders, plus a catalogue.

For tests, CI and trying the studio's model path on a laptop with no weights and no network:
the folders load through the same `from_pretrained` path as real models (so loading, devices,
schedulers, LoRAs, batching and cancellation are exercised end to end); the pictures are
noise. Every component is built from a config with a fixed seed, so two builds are equal.

    from pipelines.tiny import make_tiny
    catalogue = Catalogue.load(make_tiny(Path("data/tiny")))

Made: `tiny-sd` (text-to-image, StableDiffusionPipeline), `tiny-sd-lora` (the same with a
random LoRA on its UNet; needs peft), `tiny-animatediff` (text-to-video with AnimateDiff; its
image-to-video is AnimateDiff video-to-video on the still image, i.e. SDEdit) and `tiny-svd`
(image-to-video, StableVideoDiffusionPipeline: the real image-conditioned architecture) and
`tiny-ltx` (LTX-Video, a DiT with a T5 text encoder: text-to-video and image-to-video, the
shape of the `ltx-video` catalogue entry), and `tiny-prompt-writer` (text-generation: a tiny
random GPT-2 in `tiny-gpt2` for `pipelines.prompt_writer`; its text is gibberish).

References: `tiny-sd-reference` is tiny-sd with a random IP-Adapter (`tiny-ip-adapter`, laid
out like h94/IP-Adapter: `models/ip-adapter_tiny.safetensors` and its CLIP image encoder in
`models/image_encoder`), and `tiny-clip` (image-similarity, `pipelines.similarity`) a tiny
random CLIP model laid out like openai/clip-vit-base-patch32; both are built by
`pipelines.tiny_clip`. `tiny-tts` (text-to-speech) is a tiny random VITS voice built by
`pipelines.tiny_tts`; it speaks noise.
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from typing import Any

import yaml

from pipelines.catalogue import DEFAULT_CATALOGUE
from pipelines.diffusers_base import import_library
from pipelines.tiny_clip import IP_ADAPTER_FILE, save_clip, save_ip_adapter
from pipelines.tiny_tts import save_tiny_tts, tiny_tts_entry

__all__ = [
    "TINY_NAMES",
    "byte_characters",
    "make_tiny",
    "write_clip_tokenizer",
    "write_gpt2_tokenizer",
]

TINY_NAMES = (
    "tiny-sd",
    "tiny-sd-lora",
    "tiny-sd-reference",
    "tiny-animatediff",
    "tiny-svd",
    "tiny-ltx",
    "tiny-prompt-writer",
    "tiny-clip",
    "tiny-tts",
)
LORA_FILE = "pytorch_lora_weights.safetensors"
_SD_SCHEDULER = {"beta_start": 0.00085, "beta_end": 0.012, "steps_offset": 1}


def make_tiny(directory: Path) -> Path:
    """Build the tiny pipelines under `directory` and return its `pipelines.yaml` (which also
    lists `draft` and `espeak`, so a studio pointed at it works as usual). Takes a second or
    two after the ~10 s import of torch/diffusers; about 20 MB on disk."""
    directory = Path(directory).expanduser().resolve()
    directory.mkdir(parents=True, exist_ok=True)
    torch = import_library("torch")
    with torch.random.fork_rng(devices=[]):  # fixed seeds without disturbing the caller's RNG
        tokenizer = write_clip_tokenizer(directory / "_tokenizer")
        _save(_sd(tokenizer), directory / "tiny-sd")
        lora = _sd_lora(directory / "tiny-sd-lora", tokenizer)
        save_ip_adapter(directory / "tiny-ip-adapter", _sd_models(tokenizer)["unet"])
        _save(_animatediff(tokenizer), directory / "tiny-animatediff")
        _save(_svd(), directory / "tiny-svd")
        _save(_ltx(), directory / "tiny-ltx")
        _save_gpt2(directory / "_gpt2_tokenizer", directory / "tiny-gpt2")
        save_clip(directory / "tiny-clip", len(tokenizer))
        save_tiny_tts(directory / "tiny-tts")
    catalogue = directory / "pipelines.yaml"
    entries = _entries(directory, lora)
    catalogue.write_text(
        "# Tiny random-weight pipelines made by pipelines.tiny.make_tiny: for tests and trying\n"
        "# the diffusers path without real weights. Their output is noise.\n"
        + yaml.safe_dump({"pipelines": entries}, sort_keys=False),
        encoding="utf-8",
    )
    return catalogue


def write_clip_tokenizer(folder: Path) -> Any:
    """A CLIP tokenizer over single bytes (no merges), saved to and loaded from `folder`.

    transformers 5 ignores vocab/merges files passed to CLIPTokenizer(...) directly, so the
    files are written and read back with from_pretrained, the way a real one loads."""
    transformers = import_library("transformers")
    folder.mkdir(parents=True, exist_ok=True)
    characters = byte_characters()
    vocab = {c: i for i, c in enumerate(characters)}
    vocab.update({f"{c}</w>": len(characters) + i for i, c in enumerate(characters)})
    vocab["<|startoftext|>"] = len(vocab)
    vocab["<|endoftext|>"] = len(vocab)
    (folder / "vocab.json").write_text(json.dumps(vocab), encoding="utf-8")
    (folder / "merges.txt").write_text("#version: 0.2\n", encoding="utf-8")
    tokenizer = transformers.CLIPTokenizer.from_pretrained(str(folder), model_max_length=77)
    if len(tokenizer) != len(vocab):
        raise RuntimeError(f"tiny CLIP tokenizer has {len(tokenizer)} tokens, not {len(vocab)}")
    return tokenizer


def write_gpt2_tokenizer(folder: Path, model_max_length: int = 1024) -> Any:
    """A GPT-2 (byte-level BPE) tokenizer over single bytes (no merges) plus <|endoftext|>,
    saved to and loaded from `folder` (257 tokens).

    As with CLIP, transformers 5 ignores vocab/merges files passed to the constructor (a
    1-token vocab), so they are written and read back with from_pretrained."""
    transformers = import_library("transformers")
    folder.mkdir(parents=True, exist_ok=True)
    vocab = {c: i for i, c in enumerate(byte_characters())}
    vocab["<|endoftext|>"] = len(vocab)
    (folder / "vocab.json").write_text(json.dumps(vocab), encoding="utf-8")
    (folder / "merges.txt").write_text("#version: 0.2\n", encoding="utf-8")
    tokenizer = transformers.GPT2TokenizerFast.from_pretrained(
        str(folder), model_max_length=model_max_length
    )
    if len(tokenizer) != len(vocab):
        raise RuntimeError(f"tiny GPT-2 tokenizer has {len(tokenizer)} tokens, not {len(vocab)}")
    return tokenizer


def byte_characters() -> list[str]:
    """GPT-2/CLIP's byte → printable character table (256 entries)."""
    printable = [*range(ord("!"), ord("~") + 1), *range(0xA1, 0xAD), *range(0xAE, 0x100)]
    codes, extra = list(printable), 0
    for byte in range(256):
        if byte not in printable:
            codes.append(256 + extra)
            extra += 1
    return [chr(code) for code in codes]


def _seeded(seed: int = 0) -> None:
    import_library("torch").manual_seed(seed)


def _sd_models(tokenizer: Any) -> dict[str, Any]:
    diffusers, transformers = import_library("diffusers"), import_library("transformers")
    _seeded()
    unet = diffusers.UNet2DConditionModel(
        block_out_channels=(32, 64),
        layers_per_block=1,
        sample_size=32,
        in_channels=4,
        out_channels=4,
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
        up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
        cross_attention_dim=32,
        norm_num_groups=2,
    )
    _seeded()
    vae = diffusers.AutoencoderKL(
        block_out_channels=[4, 8],
        in_channels=3,
        out_channels=3,
        down_block_types=["DownEncoderBlock2D"] * 2,
        up_block_types=["UpDecoderBlock2D"] * 2,
        latent_channels=4,
        norm_num_groups=2,
    )
    _seeded()
    text_encoder = transformers.CLIPTextModel(
        transformers.CLIPTextConfig(
            bos_token_id=len(tokenizer) - 2,
            eos_token_id=len(tokenizer) - 1,
            pad_token_id=len(tokenizer) - 1,
            hidden_size=32,
            intermediate_size=37,
            num_attention_heads=4,
            num_hidden_layers=2,
            vocab_size=len(tokenizer),
            max_position_embeddings=77,
        )
    )
    # Built in train mode: dropout would make seeded output irreproducible.
    return {
        "unet": unet.eval(),
        "vae": vae.eval(),
        "text_encoder": text_encoder.eval(),
        "tokenizer": tokenizer,
    }


def _sd(tokenizer: Any) -> Any:
    diffusers = import_library("diffusers")
    return diffusers.StableDiffusionPipeline(
        **_sd_models(tokenizer),
        scheduler=diffusers.EulerDiscreteScheduler(beta_schedule="scaled_linear", **_SD_SCHEDULER),
        safety_checker=None,
        feature_extractor=None,
        requires_safety_checker=False,
    )


def _sd_lora(folder: Path, tokenizer: Any) -> Path | None:
    """A random rank-4 LoRA on the tiny UNet's attention, in diffusers' LoRA file format."""
    if importlib.util.find_spec("peft") is None:
        return None
    diffusers = import_library("diffusers")
    peft, peft_utils = import_library("peft"), import_library("peft.utils")
    unet = _sd_models(tokenizer)["unet"]
    _seeded(1)
    unet.add_adapter(
        peft.LoraConfig(
            r=4,
            lora_alpha=4,
            target_modules=["to_q", "to_k", "to_v", "to_out.0"],
            init_lora_weights=False,  # random, not the no-op init: the LoRA must change pixels
        )
    )
    diffusers.StableDiffusionPipeline.save_lora_weights(
        str(folder),
        unet_lora_layers=peft_utils.get_peft_model_state_dict(unet),
        weight_name=LORA_FILE,
    )
    return folder


def _animatediff(tokenizer: Any) -> Any:
    diffusers = import_library("diffusers")
    models = _sd_models(tokenizer)
    _seeded()
    adapter = diffusers.MotionAdapter(
        block_out_channels=(32, 64),
        motion_layers_per_block=1,
        motion_norm_num_groups=2,
        motion_num_attention_heads=2,
        motion_max_seq_length=32,
    )
    return diffusers.AnimateDiffPipeline(
        **models,
        motion_adapter=adapter.eval(),
        scheduler=diffusers.DDIMScheduler(
            beta_schedule="linear", clip_sample=False, **_SD_SCHEDULER
        ),
        feature_extractor=None,
        image_encoder=None,
    )


def _svd() -> Any:
    diffusers, transformers = import_library("diffusers"), import_library("transformers")
    _seeded()
    unet = diffusers.UNetSpatioTemporalConditionModel(
        block_out_channels=(32, 64),
        layers_per_block=1,
        sample_size=32,
        in_channels=8,
        out_channels=4,
        down_block_types=("CrossAttnDownBlockSpatioTemporal", "DownBlockSpatioTemporal"),
        up_block_types=("UpBlockSpatioTemporal", "CrossAttnUpBlockSpatioTemporal"),
        cross_attention_dim=32,
        num_attention_heads=2,
        projection_class_embeddings_input_dim=96,  # 3 added time ids × addition_time_embed_dim
        addition_time_embed_dim=32,
    )
    _seeded()
    vae = diffusers.AutoencoderKLTemporalDecoder(
        block_out_channels=[32, 32],  # its GroupNorm has 32 groups: channels ≥ 32
        in_channels=3,
        out_channels=3,
        down_block_types=["DownEncoderBlock2D"] * 2,
        latent_channels=4,
        layers_per_block=1,
    )
    _seeded()
    # SVD resizes the conditioning image to 224² before encoding: the encoder must take that.
    image_encoder = transformers.CLIPVisionModelWithProjection(
        transformers.CLIPVisionConfig(
            hidden_size=32,
            projection_dim=32,
            num_hidden_layers=2,
            num_attention_heads=4,
            image_size=224,
            patch_size=32,
            intermediate_size=37,
        )
    )
    scheduler = diffusers.EulerDiscreteScheduler(
        beta_schedule="scaled_linear",
        interpolation_type="linear",
        prediction_type="v_prediction",
        sigma_max=700.0,
        sigma_min=0.002,
        timestep_spacing="leading",
        timestep_type="continuous",
        use_karras_sigmas=True,
        **_SD_SCHEDULER,
    )
    return diffusers.StableVideoDiffusionPipeline(
        vae=vae.eval(),
        image_encoder=image_encoder.eval(),
        unet=unet.eval(),
        scheduler=scheduler,
        feature_extractor=transformers.CLIPImageProcessor(crop_size=32, size=32),
    )


def _ltx() -> Any:
    diffusers, transformers = import_library("diffusers"), import_library("transformers")
    # A T5 (Unigram) tokenizer over single characters, built in memory: no sentencepiece.
    characters = "▁abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.,;:!?'\"-()"
    pieces = [("<pad>", 0.0), ("</s>", 0.0), ("<unk>", 0.0)]
    pieces += [(c, -float(i)) for i, c in enumerate(characters)]
    tokenizer = transformers.T5Tokenizer(vocab=pieces, extra_ids=0)
    _seeded()
    text_encoder = transformers.T5EncoderModel(
        transformers.T5Config(
            vocab_size=len(tokenizer),
            d_model=32,
            d_kv=8,
            d_ff=37,
            num_layers=1,
            num_heads=4,
            pad_token_id=0,
            eos_token_id=1,
            decoder_start_token_id=0,
        )
    )
    _seeded()
    transformer = diffusers.LTXVideoTransformer3DModel(
        in_channels=8,
        out_channels=8,
        patch_size=1,
        patch_size_t=1,
        num_attention_heads=4,
        attention_head_dim=8,
        cross_attention_dim=32,
        num_layers=1,
        caption_channels=32,  # = the text encoder's d_model
    )
    _seeded()
    vae = diffusers.AutoencoderKLLTXVideo(
        in_channels=3,
        out_channels=3,
        latent_channels=8,
        block_out_channels=(8, 8, 8, 8),
        decoder_block_out_channels=(8, 8, 8, 8),
        layers_per_block=(1, 1, 1, 1, 1),
        decoder_layers_per_block=(1, 1, 1, 1, 1),
        spatio_temporal_scaling=(True, True, False, False),
        decoder_spatio_temporal_scaling=(True, True, False, False),
        decoder_inject_noise=(False,) * 5,
        upsample_residual=(False,) * 4,
        upsample_factor=(1,) * 4,
        timestep_conditioning=False,
        patch_size=1,
        patch_size_t=1,
        encoder_causal=True,
        decoder_causal=False,
    )
    return diffusers.LTXPipeline(
        transformer=transformer.eval(),
        vae=vae.eval(),
        scheduler=diffusers.FlowMatchEulerDiscreteScheduler(),
        text_encoder=text_encoder.eval(),
        tokenizer=tokenizer,
    )


def _save(pipeline: Any, folder: Path) -> None:
    pipeline.save_pretrained(str(folder))


def _save_gpt2(tokenizer_folder: Path, folder: Path) -> None:
    """A tiny random GPT2LMHeadModel and its tokenizer in one folder, as a hub repo has them
    (AutoTokenizer needs the tokenizer_config.json that save_pretrained writes)."""
    transformers = import_library("transformers")
    context = 1024  # the default instruction alone is ~300 byte tokens
    tokenizer = write_gpt2_tokenizer(tokenizer_folder, model_max_length=context)
    eos = tokenizer.eos_token_id
    _seeded()
    model = transformers.GPT2LMHeadModel(
        transformers.GPT2Config(
            vocab_size=len(tokenizer),
            n_positions=context,
            n_embd=32,
            n_layer=2,
            n_head=2,
            bos_token_id=eos,
            eos_token_id=eos,
        )
    )
    model.eval().save_pretrained(str(folder))
    tokenizer.save_pretrained(str(folder))


def _entries(directory: Path, lora: Path | None) -> dict[str, Any]:
    shipped = yaml.safe_load(DEFAULT_CATALOGUE.read_text(encoding="utf-8"))["pipelines"]
    draft = shipped["draft"]
    sd_defaults = {"steps": 2, "guidance": 5.0, "width": 64, "height": 64}
    entries: dict[str, Any] = {
        "draft": draft,
        "tiny-sd": {
            "tasks": ["text-to-image"],
            "implementation": "diffusers-image",
            "model_id": str(directory / "tiny-sd"),
            "description": "Tiny random Stable Diffusion (noise): tests and smoke runs.",
            "cost_factor": 0.0,
            "defaults": sd_defaults,
        },
    }
    if lora is not None:
        entries["tiny-sd-lora"] = {
            **json.loads(json.dumps(entries["tiny-sd"])),  # a copy: no YAML anchors
            "description": "tiny-sd with a random LoRA on its UNet.",
            "loras": [{"path": str(lora), "weight_name": LORA_FILE, "scale": 1.0}],
        }
    entries["tiny-sd-reference"] = {
        **json.loads(json.dumps(entries["tiny-sd"])),
        "description": "tiny-sd with a random IP-Adapter: renders follow reference pictures.",
        "ip_adapter": {
            "model_id": str(directory / "tiny-ip-adapter"),
            "subfolder": "models",
            "weight_name": IP_ADAPTER_FILE,
            "scale": 0.6,
        },
    }
    entries["tiny-animatediff"] = {
        "tasks": ["text-to-video", "image-to-video"],
        "implementation": "diffusers-video",
        "model_id": str(directory / "tiny-animatediff"),
        # Image-to-video = AnimateDiff video-to-video on the still image repeated (SDEdit).
        "pipeline_class": {"image-to-video": "AnimateDiffVideoToVideoPipeline"},
        "description": "Tiny random AnimateDiff (noise); image-to-video by SDEdit.",
        "cost_factor": 0.0,
        "defaults": {
            "steps": 4,
            "guidance": 5.0,
            "width": 32,
            "height": 32,
            "num_frames": 8,
            "fps": 8,
            "strength": 0.75,
        },
    }
    entries["tiny-svd"] = {
        "tasks": ["image-to-video"],
        "implementation": "diffusers-video",
        "model_id": str(directory / "tiny-svd"),
        "description": "Tiny random Stable Video Diffusion (noise) conditioned on an image.",
        "cost_factor": 0.0,
        "defaults": {
            "steps": 2,
            "guidance": 2.5,
            "width": 32,
            "height": 32,
            "num_frames": 8,
            "fps": 7,
            "call": {"min_guidance_scale": 1.0, "decode_chunk_size": 8},
        },
    }
    entries["tiny-ltx"] = {
        "tasks": ["text-to-video", "image-to-video"],
        "implementation": "diffusers-video",
        "model_id": str(directory / "tiny-ltx"),
        "pipeline_class": {
            "text-to-video": "LTXPipeline",
            "image-to-video": "LTXImageToVideoPipeline",
        },
        "description": "Tiny random LTX-Video (noise): text- and image-to-video.",
        "cost_factor": 0.0,
        "defaults": {
            "steps": 2,
            "guidance": 3.0,
            "width": 32,
            "height": 32,
            "multiple_of": 32,
            "num_frames": 9,  # 8k + 1
            "fps": 24,
        },
    }
    entries["tiny-prompt-writer"] = {
        "tasks": ["text-generation"],
        "implementation": "transformers-text",
        "model_id": str(directory / "tiny-gpt2"),
        "description": "Tiny random GPT-2 prompt writer (gibberish): tests and smoke runs.",
        "cost_factor": 0.0,
        "defaults": {"max_new_tokens": 16, "temperature": 0},
    }
    entries["tiny-clip"] = {
        "tasks": ["image-similarity"],
        "implementation": "clip-similarity",
        "model_id": str(directory / "tiny-clip"),
        "description": "Tiny random CLIP: image similarity scores (tests and smoke runs).",
        "cost_factor": 0.0,
    }
    entries["tiny-tts"] = tiny_tts_entry(directory / "tiny-tts")
    entries["espeak"] = shipped["espeak"]  # weightless, like draft: the studio's default voice
    return entries
