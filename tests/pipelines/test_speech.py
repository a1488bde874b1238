"""Text-to-speech engines: eSpeak NG (weightless, through our ctypes binding) and a tiny random
VITS model loaded through the catalogue, offline.

What is checked is what a person hears: the speech is audible, longer text lasts longer, speed
and pitch move duration and fundamental frequency (estimated by autocorrelation) the way the
request asks, voices differ and unknown ones are refused with the valid ones named, odd text
does not crash, a 10,000-character line is spoken with progress, WAV files read back, and a
raising progress callback (the studio's cancel) stops the speech.
"""

from __future__ import annotations

import dataclasses
import threading
import wave
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from pipelines.catalogue import Catalogue, CatalogueError, PipelineEntry, load_pipeline
from pipelines.errors import PipelineError, WeightsUnavailableError
from pipelines.requests import Cancelled, SpeechRequest
from pipelines.speech import Speech, chunk_text, speakable, stretch

LINE = "The lighthouse keeper climbs the stairs every night before the storm."
PARAGRAPH = (
    "The lighthouse keeper climbs the stairs every night before the storm. He counts the "
    "steps out loud, one hundred and twelve of them. At the top he lights the lamp and waits "
    "for the ships to pass, watching the waves break against the rocks below."
)


def rms(speech: Speech) -> float:
    return float(np.sqrt(np.mean(np.square(speech.samples, dtype=np.float64))))


def f0(speech: Speech) -> float:
    """The median fundamental frequency (Hz) of the voiced frames: the autocorrelation peak
    between 40 and 500 Hz of 60 ms frames loud enough to be speech."""
    rate, samples = speech.sample_rate, speech.samples.astype(np.float64)
    size = int(0.06 * rate)
    low, high = int(rate / 500), int(rate / 40)
    found = []
    for start in range(0, len(samples) - size, size // 2):
        frame = samples[start : start + size] - samples[start : start + size].mean()
        if np.sqrt(np.mean(frame**2)) < 0.02:
            continue  # silence between words
        spectrum = np.fft.rfft(frame, 2 * size)
        correlation = np.fft.irfft(np.abs(spectrum) ** 2)[:size]
        lag = low + int(np.argmax(correlation[low:high]))
        if correlation[lag] > 0.3 * correlation[0]:  # periodic enough: voiced
            found.append(rate / lag)
    assert found, "no voiced frame found"
    return float(np.median(found))


def semitones(higher: float, lower: float) -> float:
    return float(12 * np.log2(higher / lower))


# -- shared helpers ------------------------------------------------------------------------------


def test_requests_refuse_what_no_engine_can_say() -> None:
    for text in ("", "   ", "\n\t"):
        with pytest.raises(ValueError, match="text"):
            SpeechRequest(text)
    with pytest.raises(ValueError, match=r"speed must be between 0\.5 and 2\.0"):
        SpeechRequest("hello", speed=3.0)
    with pytest.raises(ValueError, match="speed"):
        SpeechRequest("hello", speed=float("nan"))
    with pytest.raises(ValueError, match="pitch must be between -12 and 12 semitones"):
        SpeechRequest("hello", pitch=-13)
    assert SpeechRequest("hello", speed=0.5, pitch=12).pitch == 12


def test_long_text_is_cut_at_sentence_ends_and_keeps_every_word() -> None:
    text = " ".join(f"Sentence number {n} ends here." for n in range(60))
    chunks = chunk_text(text, limit=120)
    assert len(chunks) > 1 and all(len(chunk) <= 120 for chunk in chunks)
    assert all(chunk.endswith("here.") for chunk in chunks)  # whole sentences only
    assert " ".join(chunks).split() == text.split()
    # No punctuation, no spaces (a URL, CJK): still cut, still whole.
    assert "".join(chunk_text("x" * 1000, limit=300)) == "x" * 1000
    assert chunk_text("你好。今天天气很好！", limit=6) == ["你好。", "今天天气很好", "！"]


def test_speakable_drops_emoji_and_keeps_every_script() -> None:
    assert speakable("Hi 😀 there 👍🏽 👨‍👩‍👧!\n") == "Hi there !"
    assert speakable("Ünïcödé, مرحبا, 你好, Привет") == "Ünïcödé, مرحبا, 你好, Привет"
    assert speakable("🎉🎉") == ""


def test_stretch_raises_pitch_and_shortens_by_the_same_ratio() -> None:
    rate = 16_000
    tone = np.sin(2 * np.pi * 440 * np.arange(rate) / rate).astype(np.float32)
    ratio = 2 ** (7 / 12)  # a fifth up: 440 → 659 Hz
    shifted = stretch(tone, ratio)
    assert len(shifted) == round(rate / ratio)
    peak = np.argmax(np.abs(np.fft.rfft(shifted))) * rate / len(shifted)
    assert abs(peak - 440 * ratio) < 3


def test_write_wav_round_trips_through_the_wave_module(tmp_path: Path) -> None:
    samples = np.sin(np.linspace(0, 200, 8000)).astype(np.float32) * 0.8
    samples[:3] = [1.5, -1.5, 0.0]  # out of range: clipped, not wrapped
    speech = Speech(samples, 16_000)
    assert speech.seconds == 0.5
    path = speech.write_wav(tmp_path / "line.wav")
    with wave.open(str(path), "rb") as wav:
        assert (wav.getnchannels(), wav.getsampwidth(), wav.getframerate()) == (1, 2, 16_000)
        assert wav.getnframes() == len(samples)
        pcm = np.frombuffer(wav.readframes(wav.getnframes()), dtype="<i2")
    assert pcm[:3].tolist() == [32767, -32767, 0]
    assert np.max(np.abs(pcm / 32767 - speech.samples)) < 1e-4


def test_speech_refuses_samples_that_are_not_numbers() -> None:
    with pytest.raises(PipelineError, match="not numbers"):
        Speech(np.array([0.0, np.nan], dtype=np.float32), 16_000)


def test_a_voice_default_must_be_a_voice_id(tmp_path: Path) -> None:
    path = tmp_path / "pipelines.yaml"
    path.write_text(
        "pipelines:\n  bad:\n    tasks: [text-to-speech]\n    implementation: espeak\n"
        "    defaults: {voice: ''}\n",
        encoding="utf-8",
    )
    with pytest.raises(CatalogueError, match=r"defaults\.voice must be a voice id"):
        Catalogue.load(path)


# -- eSpeak NG ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def espeak() -> Any:
    entry = Catalogue.load().get("espeak")
    assert entry.tasks == ("text-to-speech",) and entry.defaults["voice"] == "en-us"
    return load_pipeline(entry)


def test_espeak_speaks_audibly(espeak: Any) -> None:
    speech = espeak.speak(SpeechRequest(LINE))
    assert speech.sample_rate == 22_050 and speech.samples.dtype == np.float32
    assert 2.0 < speech.seconds < 8.0  # ~12 words at 175 words per minute
    assert rms(speech) > 0.05  # silence is 0; eSpeak speaks around 0.1
    assert 80 < f0(speech) < 130  # en-us is a male voice around 100 Hz


def test_espeak_longer_text_lasts_longer(espeak: Any) -> None:
    short = espeak.speak(SpeechRequest("Hello."))
    line = espeak.speak(SpeechRequest(LINE))
    paragraph = espeak.speak(SpeechRequest(PARAGRAPH))
    assert short.seconds < line.seconds < paragraph.seconds
    assert paragraph.seconds > 3 * line.seconds


def test_espeak_speed_scales_duration(espeak: Any) -> None:
    normal = espeak.speak(SpeechRequest(PARAGRAPH)).seconds
    fast = espeak.speak(SpeechRequest(PARAGRAPH, speed=2.0)).seconds
    slow = espeak.speak(SpeechRequest(PARAGRAPH, speed=0.5)).seconds
    assert 0.4 < fast / normal < 0.6
    assert 1.7 < slow / normal < 2.3


def test_espeak_pitch_moves_the_fundamental_by_semitones(espeak: Any) -> None:
    base = espeak.speak(SpeechRequest(PARAGRAPH))
    for shift in (-4.0, 5.0, 12.0):  # +12 is past eSpeak's own reach: resampled the rest
        shifted = espeak.speak(SpeechRequest(PARAGRAPH, pitch=shift))
        assert abs(semitones(f0(shifted), f0(base)) - shift) < 1.0, shift
        assert abs(shifted.seconds / base.seconds - 1) < 0.1  # pitch keeps the length


def test_espeak_voices_and_variants_sound_different(espeak: Any) -> None:
    ids = {voice.id for voice in espeak.voices()}
    assert {"en-us", "en-gb", "fr-fr", "de", "es", "cmn", "en-us+f3", "en-us+m3"} <= ids
    male = espeak.speak(SpeechRequest(LINE, voice="en-us"))
    female = espeak.speak(SpeechRequest(LINE, voice="en-us+f3"))
    assert semitones(f0(female), f0(male)) > 6  # f3 speaks about an octave higher
    british = espeak.speak(SpeechRequest(LINE, voice="en-gb"))
    assert not np.array_equal(british.samples[:2000], male.samples[:2000])
    # Other codes a voice declares, any case, and any variant on any language.
    french = espeak.speak(SpeechRequest("Bonjour à tous.", voice="FR+F2"))
    assert rms(french) > 0.05
    assert espeak.provenance(SpeechRequest("Bonjour.", voice="fr"))["voice"] == "fr-fr"


def test_espeak_unknown_voice_names_valid_ones(espeak: Any) -> None:
    with pytest.raises(PipelineError, match="'klingon'") as info:
        espeak.speak(SpeechRequest(LINE, voice="klingon"))
    assert "en-us" in str(info.value)
    with pytest.raises(PipelineError, match=r"'en-us\+f99'.*en-us\+f"):
        espeak.speak(SpeechRequest(LINE, voice="en-us+f99"))
    with pytest.raises(PipelineError, match="'xx-nowhere'"):
        load_pipeline(
            PipelineEntry("bad", ("text-to-speech",), "espeak", defaults={"voice": "xx-nowhere"})
        )


def test_espeak_any_script_and_emoji_do_not_crash(espeak: Any) -> None:
    plain = espeak.speak(SpeechRequest("Hello world."))
    with_emoji = espeak.speak(SpeechRequest("Hello 😀 world. 🎉"))
    assert abs(with_emoji.seconds - plain.seconds) < 0.01  # emoji skipped silently
    only_emoji = espeak.speak(SpeechRequest("😀🎉👨‍👩‍👧"))
    assert 0 < only_emoji.seconds < 1 and rms(only_emoji) == 0  # a short silence
    assert rms(espeak.speak(SpeechRequest("مرحبا بالعالم", voice="ar"))) > 0.05
    assert rms(espeak.speak(SpeechRequest("你好，世界。今天天气很好！", voice="cmn"))) > 0.05
    assert espeak.speak(SpeechRequest("Привет, мир\x00\x07 ‽ ☃")).seconds > 0.5


def test_espeak_speaks_a_10000_character_line_in_chunks(espeak: Any) -> None:
    text = ("Keep walking, and do not look back at the house, whatever you hear. " * 150)[:10_000]
    progress: list[tuple[int, int]] = []
    speech = espeak.speak(SpeechRequest(text, speed=2.0), lambda d, n: progress.append((d, n)))
    total = progress[-1][1]
    assert total > 10 and progress == [(n, total) for n in range(1, total + 1)]
    assert speech.seconds > 240  # ~1,700 words at 350 words per minute


def test_espeak_stops_when_progress_raises(espeak: Any) -> None:
    def cancel(done: int, total: int) -> None:
        raise Cancelled(f"stopped at {done}/{total}")

    with pytest.raises(Cancelled, match="stopped at 1/"):
        espeak.speak(SpeechRequest(PARAGRAPH * 5), cancel)
    assert rms(espeak.speak(SpeechRequest(LINE))) > 0.05  # and it still speaks


def test_espeak_is_safe_from_several_threads(espeak: Any) -> None:
    """The library is one global state: concurrent lines must not mix voices or samples.

    (eSpeak keeps its pitch-flutter phase from line to line, so a repeated line may differ by
    a few milliseconds: lengths and loudness are compared, not samples.)"""
    requests = [
        SpeechRequest(LINE, voice=voice, speed=speed)
        for voice, speed in (("en-us", 1.0), ("fr-fr", 1.5), ("de+m3", 0.8), ("en-gb+f2", 1.2))
    ]
    alone = [espeak.speak(request) for request in requests]
    together: list[Any] = [None] * len(requests)

    def run(index: int) -> None:
        together[index] = espeak.speak(requests[index])

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(requests))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for one, other in zip(alone, together, strict=True):
        assert abs(other.seconds / one.seconds - 1) < 0.02
        assert abs(rms(one) / rms(other) - 1) < 0.05


def test_espeak_provenance_names_engine_voice_and_versions(espeak: Any) -> None:
    record = espeak.provenance(SpeechRequest(LINE, voice="en-us+f3", speed=2.0, pitch=12))
    assert record["engine"] == "espeak-ng" and record["library_version"].startswith("1.")
    assert record["revision"].startswith("espeakng-loader-")
    assert (record["voice"], record["espeak_voice"]) == ("en-us+f3", "gmw/en-US+f3")
    assert record["espeak_pitch"] == 99 and record["resampled_semitones"] == pytest.approx(3.2)
    assert record["rate_wpm"] < 350  # slower, for the resampling to shorten back to 2×


# -- transformers VITS (tiny random weights) ---------------------------------------------------


@pytest.fixture(scope="module")
def tiny_tts(tiny_catalogue: Catalogue) -> Any:
    return load_pipeline(tiny_catalogue.get("tiny-tts"))


def test_tiny_vits_loads_through_the_catalogue_and_speaks(
    tiny_catalogue: Catalogue, tiny_tts: Any
) -> None:
    entry = tiny_catalogue.get("tiny-tts")
    assert entry.implementation == "transformers-tts" and Path(entry.model_id).is_dir()
    assert "espeak" in tiny_catalogue.names()  # the studio's default voice works there too
    assert tiny_tts.loaded and tiny_tts.memory_bytes() > 0
    assert [voice.id for voice in tiny_tts.voices()] == ["default"]
    speech = tiny_tts.speak(SpeechRequest(LINE))
    assert speech.sample_rate == 16_000 and 1.0 < speech.seconds < 15.0
    assert rms(speech) > 0.02  # noise, but audible
    record = tiny_tts.provenance(SpeechRequest(LINE))
    assert record["model_id"] == entry.model_id and record["revision"].startswith("folder-")
    assert record["libraries"]["transformers"] and record["voice"] == "default"


def test_tiny_vits_is_reproducible_per_seed(tiny_tts: Any) -> None:
    first = tiny_tts.speak(SpeechRequest(LINE, seed=7)).samples
    again = tiny_tts.speak(SpeechRequest(LINE, seed=7)).samples
    other = tiny_tts.speak(SpeechRequest(LINE, seed=8)).samples
    assert np.array_equal(first, again)
    assert len(first) != len(other) or not np.allclose(first, other)


def test_tiny_vits_speed_changes_length(tiny_tts: Any) -> None:
    normal = tiny_tts.speak(SpeechRequest(LINE)).seconds
    assert tiny_tts.speak(SpeechRequest(LINE, speed=2.0)).seconds < 0.75 * normal
    assert tiny_tts.speak(SpeechRequest(LINE, speed=0.5)).seconds > 1.5 * normal


def test_tiny_vits_pitch_is_the_rate_changed_speech_resampled(tiny_tts: Any) -> None:
    """VITS has no pitch input: an octave up is the line synthesised at half the rate (twice
    as long) and resampled to twice the frequencies in the original length, and down the
    other way round; the noise of one seed is the same in both."""
    base = tiny_tts.speak(SpeechRequest(LINE, seed=5))
    up = tiny_tts.speak(SpeechRequest(LINE, seed=5, pitch=12))
    slow = tiny_tts.speak(SpeechRequest(LINE, seed=5, speed=0.5))
    assert np.allclose(up.samples, stretch(slow.samples, 2.0), atol=1e-5)
    down = tiny_tts.speak(SpeechRequest(LINE, seed=5, pitch=-12))
    fast = tiny_tts.speak(SpeechRequest(LINE, seed=5, speed=2.0))
    # Clipped as every Speech is: resampling overshoots a little at sharp edges.
    assert np.allclose(down.samples, np.clip(stretch(fast.samples, 0.5), -1, 1), atol=1e-5)
    for shifted in (up, down):
        assert abs(shifted.seconds / base.seconds - 1) < 0.2  # durations round to frames


def test_tiny_vits_chunks_long_text_and_stops_when_asked(tiny_tts: Any) -> None:
    text = " ".join([PARAGRAPH] * 3)  # over 400 characters: more than one chunk
    progress: list[tuple[int, int]] = []
    tiny_tts.speak(SpeechRequest(text), lambda d, n: progress.append((d, n)))
    assert len(progress) > 1 and progress[-1][0] == progress[-1][1] == len(progress)

    def cancel(done: int, total: int) -> None:
        raise Cancelled("stop")

    with pytest.raises(Cancelled):
        tiny_tts.speak(SpeechRequest(text), cancel)


def test_tiny_vits_unknown_voice_and_unsayable_text(tiny_tts: Any) -> None:
    with pytest.raises(PipelineError, match=r"'narrator'.*default"):
        tiny_tts.speak(SpeechRequest(LINE, voice="narrator"))
    silence = tiny_tts.speak(SpeechRequest("😀 你好"))  # nothing its vocabulary knows
    assert 0 < silence.seconds < 1 and rms(silence) == 0


def test_a_model_that_is_not_vits_is_refused(tiny_catalogue: Catalogue) -> None:
    gpt2 = tiny_catalogue.get("tiny-prompt-writer").model_id
    entry = dataclasses.replace(tiny_catalogue.get("tiny-tts"), model_id=gpt2)
    with pytest.raises(PipelineError, match=r"'gpt2' model.*VITS"):
        load_pipeline(entry)


def test_mms_without_its_weights_fails_clearly(tiny_catalogue: Catalogue) -> None:
    """No download tried: HF_HUB_OFFLINE is set for the session (conftest's offline_hub)."""
    entry = Catalogue.load().get("mms-tts-eng")
    assert entry.implementation == "transformers-tts" and entry.defaults["voice"] == "default"
    with pytest.raises(WeightsUnavailableError, match="HF_HUB_OFFLINE") as info:
        load_pipeline(entry)
    assert info.value.model_id == "facebook/mms-tts-eng"
    assert "hf download facebook/mms-tts-eng" in str(info.value)
