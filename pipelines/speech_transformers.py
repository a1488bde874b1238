"""A neural text-to-speech engine: a transformers VITS model (facebook/mms-tts-eng and the
other MMS voices, or any VitsModel folder), the catalogue implementation `transformers-tts`.

Why VITS only: it is the text-to-waveform family transformers runs in one forward pass with a
speaking-rate knob, small enough for a CPU (MMS voices are ~36M parameters) and with one
model per language; the other text-to-audio models there (Bark, MusicGen, SeamlessM4T) need
`generate` and have no rate control, so a catalogue entry naming one is refused at load
rather than speaking wrongly. Loading is `pipelines.transformers_model.TransformersModel`'s,
as for the prompt writer: torch and transformers are imported inside functions, weights come
from a local folder or the Hugging Face cache through `load_weights` (missing weights are a
`WeightsUnavailableError` that says how to get them, and nothing is downloaded with
HF_HUB_OFFLINE set), device and dtype are the entry's.

Speech is synthesised a few sentences at a time (`pipelines.speech.chunk_text`): VITS's
attention and its output alignment grow with the square of the text, so a long monologue in
one pass would exhaust memory; chunks also give progress and a point to stop between them.
VITS draws noise for durations and for the spectrogram, so `SpeechRequest.seed` seeds torch
for the request (in a forked RNG): the same request gives the same samples. Speed is the
model's speaking rate times `speed`. VITS has no pitch control: pitch is shifted by
resampling the output (`pipelines.speech.stretch`, formants move with it, like a tape played
faster) after synthesising at a rate that keeps the length.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable
from typing import Any

import numpy as np

from pipelines.diffusers_base import (
    first_line,
    free_accelerator_memory,
    import_library,
    is_out_of_memory,
)
from pipelines.entries import PipelineEntry
from pipelines.errors import OutOfMemoryError, PipelineError
from pipelines.provenance import library_versions
from pipelines.requests import SpeechRequest
from pipelines.speech import (
    Speech,
    VoiceInfo,
    chunk_text,
    join,
    semitone_ratio,
    speakable,
    stretch,
    unknown_voice,
)
from pipelines.transformers_model import TransformersModel

__all__ = ["SENTENCE_GAP", "SINGLE_VOICE", "TransformersSpeech"]

SINGLE_VOICE = "default"  # the one voice of a single-speaker model
SENTENCE_GAP = 0.2  # seconds of silence between chunks at speed 1 (VITS ends them abruptly)


class TransformersSpeech(TransformersModel):
    """A catalogue entry's VITS model: loaded once, one synthesis at a time (the lifecycle is
    `TransformersModel`'s)."""

    def __init__(self, entry: PipelineEntry, *, device: str = "", dtype: str = "") -> None:
        super().__init__(entry, device=device, dtype=dtype)
        self.configured_voice = str(entry.defaults.get("voice") or "")

    def _load_parts(self, transformers: Any, dtype: Any) -> tuple[Any, Any]:
        """The VITS model and its tokenizer; `PipelineError` when the model is not VITS or its
        tokenizer needs a library that is missing."""
        config = self._pretrained(transformers.AutoConfig.from_pretrained)
        if getattr(config, "model_type", "") != "vits":
            raise PipelineError(
                f"Pipeline {self.name!r}: {self.model_id!r} is a "
                f"{getattr(config, 'model_type', 'unknown')!r} model; the transformers-tts "
                "implementation speaks with VITS models (e.g. facebook/mms-tts-eng)"
            )
        tokenizer = self._pretrained(transformers.AutoTokenizer.from_pretrained)
        _check_tokenizer(self.name, tokenizer)
        return self._pretrained(transformers.VitsModel.from_pretrained, dtype=dtype), tokenizer

    def _after_load(self) -> None:
        """The entry's voice checked: a catalogue typo shows at load (`PipelineError`)."""
        self._resolve(self.default_voice)

    # -- voices --------------------------------------------------------------------------------

    @property
    def speakers(self) -> int:
        self.load()
        return int(getattr(self._model.config, "num_speakers", 1) or 1)

    @property
    def sample_rate(self) -> int:
        self.load()
        return int(self._model.config.sampling_rate)

    @property
    def default_voice(self) -> str:
        """The entry's `defaults.voice`, else the model's only (or first) speaker."""
        if self.configured_voice:
            return self.configured_voice
        return "0" if self.speakers > 1 else SINGLE_VOICE

    def voices(self) -> list[VoiceInfo]:
        """One voice ("default") for a single-speaker model; "0", "1", … for the speakers of
        a multi-speaker one."""
        self.load()
        language = str(getattr(self._tokenizer, "language", None) or "")  # MMS: "eng"
        if self.speakers == 1:
            return [VoiceInfo(SINGLE_VOICE, f"{self.name} (its one voice)", language)]
        return [
            VoiceInfo(str(n), f"{self.name} speaker {n}", language) for n in range(self.speakers)
        ]

    def _resolve(self, voice: str) -> int | None:
        """The speaker id to pass the model (None: a single-speaker model), or the
        unknown-voice `PipelineError`."""
        known = [v.id for v in self.voices()]
        voice = voice.strip()
        if voice not in known:
            raise unknown_voice(voice, f"{self.name} ({self.model_id})", known)
        return None if self.speakers == 1 else int(voice)

    # -- speaking ------------------------------------------------------------------------------

    def speak(
        self, request: SpeechRequest, on_progress: Callable[[int, int], None] | None = None
    ) -> Speech:
        """`request.text` spoken, chunk by chunk, calling `on_progress(done, total)` after each
        chunk; an exception it raises (the studio's Cancelled) stops the speech."""
        torch = import_library("torch")
        with self._lock:
            self.load()
            speaker = self._resolve(request.voice or self.default_voice)
            ratio = semitone_ratio(request.pitch)
            rate = self._speaking_rate(request.speed, ratio)
            chunks = chunk_text(speakable(request.text))
            parts: list[np.ndarray] = []
            devices = (
                [torch.device(self.device).index or 0] if self.device.startswith("cuda") else []
            )
            with torch.random.fork_rng(devices=devices), torch.inference_mode():
                torch.manual_seed(request.seed)
                for index, chunk in enumerate(chunks):
                    samples = self._synthesise(torch, chunk, speaker, rate)
                    if samples.size:
                        parts.append(stretch(samples, ratio) if ratio != 1.0 else samples)
                    if on_progress is not None:
                        on_progress(index + 1, len(chunks))
            sample_rate = self.sample_rate
        gap = SENTENCE_GAP / request.speed
        # Nothing the model can say (emoji only, or a script its vocabulary lacks): a short
        # silence, still a playable clip.
        audio = join(parts, sample_rate, gap) if parts else np.zeros(sample_rate // 4)
        return Speech(audio, sample_rate)

    def _synthesise(self, torch: Any, text: str, speaker: int | None, rate: float) -> np.ndarray:
        """One chunk as float32 samples; empty when the tokenizer keeps none of its
        characters."""
        encoded = self._tokenizer(text, return_tensors="pt")
        ids = encoded["input_ids"]
        # add_blank puts a blank between and around characters: one token alone is no text.
        if ids.shape[1] <= (1 if getattr(self._tokenizer, "add_blank", False) else 0):
            return np.zeros(0, dtype=np.float32)
        encoded = {key: value.to(self.device) for key, value in encoded.items()}
        try:
            output = self._model(**encoded, speaker_id=speaker, speaking_rate=rate)
        except Exception as exc:
            if is_out_of_memory(exc, torch):
                free_accelerator_memory()
                raise OutOfMemoryError(self.name, "speaking with", first_line(exc)) from exc
            raise
        return np.asarray(output.waveform[0].float().cpu().numpy(), dtype=np.float32)

    def _speaking_rate(self, speed: float, ratio: float) -> float:
        # The model's own rate is speed 1. A pitch raised by resampling shortens the speech by
        # `ratio`: synthesise that much slower to keep the length.
        return float(getattr(self._model, "speaking_rate", 1.0) or 1.0) * speed / ratio

    # -- provenance ----------------------------------------------------------------------------

    def settings(self, request: SpeechRequest) -> dict[str, Any]:
        """What `speak` uses for this request, resolved (loads the model)."""
        with self._lock:
            self.load()
            voice = (request.voice or self.default_voice).strip()
            self._resolve(voice)
            return {
                "voice": voice,
                "speaking_rate": round(
                    self._speaking_rate(request.speed, semitone_ratio(request.pitch)), 6
                ),
                "resampled_semitones": request.pitch,
                "sample_rate": self.sample_rate,
                "device": self.device,
                "dtype": self.dtype,
            }

    def provenance(self, request: SpeechRequest) -> dict[str, Any]:
        """What made this line: the model and its revision, library versions, the voice,
        rate and seed, the text."""
        return {
            "pipeline": self.name,
            "implementation": self.entry.implementation,
            "engine": "transformers-vits",
            "model_id": self.model_id,
            "revision": self.revision,
            "libraries": library_versions(),
            "text": request.text,
            "speed": request.speed,
            "pitch": request.pitch,
            "seed": request.seed,
            **self.settings(request),
        }


def _check_tokenizer(name: str, tokenizer: Any) -> None:
    """Refuse at load what would fail at the first line: a tokenizer that phonemizes needs
    the phonemizer package (and an espeak executable behind it)."""
    if getattr(tokenizer, "phonemize", False) and importlib.util.find_spec("phonemizer") is None:
        raise PipelineError(
            f"Pipeline {name!r}: its tokenizer turns text into phonemes with the phonemizer "
            "package, which is not installed (pip install phonemizer, plus an espeak-ng "
            "executable); MMS voices (facebook/mms-tts-*) need neither"
        )
