"""A tiny random-weight VITS text-to-speech model (`tiny-tts`), saved as a real transformers
folder, for tests and for trying the `transformers-tts` path without downloading a voice.

Why a real folder: `pipelines.speech_transformers` loads it through the same
`from_pretrained` path as facebook/mms-tts-eng (config.json, safetensors, a VitsTokenizer with
its vocab.json), so loading, devices, seeds, speed, chunking and cancellation are exercised
end to end; only the sound is noise. The model keeps MMS's shape (stochastic duration
predictor, 16 kHz, 256 samples per frame) at a few tens of thousands of parameters, and is
built from a fixed seed, so two builds are equal. `pipelines.tiny.make_tiny` calls
`save_tiny_tts` and lists the folder in its catalogue.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pipelines.diffusers_base import import_library

__all__ = ["TINY_TTS_CHARACTERS", "save_tiny_tts", "tiny_tts_entry"]

# What the tokenizer knows (as MMS's English vocabulary: lower-case letters and a little
# punctuation); anything else is dropped by the tokenizer before the model sees it.
TINY_TTS_CHARACTERS = "abcdefghijklmnopqrstuvwxyz '-.,!?"
# A trained model spends a few frames on each token; random weights spend anything from 0 to
# hundreds (a minute of noise for one sentence). The duration predictor's last flow is set so
# that a token lasts about e^1.1 ≈ 3 frames (~50 ms) give or take the seed's noise, which
# makes lengths realistic and `speed` measurable.
_LOG_FRAMES_PER_TOKEN = 1.1
_DURATION_SPREAD = 3.0  # log_scale of that flow: the random part shrinks by e^-3
# Random weights drive the decoder's final tanh into saturation: full-scale noise. Its last
# convolution is scaled down so the noise sits near −20 dBFS, audible and not harsh.
_OUTPUT_GAIN = 0.05


def save_tiny_tts(folder: Path) -> Path:
    """Build the tiny VITS model and its tokenizer and save both into `folder` (as a hub
    repository holds them); return the folder."""
    torch, transformers = import_library("torch"), import_library("transformers")
    folder.mkdir(parents=True, exist_ok=True)
    vocab = {"_": 0}  # id 0 is what VitsTokenizer puts between characters (add_blank)
    vocab.update({char: index + 1 for index, char in enumerate(TINY_TTS_CHARACTERS)})
    vocab["<unk>"] = len(vocab)
    vocab_file = folder / "vocab.json"
    vocab_file.write_text(json.dumps(vocab), encoding="utf-8")
    tokenizer = transformers.VitsTokenizer(
        str(vocab_file),
        pad_token="_",
        unk_token="<unk>",
        add_blank=True,
        normalize=True,  # lower-cases and drops what the vocabulary lacks, as MMS does
        phonemize=False,  # MMS reads characters; phonemizing would need an espeak binary
    )
    torch.manual_seed(0)
    model = transformers.VitsModel(_config(transformers, len(vocab))).eval()
    with torch.no_grad():
        last = model.duration_predictor.flows[0]  # applied last when inferring durations
        last.log_scale[0] = _DURATION_SPREAD
        last.translate[0] = -_LOG_FRAMES_PER_TOKEN * float(torch.exp(last.log_scale[0]))
        model.decoder.conv_post.weight.mul_(_OUTPUT_GAIN)
    model.save_pretrained(str(folder))
    tokenizer.save_pretrained(str(folder))
    return folder


def _config(transformers: Any, vocab_size: int) -> Any:
    """transformers' own test configuration of VITS (tests/models/vits), with MMS's sampling
    rate and frame length (8 × 8 × 4 = 256 samples at 16 kHz) and one resblock."""
    return transformers.VitsConfig(
        vocab_size=vocab_size,
        hidden_size=16,
        num_hidden_layers=2,
        num_attention_heads=2,
        ffn_dim=32,
        flow_size=16,
        spectrogram_bins=8,
        duration_predictor_num_flows=2,
        duration_predictor_filter_channels=16,
        prior_encoder_num_flows=2,
        prior_encoder_num_wavenet_layers=1,
        posterior_encoder_num_wavenet_layers=1,
        upsample_initial_channel=16,
        upsample_rates=[8, 8, 4],
        upsample_kernel_sizes=[16, 16, 8],
        resblock_kernel_sizes=[3],
        resblock_dilation_sizes=[[1, 3]],
        sampling_rate=16_000,
    )


def tiny_tts_entry(folder: Path) -> dict[str, Any]:
    """The `tiny-tts` catalogue entry for a folder made by `save_tiny_tts`."""
    return {
        "tasks": ["text-to-speech"],
        "implementation": "transformers-tts",
        "model_id": str(folder),
        "description": "Tiny random VITS (noise, not a voice): tests and smoke runs.",
        "cost_factor": 0.0,
        "dtype": "float32",
        "defaults": {"voice": "default"},
    }
