"""eSpeak NG as a text-to-speech engine: a small ctypes binding to the library that the
`espeakng-loader` wheel ships, and the catalogue implementation `espeak` on top of it.

Why our own binding: the wheel carries libespeak-ng and its voice data but no Python API, and
the `espeakng` package on PyPI runs an `espeak-ng` executable that machines here do not have;
the C API we need is nine functions. The library is a process-wide singleton that is not
thread-safe (one set of parameters, one callback, one voice at a time), so it is initialised
once per process and every call into it holds `_LOCK`. It is initialised in synchronous mode
with a callback that copies each block of 16-bit samples into a list, so `espeak_Synth`
returns with the whole chunk in hand and nothing plays on a sound card. eSpeak keeps a little
state from one line to the next that no call resets (its pitch-flutter phase), so a repeated
line sounds the same but differs by a few samples.

Voices are what the data folder lists: a language id ("en-us", "en-gb", "fr-fr", "de"; other
codes a voice declares, such as "fr" or "en", work too) with an optional variant after a "+"
("en-us+f3", "de+m2"; the variants are the files of espeak-ng-data/voices/!v). Speed is words
per minute (175 × speed). Pitch moves eSpeak's own pitch parameter (`PITCH_TABLE`, measured:
it reaches −6.9 to +8.8 semitones); what lies beyond is done by resampling, with the rate
lowered or raised to match (`pipelines.speech.stretch`), so the whole ±12 semitones sounds and
the length stays.
"""

from __future__ import annotations

import ctypes
import threading
from collections.abc import Callable
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any, Self

import numpy as np

from pipelines.entries import PipelineEntry
from pipelines.errors import PipelineError
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

__all__ = ["DEFAULT_VOICE", "NORMAL_RATE", "PITCH_TABLE", "EspeakSpeech", "espeak_pitch"]

DEFAULT_VOICE = "en-us"
NORMAL_RATE = 175  # words per minute: eSpeak's own default, the rate of speed 1.0
_RATE_LIMITS = (80, 450)  # what espeak_SetParameter(espeakRATE) accepts
NEUTRAL_PITCH = 50  # eSpeak's pitch parameter: 0–99, 50 is the voice's own
# eSpeak's pitch parameter → the shift of the median F0 in semitones, measured by
# autocorrelation on en-us, en-us+f3, en-gb, fr-fr and de+m3 with espeak-ng 1.52 (they agree
# within ±0.4). Not linear, and narrower than ±12: past −6.9 and +8.8 semitones the rest is
# done by resampling.
PITCH_TABLE: tuple[tuple[int, float], ...] = (
    (0, -6.9),
    (10, -5.6),
    (20, -4.4),
    (30, -3.0),
    (40, -1.6),
    (50, 0.0),
    (60, 1.7),
    (70, 3.4),
    (80, 5.2),
    (90, 7.1),
    (99, 8.8),
)

# speak_lib.h: AUDIO_OUTPUT_SYNCHRONOUS, espeakINITIALIZE_DONT_EXIT (report errors instead of
# calling exit() on a missing data folder), espeakCHARS_UTF8, espeakENDPAUSE, POS_CHARACTER,
# espeakRATE / espeakPITCH / espeakRANGE, EE_OK.
_SYNCHRONOUS, _DONT_EXIT, _UTF8, _END_PAUSE, _POS_CHARACTER = 2, 0x8000, 1, 0x1000, 1
_RATE, _PITCH, _RANGE, _OK = 1, 3, 4, 0
_FEATURED = ("en-us", "en-gb", "en-us+f3", "fr-fr", "de", "es")  # named first in errors
_BUFFER_MS = 200  # block length of the callback's audio
_LOCK = threading.RLock()
_INSTANCE: _Library | None = None  # see _library()


class _Voice(ctypes.Structure):
    """speak_lib.h's espeak_VOICE."""

    _fields_ = (
        ("name", ctypes.c_char_p),
        # Pairs of (priority byte, NUL-terminated language), ended by a 0 priority byte.
        ("languages", ctypes.c_void_p),
        ("identifier", ctypes.c_char_p),
        ("gender", ctypes.c_ubyte),
        ("age", ctypes.c_ubyte),
        ("variant", ctypes.c_ubyte),
        ("xx1", ctypes.c_ubyte),
        ("score", ctypes.c_int),
        ("spare", ctypes.c_void_p),
    )


# int callback(short *wav, int numsamples, espeak_EVENT *events): 0 goes on, 1 aborts.
_CALLBACK = ctypes.CFUNCTYPE(
    ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.c_void_p
)


@dataclass(frozen=True)
class _Language:
    id: str  # what users type: the voice's first language code, lower case ("en-us")
    name: str  # "English (America)"
    identifier: str  # its file under espeak-ng-data ("gmw/en-US"): what the library loads
    languages: tuple[tuple[int, str], ...]  # (priority, code): 1 is the best match


class _Library:
    """libespeak-ng, loaded and initialised; only ever used with `_LOCK` held."""

    def __init__(self) -> None:
        try:
            import espeakng_loader

            self.path = espeakng_loader.get_library_path()
            data = espeakng_loader.get_data_path()
            lib = ctypes.CDLL(self.path)
        except (ImportError, OSError, RuntimeError) as exc:
            raise PipelineError(
                f"eSpeak NG is not available ({exc}); install the espeakng-loader wheel "
                "(pip install -r requirements.txt), which carries the library and its voices"
            ) from exc
        _declare(lib)
        rate = lib.espeak_Initialize(_SYNCHRONOUS, _BUFFER_MS, data.encode(), _DONT_EXIT)
        if rate <= 0:
            raise PipelineError(f"eSpeak NG could not start with its voice data in {data}")
        self.lib, self.sample_rate = lib, int(rate)
        self.version = (lib.espeak_Info(None) or b"").decode(errors="replace")
        self._blocks: list[np.ndarray] = []
        # Kept on the object: ctypes must not free the callback while the library holds it.
        self._callback = _CALLBACK(self._collect)
        lib.espeak_SetSynthCallback(self._callback)
        self.languages: dict[str, _Language] = {}
        for voice in self._list(None):
            if not _has_dictionary(Path(data), voice):
                continue  # the wheel leaves a few dictionaries out (Faroese, Karakalpak)
            # Two voices of one language (Cantonese, and Cantonese in Jyutping): the second
            # goes by its file name.
            taken = voice.id in self.languages
            key = voice.identifier.rpartition("/")[2].lower() if taken else voice.id
            self.languages[key] = _Language(key, voice.name, voice.identifier, voice.languages)
        # Every other code a voice declares ("fr", "en", "zh") names its best-ranked voice.
        ranked = sorted(
            (priority, code.lower(), voice.id)
            for voice in self.languages.values()
            for priority, code in voice.languages
        )
        self.aliases: dict[str, str] = {}
        for _priority, code, key in ranked:
            if code not in self.languages:
                self.aliases.setdefault(code, key)
        variant = ctypes.create_string_buffer(b"variant")  # alive until the call returns
        variant_spec = _Voice(languages=ctypes.cast(variant, ctypes.c_void_p))
        # Variant files are "!v/f3": the part after the slash is what goes after the "+".
        self.variants = {
            voice.identifier.rpartition("/")[2]: voice.name for voice in self._list(variant_spec)
        }

    def _collect(self, wav: Any, count: int, _events: Any) -> int:
        if wav and count > 0:
            self._blocks.append(np.ctypeslib.as_array(wav, shape=(count,)).copy())
        return 0

    def _list(self, spec: _Voice | None) -> list[_Language]:
        found = self.lib.espeak_ListVoices(ctypes.byref(spec) if spec is not None else None)
        voices, index = [], 0
        while found[index]:
            voice = found[index].contents
            identifier = (voice.identifier or b"").decode(errors="replace")
            languages = _languages(voice.languages)
            first = languages[0][1].lower() if languages else identifier.lower()
            name = (voice.name or b"").decode(errors="replace")
            voices.append(_Language(first, name, identifier, tuple(languages)))
            index += 1
        return voices

    def synthesise(self, text: str, voice: str, rate: int, pitch: int, seed: int = 0) -> np.ndarray:
        """`text` spoken by `voice` (an identifier, "+variant" allowed), as int16 samples.
        The caller holds `_LOCK`."""
        if self.lib.espeak_SetVoiceByName(voice.encode()) != _OK:
            raise PipelineError(f"eSpeak NG could not load the voice {voice!r}")
        # eSpeak's noise generator (breath, jitter) carries on from call to call: seeded, it
        # does not depend on the lines spoken before. (Its pitch-flutter phase does, and no
        # call resets it: a repeated line differs by a few milliseconds, inaudibly.)
        self.lib.espeak_ng_SetRandSeed(seed % 2**31)
        # The parameters are global to the library: set them all on every call.
        self.lib.espeak_SetParameter(_RATE, rate, 0)
        self.lib.espeak_SetParameter(_PITCH, pitch, 0)
        self.lib.espeak_SetParameter(_RANGE, NEUTRAL_PITCH, 0)
        data = text.encode("utf-8")
        self._blocks = []
        try:
            flags = _UTF8 | _END_PAUSE
            result = self.lib.espeak_Synth(data, len(data) + 1, 0, _POS_CHARACTER, 0, flags, 0, 0)
            if result != _OK:
                raise PipelineError(f"eSpeak NG failed to speak (error {result})")
            self.lib.espeak_Synchronize()
            blocks = self._blocks
        finally:
            self._blocks = []
        return np.concatenate(blocks) if blocks else np.zeros(0, dtype=np.int16)


def _declare(lib: Any) -> None:
    """The C signatures of the functions we call (ctypes would guess int for everything)."""
    lib.espeak_Initialize.argtypes = (ctypes.c_int, ctypes.c_int, ctypes.c_char_p, ctypes.c_int)
    lib.espeak_Initialize.restype = ctypes.c_int
    lib.espeak_SetSynthCallback.argtypes = (_CALLBACK,)
    lib.espeak_SetSynthCallback.restype = None
    lib.espeak_SetVoiceByName.argtypes = (ctypes.c_char_p,)
    lib.espeak_SetParameter.argtypes = (ctypes.c_int, ctypes.c_int, ctypes.c_int)
    lib.espeak_Synth.argtypes = (
        ctypes.c_char_p,  # text
        ctypes.c_size_t,  # its size in bytes, the NUL included
        ctypes.c_uint,  # position
        ctypes.c_int,  # position type
        ctypes.c_uint,  # end position (0: the end)
        ctypes.c_uint,  # flags
        ctypes.c_void_p,  # unique identifier out (unused)
        ctypes.c_void_p,  # user data (unused)
    )
    lib.espeak_ListVoices.argtypes = (ctypes.POINTER(_Voice),)
    lib.espeak_ListVoices.restype = ctypes.POINTER(ctypes.POINTER(_Voice))
    lib.espeak_Info.argtypes = (ctypes.c_void_p,)
    lib.espeak_Info.restype = ctypes.c_char_p
    lib.espeak_ng_SetRandSeed.argtypes = (ctypes.c_long,)
    lib.espeak_ng_SetRandSeed.restype = None


def _languages(pointer: int | None) -> list[tuple[int, str]]:
    """espeak_VOICE.languages as (priority, code): (priority byte, string, NUL)… then 0."""
    codes: list[tuple[int, str]] = []
    if not pointer:
        return codes
    offset = 0
    while priority := ctypes.c_ubyte.from_address(pointer + offset).value:
        code = ctypes.string_at(pointer + offset + 1)
        codes.append((priority, code.decode(errors="replace")))
        offset += len(code) + 2
    return codes


def _has_dictionary(data: Path, voice: _Language) -> bool:
    """Whether the pronunciation dictionary a language voice needs is in the data folder: the
    voice file's `dictionary` line, else its language code up to the first "-" (eSpeak's own
    rule). Without it eSpeak prints an error and speaks without its pronunciation rules."""
    name = voice.id.partition("-")[0]
    try:
        lines = (data / "lang" / voice.identifier).read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError):
        lines = []
    for line in lines:
        words = line.split()
        if len(words) >= 2 and words[0] == "dictionary":
            name = words[1]
            break
    return (data / f"{name}_dict").is_file()


def _library() -> _Library:
    """The process's one `_Library`, made on first use. Under the lock: two threads making one
    each would leave the library calling back into the other's buffer."""
    global _INSTANCE
    with _LOCK:
        if _INSTANCE is None:
            _INSTANCE = _Library()
        return _INSTANCE


def espeak_pitch(semitones: float) -> tuple[int, float]:
    """eSpeak's pitch parameter for a shift of `semitones` (`PITCH_TABLE`, interpolated), and
    the semitones left over for resampling: non-zero only past the parameter's reach."""
    parameters = [float(parameter) for parameter, _ in PITCH_TABLE]
    shifts = [shift for _, shift in PITCH_TABLE]
    parameter = round(float(np.interp(semitones, shifts, parameters)))
    reach = min(max(semitones, shifts[0]), shifts[-1])
    return parameter, float(semitones - reach)


class EspeakSpeech:
    """The `espeak` implementation: `speak`, `voices`, `provenance` over `_Library`."""

    def __init__(self, entry: PipelineEntry) -> None:
        self.entry = entry
        self.name = entry.name
        self.model_id = entry.model_id or "espeak-ng"
        self.default_voice = str(entry.defaults.get("voice") or DEFAULT_VOICE)
        self.revision = self.revision_for(entry)

    @classmethod
    def from_entry(cls, entry: PipelineEntry) -> Self:
        """Construct and load (what `catalogue.load_pipeline` calls)."""
        return cls(entry).load()

    @classmethod
    def revision_for(cls, entry: PipelineEntry) -> str:
        """The wheel's version: new voice data or a new library changes how lines sound (so
        the studio's cache of spoken lines keys on it). Reads package metadata only."""
        if entry.revision:
            return entry.revision
        try:
            return "espeakng-loader-" + metadata.version("espeakng-loader")
        except metadata.PackageNotFoundError:
            return ""

    def load(self) -> Self:
        """Initialise the library (once per process) and check the default voice exists, so a
        catalogue typo shows at load, not at the first line."""
        self._resolve(self.default_voice)
        return self

    def memory_bytes(self) -> int:
        return 0  # a few MB of voice data, not worth a pipeline-cache budget

    @property
    def sample_rate(self) -> int:
        return _library().sample_rate

    def voices(self) -> list[VoiceInfo]:
        """Every language voice of the data folder, then each variant on the default voice's
        language ("en-us+f3"); any variant goes on any language the same way."""
        library = _library()
        base = self._resolve(self.default_voice)[0].partition("+")[0]
        voices = [VoiceInfo(v.id, v.name, v.id) for v in library.languages.values()]
        name = library.languages[base].name
        voices += [
            VoiceInfo(f"{base}+{variant.lower()}", f"{name}, {variant_name}", base)
            for variant, variant_name in sorted(library.variants.items(), key=_lower_first)
        ]
        return voices

    def speak(
        self, request: SpeechRequest, on_progress: Callable[[int, int], None] | None = None
    ) -> Speech:
        """`request.text` spoken, chunk by chunk (`pipelines.speech.chunk_text`), calling
        `on_progress(done, total)` after each; an exception it raises stops the speech."""
        _, voice = self._resolve(request.voice or self.default_voice)
        parameter, rest = espeak_pitch(request.pitch)
        ratio = semitone_ratio(rest)
        rate = self._rate(request.speed, ratio)
        chunks = chunk_text(speakable(request.text))
        library = _library()
        parts: list[np.ndarray] = []
        for index, chunk in enumerate(chunks):
            with _LOCK:
                pcm = library.synthesise(chunk, voice, rate, parameter, request.seed)
            samples = pcm.astype(np.float32) / 32768.0
            parts.append(stretch(samples, ratio) if ratio != 1.0 else samples)
            if on_progress is not None:
                on_progress(index + 1, len(chunks))
        # Nothing speakable (only emoji): a short silence, still a playable clip.
        audio = join(parts, library.sample_rate) if parts else np.zeros(library.sample_rate // 4)
        return Speech(audio, library.sample_rate)

    def settings(self, request: SpeechRequest) -> dict[str, Any]:
        """What `speak` uses for this request, resolved."""
        voice, loaded = self._resolve(request.voice or self.default_voice)
        parameter, rest = espeak_pitch(request.pitch)
        return {
            "voice": voice,
            "espeak_voice": loaded,
            "rate_wpm": self._rate(request.speed, semitone_ratio(rest)),
            "espeak_pitch": parameter,
            "resampled_semitones": round(rest, 3),
            "sample_rate": _library().sample_rate,
        }

    def provenance(self, request: SpeechRequest) -> dict[str, Any]:
        """What made this line: engine and library versions, voice, rate, pitch, the text."""
        library = _library()
        return {
            "pipeline": self.name,
            "implementation": self.entry.implementation,
            "engine": "espeak-ng",
            "library_version": library.version,
            "revision": self.revision,
            "text": request.text,
            "speed": request.speed,
            "pitch": request.pitch,
            "seed": request.seed,  # seeds eSpeak's breath noise and jitter
            **self.settings(request),
        }

    # -- voices ------------------------------------------------------------------------------

    def _resolve(self, voice: str) -> tuple[str, str]:
        """The voice's id as `voices()` spells it and as the library loads it ("fr-fr+f3",
        "roa/fr+f3"); an unknown one is the `PipelineError` naming a few valid ones."""
        library = _library()
        language, plus, variant = voice.strip().lower().partition("+")
        key = language if language in library.languages else library.aliases.get(language)
        variants = {v.lower(): v for v in library.variants}
        if key is None or (plus and variant not in variants):
            # The likely ones first: the error names a few, and af, am, an… help nobody.
            featured = [self.default_voice.lower(), *_FEATURED]
            variants_of_en = (f"en-us+{v.lower()}" for v in library.variants)
            known = [*featured, *library.languages, *variants_of_en]
            known = [v for v in dict.fromkeys(known) if v.partition("+")[0] in library.languages]
            raise unknown_voice(voice, f"eSpeak NG ({self.name})", known)
        identifier = library.languages[key].identifier
        if plus:
            return f"{key}+{variant}", f"{identifier}+{variants[variant]}"
        return key, identifier

    @staticmethod
    def _rate(speed: float, ratio: float) -> int:
        # Resampling up by `ratio` shortens the speech by as much: synthesise slower to match.
        low, high = _RATE_LIMITS
        return round(min(high, max(low, NORMAL_RATE * speed / ratio)))


def _lower_first(item: tuple[str, str]) -> str:
    return item[0].lower()
