"""Voices: every line of a script spoken as a queued speech take, shots timed to their lines,
and films you can hear and read (audio at the lines' times, subtitles, loudness)."""

from __future__ import annotations

import wave
from collections.abc import Iterator
from pathlib import Path

import av
import numpy as np
import pyloudnorm
import pysubs2
import pytest
from PIL import Image

from studio import Studio
from studio.core.errors import InvalidInput, NotFound
from studio.core.models import JobStatus
from studio.core.voices import PAUSE_AFTER_LINE, Line, spoken_line

SCRIPT = """INT. KITCHEN - NIGHT

Anna stands by the window, rain on the glass.

ANNA
(quietly)
Where were you?

BEN
Out. Walking the dog down by the river.

The kettle clicks off.

NARRATOR (V.O.)
They never spoke of it again.
"""
FPS = 12


@pytest.fixture(scope="module")
def studio(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Studio]:
    with Studio.local(tmp_path_factory.mktemp("voices")) as local:
        yield local


@pytest.fixture(scope="module")
def spoken(studio: Studio) -> tuple[int, list]:
    """A project whose lines are spoken (and whose shots are then rendered)."""
    project = studio.create_project("Kitchen", height=72, fps=FPS)
    studio.breakdown(project.id, SCRIPT)
    jobs = studio.speak(project.id, wait=True, progress=False)
    return project.id, jobs


def _samples(path: Path) -> tuple[np.ndarray, int]:
    with wave.open(str(path), "rb") as wav:
        rate, frames = wav.getframerate(), wav.readframes(wav.getnframes())
    return np.frombuffer(frames, "<i2").astype(np.float32) / 32768, rate


def _film_audio(path: Path) -> tuple[np.ndarray, int]:
    """The film's audio track as (channels × samples) float samples."""
    with av.open(str(path)) as container:
        stream = container.streams.audio[0]
        chunks = [f.to_ndarray() for f in container.decode(stream)]
        rate = stream.codec_context.sample_rate
    return np.concatenate(chunks, axis=1), rate


def _rms(samples: np.ndarray) -> float:
    return float(np.sqrt(np.mean(np.square(samples)))) if samples.size else 0.0


def test_every_line_of_a_script_becomes_a_speech_take_and_times_its_shot(
    studio: Studio,
    spoken: tuple[int, list],
) -> None:
    project_id, jobs = spoken
    shots = studio.shots(project_id)
    with_lines = [s for s in shots if spoken_line(s.dialogue)]
    assert [spoken_line(s.dialogue).text for s in with_lines] == [  # type: ignore[union-attr]
        "Where were you?",
        "Out. Walking the dog down by the river.",
        "They never spoke of it again.",
    ]
    assert len(jobs) == len(with_lines) == 3
    assert all(j.status == JobStatus.succeeded.value for j in jobs), [j.error for j in jobs]
    by_shot = {j.shot_id: j for j in jobs}
    for shot in with_lines:
        job = by_shot[shot.id]
        artifact = studio.artifact(job.artifact_id)
        assert artifact.content_type == "audio/wav"
        samples, rate = _samples(studio.artifact_path(job.artifact_id))
        seconds = len(samples) / rate
        assert seconds > 0.5 and _rms(samples) > 0.02  # audible speech, not silence
        assert artifact.provenance["speech"]["seconds"] == pytest.approx(seconds, abs=1e-3)
        # The shot lasts as long as its line, from its offset, and a breath after it.
        assert shot.chosen_line_id == job.id
        assert shot.duration == pytest.approx(
            shot.line_offset + seconds + PAUSE_AFTER_LINE, abs=0.01
        )
        assert [t.id for t in studio.lines(shot.id)] == [job.id]
    # The longer line lasts longer.
    durations = [s.duration for s in with_lines]
    assert durations[1] > durations[0]


def test_speakers_use_their_members_voices_and_others_the_narrator(studio: Studio) -> None:
    project = studio.create_project("Voices", height=72, fps=FPS, narrator_voice="en-gb")
    studio.breakdown(project.id, SCRIPT)
    ben = next(m for m in studio.cast(project.id) if m.name == "BEN")
    studio.update_cast_member(ben.id, voice="en-us", voice_speed=1.5, voice_pitch=-4)
    anna = next(m for m in studio.cast(project.id) if m.name == "ANNA")
    studio.delete_cast_member(anna.id)  # ANNA is no longer in the cast: the narrator speaks
    jobs = studio.speak(project.id, wait=True, progress=False)
    requests = {j.params["speaker"]: j.params["request"] for j in jobs}
    assert requests["BEN"] | {"text": ""} == {
        "text": "",
        "voice": "en-us",
        "speed": 1.5,
        "pitch": -4.0,
        "seed": requests["BEN"]["seed"],
    }
    assert requests["ANNA"]["voice"] == "en-gb"  # the narrator's voice
    assert all(j.status == JobStatus.succeeded.value for j in jobs), [j.error for j in jobs]


def test_a_line_is_its_words_without_directions_spoken_by_the_named_speaker() -> None:
    assert spoken_line("ANNA: [quietly] Where were you?") == Line("ANNA", "Where were you?")
    assert spoken_line("ANNA (V.O.): We never spoke of it.") == Line(
        "ANNA", "We never spoke of it."
    )
    assert spoken_line("Note: the kettle clicks.") == Line("", "Note: the kettle clicks.")
    assert spoken_line("MARA: [sighs]") is None and spoken_line("") is None
    assert spoken_line("BEN: ¿Qué tal? مرحبا") == Line("BEN", "¿Qué tal? مرحبا")


def test_a_pinned_duration_stays_and_an_unpinned_one_follows_the_offset(studio: Studio) -> None:
    project = studio.create_project("Pinned", height=72, fps=FPS)
    first, second = (
        studio.add_shot(project.id, "Anna at the window", dialogue="ANNA: Where were you?"),
        studio.add_shot(project.id, "Ben at the door", dialogue="BEN: Out walking."),
    )
    pinned = studio.update_shot(first.id, duration=6.0)
    assert pinned.duration_pinned
    studio.speak(project.id, wait=True, progress=False)
    assert studio.shot(first.id).duration == 6.0
    followed = studio.shot(second.id)
    assert followed.duration < 6.0
    later = studio.update_shot(second.id, line_offset=1.3)
    assert later.duration == pytest.approx(followed.duration + 1.0, abs=0.01)


def test_another_take_of_a_line_with_a_new_seed_is_used_and_the_same_seed_is_cached(
    studio: Studio,
) -> None:
    project = studio.create_project("Retake", height=72)
    shot = studio.add_shot(project.id, "Ben", dialogue="BEN: Out walking.")
    (first,) = studio.speak(project.id, wait=True, progress=False)
    (second,) = studio.speak(project.id, seed=12345, wait=True, progress=False)
    assert second.id != first.id and not second.cache_hit
    assert studio.shot(shot.id).chosen_line_id == second.id  # the choice followed the newest
    (again,) = studio.speak(project.id, seed=12345, wait=True, progress=False)
    assert again.cache_hit  # the same words, voice and seed: served, not spoken again
    with pytest.raises(InvalidInput, match="Seed"):
        studio.speak(project.id, seed=-1)


def test_a_voice_preview_is_a_queued_wav_in_the_members_voice(studio: Studio) -> None:
    project = studio.create_project("Preview", height=72)
    member = studio.add_cast_member(project.id, "Mara", voice="en-gb", voice_pitch=5)
    job = studio.preview_voice(project.id, "Hello there.", member_id=member.id)
    assert job.status == JobStatus.succeeded.value, job.error
    assert job.params["request"]["voice"] == "en-gb" and job.params["request"]["pitch"] == 5
    samples, _rate = _samples(studio.artifact_path(job.artifact_id))  # type: ignore[arg-type]
    assert _rms(samples) > 0.02
    lower = studio.preview_voice(project.id, "Hello there.", member_id=member.id, pitch=-5)
    assert lower.params_hash != job.params_hash
    assert studio.artifact(lower.artifact_id).sha256 != studio.artifact(job.artifact_id).sha256  # type: ignore[arg-type]
    assert job.shot_id is None  # a preview is no shot's line


def test_bad_voices_and_lines_are_refused_with_clear_messages(studio: Studio) -> None:
    project = studio.create_project("Bad", height=72)
    silent = studio.add_shot(project.id, "An empty room")
    talker = studio.add_shot(project.id, "Mara", dialogue="MARA: [sighs]")
    with pytest.raises(InvalidInput, match="has a line to speak"):
        studio.speak(project.id, [silent.id, talker.id])  # a direction is not a line
    with pytest.raises(NotFound):
        studio.speak(project.id, [999_999])
    member = studio.add_cast_member(project.id, "Ben", voice="xx-nowhere")
    studio.update_shot(talker.id, dialogue="BEN: Hello.")
    with pytest.raises(InvalidInput, match=r"no voice 'xx-nowhere'.*en-us") as error:
        studio.speak(project.id)
    assert error.value.field == "voice"
    with pytest.raises(InvalidInput, match="not a voice engine"):
        studio.update_cast_member(member.id, voice_engine="draft")
    with pytest.raises(InvalidInput, match="not a voice id"):
        studio.update_cast_member(member.id, voice="en us; rm -rf")
    with pytest.raises(InvalidInput, match="Voice speed"):
        studio.update_cast_member(member.id, voice_speed=3)
    with pytest.raises(InvalidInput, match="no words"):
        studio.preview_voice(project.id, "🙂 🎬")
    with pytest.raises(InvalidInput, match="limit is 2000"):
        studio.preview_voice(project.id, "word " * 2000)
    with pytest.raises(InvalidInput, match="not a voice engine"):
        studio.update_project(project.id, speech_pipeline="draft")
    assert not [j for j in studio.jobs(project.id) if j.kind == "speech"]  # nothing queued


def test_unicode_and_right_to_left_lines_are_spoken(studio: Studio) -> None:
    project = studio.create_project("Unicode", height=72)
    job = studio.preview_voice(project.id, "مرحبا بالعالم — ¿qué tal? 🙂", voice="ar")
    assert job.status == JobStatus.succeeded.value, job.error
    samples, _rate = _samples(studio.artifact_path(job.artifact_id))  # type: ignore[arg-type]
    assert _rms(samples) > 0.02


def test_the_film_speaks_each_line_inside_its_subtitle_cue(
    studio: Studio,
    spoken: tuple[int, list],
    tmp_path: Path,
) -> None:
    project_id, _jobs = spoken
    studio.render(project_id, wait=True, progress=False)
    film = studio.assemble(project_id, title="", wait=True, progress=False)
    assert film.status == JobStatus.succeeded.value, film.error
    path = studio.artifact_path(film.artifact_id)  # type: ignore[arg-type]
    artifact = studio.artifact(film.artifact_id)  # type: ignore[arg-type]
    with av.open(str(path)) as container:
        video = container.streams.video[0]
        film_seconds = float(video.duration * video.time_base)  # type: ignore[operator]
        assert container.streams.audio and container.streams.subtitles
        audio = container.streams.audio[0]
        audio_seconds = float(audio.duration * audio.time_base)  # type: ignore[operator]
    assert audio_seconds == pytest.approx(film_seconds, abs=1 / FPS)

    # SRT and WebVTT are attached to the film, with one cue per line at the line's time.
    attachments = artifact.provenance["attachments"]
    srt = pysubs2.load(str(studio.artifact_path(attachments["srt"])))
    vtt = pysubs2.load(str(studio.artifact_path(attachments["vtt"])))
    shots = studio.shots(project_id)
    starts, at = {}, 0.0
    for shot in shots:
        starts[shot.id] = at
        at += round(shot.duration * FPS) / FPS  # the draft's clip: whole frames
    expected = [
        (starts[s.id] + s.line_offset, spoken_line(s.dialogue).text)  # type: ignore[union-attr]
        for s in shots
        if spoken_line(s.dialogue)
    ]
    assert [e.plaintext for e in srt] == [text for _, text in expected]
    assert [e.plaintext for e in vtt] == [text for _, text in expected]
    for event, (start, _text) in zip(srt, expected, strict=True):
        assert event.start / 1000 == pytest.approx(start, abs=1 / FPS)

    # Each line is heard inside its cue and nothing is heard outside the cues (no music).
    channels, rate = _film_audio(path)
    samples = channels.mean(axis=0)
    inside = np.zeros(len(samples), bool)
    for event in srt:
        window = samples[int(event.start / 1000 * rate) : int(event.end / 1000 * rate)]
        assert _rms(window) > 0.02, event.plaintext
        inside[int(event.start / 1000 * rate) : int(event.end / 1000 * rate)] = True
    assert _rms(samples[~inside]) < 0.003
    # Loudness normalised to the web target (−16 LUFS integrated), without clipping.
    meter = pyloudnorm.Meter(rate)  # BS.1770 over both channels, as players measure it
    assert meter.integrated_loudness(channels.T.astype(np.float64)) == pytest.approx(-16, abs=1)
    assert np.max(np.abs(channels)) < 1.0
    assert artifact.provenance["params"]["unspoken"] == []


def test_a_line_edited_after_it_was_spoken_is_left_out_until_spoken_again(
    studio: Studio,
) -> None:
    project = studio.create_project("Edited", height=72, fps=FPS)
    shot = studio.add_shot(project.id, "Anna", dialogue="ANNA: Where were you?", duration=1)
    studio.speak(project.id, wait=True, progress=False)
    studio.update_shot(shot.id, dialogue="ANNA: Where have you been?")
    studio.render(project.id, wait=True, progress=False)
    film = studio.assemble(project.id, wait=True, progress=False)
    assert film.status == JobStatus.succeeded.value, film.error
    assert film.params["lines"] == [] and film.params["unspoken"] == [1]
    studio.speak(project.id, wait=True, progress=False)
    studio.render(project.id, wait=True, progress=False)
    again = studio.assemble(project.id, wait=True, progress=False)
    assert [line["text"] for line in again.params["lines"]] == ["Where have you been?"]


def _noise_wav(path: Path, seconds: float = 0.7, rate: int = 22_050) -> Path:
    samples = np.random.default_rng(1).uniform(-0.3, 0.3, int(seconds * rate))
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes((samples * 32767).astype("<i2").tobytes())
    return path


def test_a_sound_under_a_shot_is_heard_under_that_shot_only(studio: Studio, tmp_path: Path) -> None:
    project = studio.create_project("Rain", height=72, fps=FPS)
    quiet = studio.add_shot(project.id, "An empty room", duration=1.0)
    rainy = studio.add_shot(project.id, "Rain on the window", duration=1.5)
    rain = _noise_wav(tmp_path / "rain.wav")  # shorter than the shot: it loops
    shot = studio.set_shot_sound(rainy.id, rain, gain_db=-6)
    assert shot.sound_artifact_id is not None and shot.sound_gain_db == -6
    assert studio.artifact(shot.sound_artifact_id).content_type == "audio/wav"
    assert studio.shot(quiet.id).sound_artifact_id is None
    studio.render(project.id, wait=True, progress=False)
    film = studio.assemble(project.id, title="", wait=True, progress=False)
    assert film.status == JobStatus.succeeded.value, film.error
    assert film.params["sounds"][0]["clip"] == 1 and film.params["sounds"][0]["gain_db"] == -6
    channels, rate = _film_audio(studio.artifact_path(film.artifact_id))  # type: ignore[arg-type]
    samples = channels.mean(axis=0)
    assert _rms(samples[: int(0.9 * rate)]) < 0.003  # shot 1: silence
    assert _rms(samples[int(1.1 * rate) : int(2.4 * rate)]) > 0.02  # shot 2: the rain, looped

    # Not a sound: refused, nothing changed.
    picture = tmp_path / "rain.wav"
    Image.new("RGB", (8, 8)).save(picture, format="PNG")  # a picture named like a sound
    with pytest.raises(InvalidInput, match=r"rain\.wav has no audio stream") as error:
        studio.set_shot_sound(quiet.id, picture)
    assert error.value.field == "sound"
    with pytest.raises(InvalidInput, match="not an audio file"):
        studio.set_shot_sound(quiet.id, b"\x89PNG\r\n\x1a\n" + bytes(64))
    with pytest.raises(InvalidInput, match="Sound gain"):
        studio.update_shot(rainy.id, sound_gain_db=30)
    assert studio.shot(quiet.id).sound_artifact_id is None
    cleared = studio.clear_shot_sound(rainy.id)
    assert cleared.sound_artifact_id is None
    silent = studio.assemble(project.id, title="", wait=True, progress=False)
    with av.open(str(studio.artifact_path(silent.artifact_id))) as container:  # type: ignore[arg-type]
        assert not container.streams.audio  # nothing to hear: no audio track


def test_an_exported_film_cut_carries_its_lines_sounds_and_music(
    studio: Studio, spoken: tuple[int, list], tmp_path: Path
) -> None:
    """The cut handed to an editing suite has the film's sound on their own tracks, at the
    times the film plays them (docs/handoff.md)."""
    import io
    import zipfile

    import opentimelineio as otio

    project_id, _jobs = spoken
    studio.render(project_id, wait=True, progress=False)
    shots = studio.shots(project_id)
    studio.set_shot_sound(shots[0].id, _noise_wav(tmp_path / "room.wav"))
    music = _noise_wav(tmp_path / "music.wav", seconds=2.0)
    film = studio.assemble(project_id, title="", audio=music, wait=True, progress=False)
    assert film.status == JobStatus.succeeded.value, film.error
    bundle = zipfile.ZipFile(
        io.BytesIO(studio.artifact_path(studio.export_cut(project_id, film.id).id).read_bytes())
    )
    (name,) = [n for n in bundle.namelist() if n.endswith(".otio")]
    timeline = otio.adapters.read_from_string(bundle.read(name).decode(), "otio_json")
    tracks = {t.name: t for t in timeline.audio_tracks()}
    assert {"Dialogue", "Effects", "Music"} <= set(tracks)
    lines = [c for c in tracks["Dialogue"].find_clips()]
    assert [c.name for c in lines] == [line["text"] for line in film.params["lines"]]
    edit = studio.timeline(project_id)
    starts = {c.shot_id: c.start for c in edit.clips}
    # The timeline's own tracks say the same: each line at its shot's start + offset.
    spoken_items = [s for s in edit.sounds if s.track == "dialogue"]
    assert [s.text for s in spoken_items] == [line["text"] for line in film.params["lines"]]
    for item in spoken_items:
        shot = studio.shot(item.shot_id)  # type: ignore[arg-type]
        assert item.start == pytest.approx(starts[shot.id] + shot.line_offset, abs=0.002)
        assert item.end > item.start
    assert [s.shot_id for s in edit.sounds if s.track == "effects"] == [shots[0].id]
    for clip, line in zip(lines, film.params["lines"], strict=True):
        at = tracks["Dialogue"].range_of_child(clip).start_time.to_seconds()
        expected = starts[film.params["takes"][line["clip"]]["shot_id"]] + line["offset"]
        assert at == pytest.approx(expected, abs=1 / FPS)
        assert clip.media_reference.target_url in bundle.namelist()
    (room,) = tracks["Effects"].find_clips()
    assert tracks["Effects"].range_of_child(room).start_time.to_seconds() == pytest.approx(0)
    (score,) = tracks["Music"].find_clips()
    assert score.duration().to_seconds() == pytest.approx(timeline.duration().to_seconds(), abs=0.1)
    studio.clear_shot_sound(shots[0].id)
