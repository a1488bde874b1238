"""The Voices tab's handlers, as a creator uses them: a voice saved and previewed, the lines
spoken, an older spoken take chosen, a line's timing pinned, a sound put under a shot."""

from __future__ import annotations

import wave
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from studio import Studio
from studio.ui import build_ui
from tests.studio.test_ui_accounts import UI, as_, output

SCRIPT = """EXT. PRAIRIE RAILWAY - DAY

MARA (40s, weathered coat) steps off a rusted handcar.

MARA
Where is everyone?

TOMAS
Gone. They all left on the last train.
"""


def progress(*_args: Any, **_kwargs: Any) -> None:
    """Stands in for gr.Progress outside a running app (it only shows a bar)."""


@pytest.fixture
def studio(tmp_path: Path) -> Iterator[Studio]:
    with Studio.local(tmp_path / "data") as local:  # with its render thread
        yield local


@pytest.fixture
def ui(studio: Studio) -> UI:
    return UI(build_ui(studio))


def test_a_creator_voices_times_and_scores_the_lines(
    ui: UI, studio: Studio, tmp_path: Path
) -> None:
    me = as_(None)
    pid = int(ui("create_project")("Rails", me)[0].value)
    ui("script_tab.on_breakdown")(pid, SCRIPT, me)
    mara = next(m for m in studio.cast(pid) if m.name == "MARA")
    tomas = next(m for m in studio.cast(pid) if m.name == "TOMAS")
    assert mara.voice_pitch != tomas.voice_pitch  # two characters never share a voice

    saved = ui("voices_tab.on_save")(pid, str(mara.id), "espeak", "en-gb", 0.9, 2, me)
    assert saved[0] == "Saved Mara's voice: speak the lines again to hear it."
    rows = output(ui, "voices_tab.on_save", saved, "lines-table")
    assert [row[1:5] for row in rows] == [
        ["Mara", "Where is everyone?", "espeak en-gb ×0.9 +2 st", "not yet"],
        [
            "Tomas",
            "Gone. They all left on the last train.",
            "espeak default voice +4 st",
            "not yet",
        ],
    ]

    audio, note = ui("voices_tab.on_preview")(
        pid, str(mara.id), "espeak", "en-gb", 0.9, 2, "Hello there.", me, progress
    )
    with wave.open(audio, "rb") as heard:
        assert heard.getnframes() > 0.3 * heard.getframerate()
    assert note.startswith("Preview: ")

    spoken = ui("voices_tab.on_speak")(pid, me, progress)
    assert spoken[0].startswith("Lines: 2 succeeded")
    rows = output(ui, "voices_tab.on_speak", spoken, "lines-table")
    assert all(row[4].startswith("yes (job #") for row in rows)

    # A new voice, spoken again: the new take is used; the creator goes back to the first.
    line_shot = next(s for s in studio.shots(pid) if s.dialogue.startswith("MARA"))
    (first,) = studio.lines(line_shot.id)
    ui("voices_tab.on_save")(pid, str(mara.id), "espeak", "en-us", 1.2, 0, me)
    ui("voices_tab.on_speak")(pid, me, progress)
    newer = studio.lines(line_shot.id)[0]
    assert newer.id != first.id and studio.shot(line_shot.id).chosen_line_id == newer.id
    used = ui("voices_tab.on_use_take")(pid, line_shot.id, first.id, me)
    assert used[0].startswith(f"The film uses line #{first.id} now")
    assert studio.shot(line_shot.id).chosen_line_id == first.id
    take_choices = output(ui, "voices_tab.on_use_take", used, "line-take")
    assert take_choices.value == first.id
    assert any(label.endswith("(chosen)") for label, _id in take_choices.choices)

    # Another take of the same words (a new seed) becomes the one the film uses.
    again = ui("voices_tab.on_new_take")(pid, line_shot.id, me, progress)
    assert again[0].startswith("New take: 1 succeeded")
    takes = studio.lines(line_shot.id)
    assert len(takes) == 3 and takes[0].params["request"]["seed"] != first.params["request"]["seed"]
    assert studio.shot(line_shot.id).chosen_line_id == first.id  # a pick of an older one stays

    timed = ui("voices_tab.on_timing")(pid, line_shot.id, 1.0, True, me)
    assert "(pinned)" in timed[0]
    assert studio.shot(line_shot.id).duration_pinned

    rain = tmp_path / "rain.wav"
    with wave.open(str(rain), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(22_050)
        noise = np.random.default_rng(0).uniform(-0.3, 0.3, 22_050)
        out.writeframes((noise * 32767).astype("<i2").tobytes())
    sounded = ui("voices_tab.on_sound")(pid, line_shot.id, str(rain), -6, me)
    assert output(ui, "voices_tab.on_sound", sounded, "sound-state").startswith("Sound: rain.wav")
    assert studio.shot(line_shot.id).sound_gain_db == -6
    cleared = ui("voices_tab.on_clear_sound")(pid, line_shot.id, me)
    assert output(ui, "voices_tab.on_clear_sound", cleared, "sound-state") == "No sound."
