"""What a text-to-speech engine returns (`Speech`, `VoiceInfo`), and what the engines share.

The studio gives a character's line to a catalogue entry with `tasks: [text-to-speech]` and
gets back mono float samples it mixes into the film. Two engines implement it —
`pipelines.speech_espeak` (eSpeak NG through ctypes, weightless) and
`pipelines.speech_transformers` (a VITS model such as facebook/mms-tts-eng) — and both need
the same chores done the same way, so they live here rather than in either engine: cleaning
text down to what can be spoken (emoji and control characters are dropped, not spoken as
their names), cutting a long line into sentence chunks (so a 10,000-character monologue is
spoken chunk by chunk with progress and cancellation between chunks, and VITS's attention
never sees it whole), joining the chunks, shifting pitch by resampling, and the one wording
of an unknown-voice error. This module imports numpy and `pipelines.errors` only: no torch,
no ctypes library, so the studio can read a `Speech` anywhere.
"""

from __future__ import annotations

import difflib
import re
import unicodedata
import wave
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from pipelines.errors import PipelineError

__all__ = [
    "CHUNK_CHARS",
    "Speech",
    "VoiceInfo",
    "chunk_text",
    "join",
    "semitone_ratio",
    "speakable",
    "stretch",
    "unknown_voice",
]

# Longest piece of text one synthesis call gets: a few sentences. Long enough that chunking
# rarely cuts a sentence, short enough that progress moves and VITS's attention stays small.
CHUNK_CHARS = 400
# Sentence ends: after . ! ? … (and closing quotes/brackets) a space; CJK full stops need none.
_SENTENCE_END = re.compile(r"(?<=[.!?…])[\"'”’)\]]*\s+|(?<=[。！？])")
# Unicode categories that are never spoken: pictographs/emoji (So), modifiers such as skin
# tones (Sk), surrogates, private use, unassigned code points.
_UNSPOKEN = frozenset(("So", "Sk", "Cs", "Co", "Cn"))
_ZWNJ = "\u200c"  # a format character Persian and Indic spelling needs: kept


@dataclass(frozen=True)
class VoiceInfo:
    """One voice an engine offers: `id` is what a `SpeechRequest.voice` names."""

    id: str
    name: str
    language: str  # a BCP 47-ish code ("en-us", "fr"), "" when the model does not say


@dataclass(frozen=True, eq=False)  # eq: numpy arrays do not compare to one bool
class Speech:
    """Spoken audio: mono float32 samples in [-1, 1] at `sample_rate` Hz."""

    samples: np.ndarray
    sample_rate: int

    def __post_init__(self) -> None:
        samples = np.asarray(self.samples, dtype=np.float32).reshape(-1)
        if not np.all(np.isfinite(samples)):
            # A model that blew up (NaN/inf) must not reach a WAV file as a burst of noise.
            raise PipelineError("the speech engine returned samples that are not numbers")
        # Frozen: set the normalised array once, here. Clipped: a loud model peaks above 1.
        object.__setattr__(self, "samples", np.clip(samples, -1.0, 1.0))
        if not (isinstance(self.sample_rate, int) and self.sample_rate > 0):
            raise ValueError(f"sample_rate must be a positive integer, not {self.sample_rate!r}")

    @property
    def seconds(self) -> float:
        """How long it lasts."""
        return len(self.samples) / self.sample_rate

    def write_wav(self, path: Path | str) -> Path:
        """Write 16-bit PCM mono WAV at `sample_rate` (the stdlib `wave` module: what every
        player and PyAV read) and return the path."""
        path = Path(path)
        pcm = np.round(self.samples * 32767.0).astype("<i2")
        with wave.open(str(path), "wb") as out:
            out.setnchannels(1)
            out.setsampwidth(2)
            out.setframerate(self.sample_rate)
            out.writeframes(pcm.tobytes())
        return path


def speakable(text: str) -> str:
    """`text` without what no voice can say: emoji, pictographs and their modifiers, variation
    selectors and joiners, control characters (line breaks become spaces); whitespace is
    collapsed. Letters of every script, digits and punctuation stay."""
    kept = []
    for char in text:
        category = unicodedata.category(char)
        if category in ("Cc", "Zl", "Zp"):
            kept.append(" ")
        elif category in _UNSPOKEN or (category == "Cf" and char != _ZWNJ):
            continue
        elif 0xFE00 <= ord(char) <= 0xFE0F or 0xE0100 <= ord(char) <= 0xE01EF:
            continue  # variation selectors (emoji presentation), category Mn
        else:
            kept.append(char)
    return " ".join("".join(kept).split())


def chunk_text(text: str, limit: int = CHUNK_CHARS) -> list[str]:
    """`text` cut into pieces of at most `limit` characters, at sentence ends where it can
    (whole sentences packed together), else after a comma or at a space, else anywhere."""
    if limit < 1:
        raise ValueError(f"limit must be ≥ 1, not {limit}")
    chunks: list[str] = []
    current = ""
    for sentence in (s.strip() for s in _SENTENCE_END.split(text)):
        if not sentence:
            continue
        for piece in _split_long(sentence, limit):
            if current and len(current) + 1 + len(piece) <= limit:
                current = f"{current} {piece}"
            else:
                if current:
                    chunks.append(current)
                current = piece
    if current:
        chunks.append(current)
    return chunks


def _split_long(sentence: str, limit: int) -> Iterable[str]:
    while len(sentence) > limit:
        head = sentence[:limit]
        # A clause end keeps the intonation natural; a space at least keeps words whole.
        cut = max(head.rfind(", "), head.rfind("; "), head.rfind(": "))
        cut = cut + 1 if cut > limit // 3 else head.rfind(" ")
        if cut <= 0:
            cut = limit  # one enormous "word" (a URL, CJK without spaces): cut anywhere
        yield sentence[:cut].strip()
        sentence = sentence[cut:].strip()
    if sentence:
        yield sentence


def join(parts: Sequence[np.ndarray], sample_rate: int, gap: float = 0.0) -> np.ndarray:
    """The parts one after another as float32, with `gap` seconds of silence between them."""
    silence = np.zeros(round(gap * sample_rate), dtype=np.float32)
    pieces: list[np.ndarray] = []
    for index, part in enumerate(parts):
        if index and silence.size:
            pieces.append(silence)
        pieces.append(np.asarray(part, dtype=np.float32).reshape(-1))
    return np.concatenate(pieces) if pieces else np.zeros(0, dtype=np.float32)


def semitone_ratio(semitones: float) -> float:
    """The frequency ratio of an interval: 12 semitones = 2 (an octave)."""
    return float(2.0 ** (semitones / 12.0))


def stretch(samples: np.ndarray, ratio: float) -> np.ndarray:
    """`samples` band-limited resampled to `len / ratio` samples: played at the same rate
    they sound `ratio` times higher and last `1 / ratio` as long (a tape played faster;
    formants move with the pitch). Done in the frequency domain (numpy's FFT, any length), so
    raising the pitch does not alias; callers keep the duration by synthesising at
    `ratio` × the length first."""
    samples = np.asarray(samples, dtype=np.float32).reshape(-1)
    length = len(samples)
    target = max(1, round(length / ratio))
    if ratio == 1.0 or length < 2:
        return samples.copy()
    spectrum = np.fft.rfft(samples.astype(np.float64))
    bins = target // 2 + 1
    if bins <= len(spectrum):
        spectrum = spectrum[:bins]  # higher pitch: what would pass Nyquist is dropped
    else:
        spectrum = np.concatenate([spectrum, np.zeros(bins - len(spectrum), spectrum.dtype)])
    return (np.fft.irfft(spectrum, n=target) * (target / length)).astype(np.float32)


def unknown_voice(voice: str, engine: str, known: Sequence[str]) -> PipelineError:
    """The error for a voice id an engine does not have: names the voice and a few valid ones
    (the closest spellings first), so the person can fix the character's voice."""
    close = difflib.get_close_matches(voice.lower(), [k.lower() for k in known], n=3, cutoff=0.5)
    by_lower = {k.lower(): k for k in known}
    suggestions = [by_lower[c] for c in close]
    suggestions += [k for k in known if k not in suggestions][: max(0, 6 - len(suggestions))]
    more = f", … ({len(known)} in all)" if len(known) > len(suggestions) else ""
    return PipelineError(
        f"Unknown voice {voice!r} for {engine}; valid voices include {', '.join(suggestions)}{more}"
    )
