"""Script breakdown: screenplay and prose in, shot drafts out."""

from __future__ import annotations

import pytest

from pipelines.requests import CAMERA_MOVES, SHOT_SIZES
from studio.film.breakdown import (
    MAX_SCRIPT_CHARS,
    MAX_SHOTS,
    ScriptError,
    ShotDraft,
    break_down,
    decode_script,
)

SCREENPLAY = """\
FADE IN:

INT. KITCHEN - NIGHT

Rain hammers the window. ANNA (30s), soaked, stands at the open fridge.

Silence. She closes the door.

CLOSE ON: her hand trembling on the handle.

BEN (O.S.)
Anna? Is that you?

ANNA
(quietly)
Where were you?

The camera pans left to reveal Ben in the doorway. He pulls back his hood.

BEN
I waited. Three hours.

CUT TO:

EXT. HARBOR - DAWN

Aerial shot of the harbor, fishing boats leaving in a line.

Wide on the pier. Anna walks alone to the end. PUSH IN.

FADE OUT.
"""


def _one(text: str) -> ShotDraft:
    shots = break_down(text)
    assert len(shots) == 1, shots
    return shots[0]


# ------------------------------------------------------------------------- screenplay


def test_screenplay_becomes_a_storyboard() -> None:
    shots = break_down(SCREENPLAY)
    summary = [(s.shot_size, s.camera_move, s.dialogue, s.characters) for s in shots]
    assert summary == [
        ("wide", "static", "", ()),  # establishing: first shot of the scene
        ("medium", "static", "", ("ANNA",)),
        ("medium", "static", "", ()),  # "Silence." grouped with the next sentence
        ("close-up", "static", "", ()),
        ("medium", "static", "BEN: Anna? Is that you?", ("BEN",)),  # off screen
        ("close-up", "static", "ANNA: [quietly] Where were you?", ("ANNA",)),
        ("medium", "pan-left", "", ("BEN",)),
        ("medium", "static", "", ()),  # "pulls back his hood" is acting, not a camera move
        ("close-up", "static", "BEN: I waited. Three hours.", ("BEN",)),
        ("extreme-wide", "static", "", ()),
        ("wide", "dolly-in", "", ("ANNA",)),  # trailing "PUSH IN." applies to this shot
    ]
    assert [s.scene for s in shots] == ["INT. KITCHEN - NIGHT"] * 9 + ["EXT. HARBOR - DAWN"] * 2
    assert shots[0].prompt == "kitchen, night, Rain hammers the window"
    assert shots[2].prompt == "kitchen, night, Silence. She closes the door"
    assert shots[3].prompt == "kitchen, night, Her hand trembling on the handle"
    assert shots[6].prompt == "kitchen, night, Ben in the doorway"
    assert shots[9].prompt == "harbor, dawn, The harbor, fishing boats leaving in a line"
    assert shots[10].prompt == "harbor, dawn, The pier. Anna walks alone to the end"


def test_no_transition_heading_or_cue_leaks_into_prompts() -> None:
    for shot in break_down(SCREENPLAY):
        for word in ("FADE", "CUT TO", "INT.", "EXT.", "(O.S.)", "PUSH IN", "CLOSE ON", "pans"):
            assert word not in shot.prompt, (word, shot)
        assert shot.shot_size in SHOT_SIZES and shot.camera_move in CAMERA_MOVES


def test_dialogue_shot_describes_the_speaker_and_times_the_words() -> None:
    script = "INT. CAR - DAY\n\nTom drives.\n\nMARY (CONT'D)\n(smiling)\nOne two three four five.\n"
    shots = break_down(script)
    line = shots[1]
    assert line.dialogue == "MARY: [smiling] One two three four five."
    assert line.characters == ("MARY",)
    assert line.prompt == "car, day, Mary speaking, smiling"
    assert line.shot_size == "close-up"
    assert line.duration == pytest.approx(1.0 + 5 / 2.5)  # parenthetical words not spoken
    inline = break_down("BOB\nFine. (a long beat, he looks away) Whatever.")[0]
    assert inline.dialogue == "BOB: Fine. [a long beat, he looks away] Whatever."
    assert inline.duration == pytest.approx(1.0 + 2 / 2.5)


def test_scene_heading_hint_and_numbering() -> None:
    shot = _one("12 int. house - upstairs hallway - continuous 12\nA door creaks open slowly.")
    assert shot.scene == "INT. HOUSE - UPSTAIRS HALLWAY - CONTINUOUS"
    assert shot.prompt == "house, upstairs hallway, A door creaks open slowly"
    assert _one("I/E. CAR - NIGHT\n\nWipers beat.").prompt == "car, night, Wipers beat"
    room = _one("EXT. ROOM 101 - DAY #7#\n\nSmoke drifts past.")
    assert (room.scene, room.prompt) == ("EXT. ROOM 101 - DAY", "room 101, day, Smoke drifts past")


def test_characters_named_in_action_across_scenes() -> None:
    script = (
        "INT. OFFICE - DAY\n\nDR. LEE\nSit down.\n\n"
        "EXT. STREET - DAY\n\nDr. Lee hails a cab while anna waits. DR. LEE gets in."
    )
    shots = break_down(script)
    assert shots[-1].characters == ("DR. LEE",)  # lowercase "anna" is not a cue anyway
    assert shots[-2].characters == ("DR. LEE",)


# ------------------------------------------------------------------------------- prose


def test_plain_prose_one_shot_per_sentence() -> None:
    prose = (
        "The old lighthouse stood at the edge of the cliff. Waves broke against the rocks.\n"
        "A girl climbs the spiral stairs, holding a lantern. Wind. Darkness.\n\n"
        "At the top, Mr. Hale sleeps in a chair."
    )
    shots = break_down(prose)
    assert [s.prompt for s in shots] == [
        "The old lighthouse stood at the edge of the cliff",
        "Waves broke against the rocks",
        "A girl climbs the spiral stairs, holding a lantern. Wind. Darkness",
        "At the top, Mr. Hale sleeps in a chair",
    ]
    assert [s.shot_size for s in shots] == ["wide", "medium", "medium", "medium"]
    assert {s.scene for s in shots} == {""}
    assert all(s.dialogue == "" and s.characters == () for s in shots)


# ------------------------------------------------------------------ direction words


@pytest.mark.parametrize(
    ("sentence", "size", "move", "prompt"),
    [
        ("Extreme close-up of her eye.", "extreme-close-up", "static", "Her eye"),
        ("ECU - the fuse burns.", "extreme-close-up", "static", "The fuse burns"),
        ("A close-up of the ring on her finger.", "close-up", "static", "The ring on her finger"),
        ("Close up on the clock.", "close-up", "static", "The clock"),
        ("CU: a ticking watch.", "close-up", "static", "A ticking watch"),
        ("Medium shot: two men argue.", "medium", "static", "Two men argue"),
        ("MS - the clerk counts coins.", "medium", "static", "The clerk counts coins"),
        ("Long shot of a lone rider.", "wide", "static", "A lone rider"),
        ("Establishing shot of the castle.", "wide", "static", "The castle"),
        ("Extreme wide of the desert.", "extreme-wide", "static", "The desert"),
        ("AERIAL - the city at night.", "extreme-wide", "static", "The city at night"),
        ("The camera pans right across the empty street.", "wide", "pan-right", "The empty street"),
        ("Tilt up to the stars.", "wide", "tilt-up", "The stars"),
        ("Tilt down to the puddle.", "wide", "tilt-down", "The puddle"),
        ("We dolly in on the sleeping child.", "wide", "dolly-in", "The sleeping child"),
        ("Dolly out from the window.", "wide", "dolly-out", "From the window"),
        ("Slow push in on Anna.", "wide", "dolly-in", "Anna"),
        ("Pull back to reveal the crowd.", "wide", "dolly-out", "The crowd"),
        ("Zoom in on the photo.", "wide", "zoom-in", "The photo"),
        ("Zoom out to reveal the valley.", "wide", "zoom-out", "The valley"),
        ("The camera follows a dog down the alley.", "wide", "dolly-in", "A dog down the alley"),
        (
            "TRACKING - a bike weaves through traffic.",
            "wide",
            "dolly-in",
            "A bike weaves through traffic",
        ),
        ("ANGLE ON the locked door.", "wide", "static", "The locked door"),
    ],
)
def test_direction_words_set_the_shot_and_leave_the_prompt(
    sentence: str, size: str, move: str, prompt: str
) -> None:
    shot = _one(sentence)
    assert (shot.shot_size, shot.camera_move, shot.prompt) == (size, move, prompt)


@pytest.mark.parametrize(
    "sentence",
    [
        "Her eyes go wide with fear.",
        "She pulls back her hand from the stove.",
        "They close up the shop for the night.",
        "An aerial photograph hangs on the wall.",
        "Following the storm, the town is quiet.",
        "The MEDIUM-sized dog barks twice.",
        "Ms. Dalton pans left and right for gold in the river.",
    ],
)
def test_ordinary_words_are_not_directions(sentence: str) -> None:
    shot = break_down(f"INT. ROOM - DAY\n\nA lamp glows.\n\n{sentence}")[1]
    assert (shot.shot_size, shot.camera_move) == ("medium", "static")
    assert shot.prompt == "room, day, " + sentence.rstrip(".")


def test_direction_alone_applies_to_the_next_shot() -> None:
    shots = break_down("INT. HALL - DAY\n\nA clock ticks.\n\nCLOSE UP.\n\nANNA\nNow.\n")
    assert shots[1].dialogue == "ANNA: Now."
    assert shots[1].shot_size == "close-up"
    shots = break_down("A clock ticks loudly.\n\nZOOM OUT.\n\nThe hall is empty and cold.")
    assert [s.camera_move for s in shots] == ["static", "zoom-out"]


# ----------------------------------------------------------------------------- durations


def test_durations_grow_with_words_and_are_clamped() -> None:
    short, medium, long = (
        _one(text).duration
        for text in (
            "Snow falls.",
            "A fox crosses the frozen lake at dawn.",
            " ".join(["word"] * 60),
        )
    )
    assert short == 2.5  # 2 s + 0.25 s/word
    assert medium == 4.0
    assert long == 8.0  # clamped
    blurt = break_down("INT. A - DAY\n\nBOB\nNo.\n")[0]
    speech = break_down("INT. A - DAY\n\nBOB\n" + "blah " * 100 + "\n")[0]
    assert blurt.duration == 1.5
    assert speech.duration == 12.0


# ------------------------------------------------------------------------------- seeds


def test_breakdown_is_deterministic() -> None:
    assert break_down(SCREENPLAY) == break_down(SCREENPLAY)
    seeds = [s.seed for s in break_down(SCREENPLAY)]
    assert all(0 <= s < 2**31 for s in seeds)
    assert len(set(seeds)) == len(seeds)
    other = [s.seed for s in break_down(SCREENPLAY, base_seed=7)]
    assert not set(seeds) & set(other)


def test_editing_one_shot_changes_only_its_seed() -> None:
    before = break_down(SCREENPLAY)
    edited = SCREENPLAY.replace("Rain hammers the window.", "Hail rattles the window.")
    after = break_down(edited)
    changed = [i for i, (a, b) in enumerate(zip(before, after, strict=True)) if a.seed != b.seed]
    assert changed == [0]
    inserted = break_down(SCREENPLAY.replace("Silence.", "A dog barks outside.\n\nSilence."))
    assert len(inserted) == len(before) + 1
    assert [s.seed for s in inserted if s.prompt != "kitchen, night, A dog barks outside"] == [
        s.seed for s in before
    ]


def test_repeated_identical_shots_get_different_seeds() -> None:
    shots = break_down("The bell rings twice.\n\nThe bell rings twice.")
    assert shots[0].prompt == shots[1].prompt
    assert shots[0].seed != shots[1].seed


# ----------------------------------------------------------------------- input and errors


@pytest.mark.parametrize("text", ["", "   \n\t\n  "])
def test_empty_script_is_refused(text: str) -> None:
    with pytest.raises(ScriptError, match="empty"):
        break_down(text)


def test_only_headings_and_transitions_is_refused() -> None:
    with pytest.raises(ScriptError, match="No shots"):
        break_down("FADE IN:\n\nINT. KITCHEN - NIGHT\n\nCUT TO:\n")


def test_too_long_script_names_size_and_limit() -> None:
    text = "A cat sleeps. " * 75_000  # ~1 MB
    with pytest.raises(ScriptError) as err:
        break_down(text)
    assert f"{len(text):,}" in str(err.value) and f"{MAX_SCRIPT_CHARS:,}" in str(err.value)
    with pytest.raises(ScriptError, match=f"{MAX_SCRIPT_CHARS:,}"):
        decode_script(text.encode() * 2)


def test_too_many_shots_is_refused_with_the_limit() -> None:
    ok = "\n\n".join(f"Shot number {i} shows a tree." for i in range(MAX_SHOTS))
    assert len(break_down(ok)) == MAX_SHOTS
    with pytest.raises(ScriptError, match=str(MAX_SHOTS)):
        break_down(ok + "\n\nOne more tree appears.")


def test_decode_rejects_non_utf8_naming_the_offset() -> None:
    data = "INT. CAFÉ - DAY\n\nRain.".encode() + b"\xff\xfe caf\xe9"
    bad = data.index(b"\xff")
    with pytest.raises(ScriptError, match="not UTF-8") as err:
        decode_script(data)
    assert f"byte offset {bad} " in str(err.value)
    with pytest.raises(ScriptError, match="offset 0"):
        decode_script("Rain falls.".encode("utf-16"))


def test_decode_accepts_bom_and_normalises_newlines() -> None:
    data = "\ufeffINT. CAFÉ - DAY\r\n\r\nRain falls.\r\nA waiter sighs.\rEnd.".encode()
    text = decode_script(data)
    assert text == "INT. CAFÉ - DAY\n\nRain falls.\nA waiter sighs.\nEnd."
    crlf = break_down("INT. CAFÉ - DAY\r\n\r\nRain falls on the awning.\r\n")
    assert crlf[0].prompt == "café, day, Rain falls on the awning"


def test_control_characters_are_stripped() -> None:
    shot = _one("A red\x00 car\x07 stops\x1b at the\tlight.")
    assert shot.prompt == "A red car stops at the light"
    with pytest.raises(ScriptError, match="empty"):
        break_down("\x00\x01\x02")


@pytest.mark.parametrize(
    ("script", "title"),
    [
        ("THE LAST TRAIN\n\nINT. STATION - NIGHT\n\nMara waits.\n", "THE LAST TRAIN"),
        (
            "THE LAST TRAIN\nWritten by Ana Ruiz\n\nFADE IN:\n\n"
            "INT. STATION - NIGHT\n\nMara waits.\n",
            "THE LAST TRAIN",
        ),
        (
            "THE LAST TRAIN\n\nWritten by\n\nAna Ruiz\n\nINT. STATION - NIGHT\n\nMara waits.\n",
            "THE LAST TRAIN",
        ),
        (
            "Title: **The Last Train**\n    Part One\nAuthor: Ana\n\n"
            "INT. STATION - NIGHT\n\nMara waits.\n",
            "The Last Train Part One",
        ),
    ],
)
def test_a_title_page_is_the_title_not_a_shot(script: str, title: str) -> None:
    from studio.film.breakdown import script_title

    assert script_title(script) == title
    shots = break_down(script)
    assert [(s.scene, s.prompt) for s in shots] == [
        ("INT. STATION - NIGHT", "station, night, Mara waits")
    ]


@pytest.mark.parametrize(
    "script",
    [
        "THE LAST TRAIN\n\nThe rain falls. A train leaves the city.\n",  # prose: no title page
        "BLACK.\n\nINT. STATION - NIGHT\n\nMara waits.\n",  # a sentence, not a title
        "MARA\nWhere were you?\n\nINT. STATION - NIGHT\n\nMara waits.\n",  # a cue
        "THE STATION\nMara waits on the platform.\n\nINT. STATION - NIGHT\n\nShe waits.\n",
    ],
)
def test_what_is_not_a_title_page_stays_in_the_film(script: str) -> None:
    from studio.film.breakdown import script_title

    assert script_title(script) == ""
    assert len(break_down(script)) >= 2
