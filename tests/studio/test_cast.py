"""The cast: found by the breakdown, named by shots, described once in every prompt; edits,
merges and deletions keep the shots in step; a description change re-renders only its shots.
Runs on SQLite and PostgreSQL (the unique name per project, the JSON shot lists)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from studio import Studio
from studio.core.errors import Conflict, InvalidInput, NotFound
from studio.film.breakdown import break_down_with_cast, find_cast

SCREENPLAY = """\
EXT. PRAIRIE RAILWAY - DAY

MARA (40s, weathered coat) steps off a rusted handcar. TOMAS (10, barefoot) watches her
from the water tower.

MARA
Where is everyone?

TOMAS (V.O.)
Gone west.

Wide shot of the empty platform. Wind moves the grass.

INT. STATION OFFICE - DAY

Mara pushes the door open. A TELEGRAPH KEY (brass, dusty) sits on the desk.
"""

PROSE = """The lighthouse keeper climbs the stairs at dusk.

Below, the sea throws itself against the rocks.
"""


def test_the_breakdown_finds_the_cast_with_descriptions_and_their_shots() -> None:
    shots, cast = break_down_with_cast(SCREENPLAY)
    by_name = {c.name: c for c in cast}
    assert [c.name for c in cast] == ["MARA", "TOMAS", "TELEGRAPH KEY"]
    assert by_name["MARA"].description == "40s, weathered coat"
    assert by_name["TOMAS"].description == "10, barefoot"
    assert by_name["TELEGRAPH KEY"].description == "brass, dusty"
    in_shots = {c.name: [i for i, s in enumerate(shots) if c.name in s.characters] for c in cast}
    # Mara: her introduction, her line, and "Mara pushes the door" (a name in an action line).
    assert len(in_shots["MARA"]) == by_name["MARA"].shots == 3
    assert by_name["TOMAS"].shots == 2  # introduced, then heard off screen
    assert "Mara steps off" in shots[0].prompt and "weathered" not in shots[0].prompt
    assert find_cast(SCREENPLAY) == cast


def test_prose_and_cues_without_introductions() -> None:
    assert find_cast(PROSE) == []
    cast = find_cast("INT. ROOM - DAY\n\nANNA\nHello.\n\nAnna sits. (beat) She waits.\n")
    assert [(c.name, c.description, c.shots) for c in cast] == [("ANNA", "", 2)]
    # Camera slugs and extensions in capitals are no people.
    assert find_cast("EXT. SEA - DAY\n\nCU (on the rope) The knot slips.\n") == []


@pytest.fixture
def studio(tmp_path, database_url: str) -> Iterator[Studio]:
    with Studio.local(tmp_path / "data", database_url=database_url) as s:
        yield s


def project_with_cast(studio: Studio) -> tuple[int, dict[str, int]]:
    project = studio.create_project("Rails", height=120)
    for shot in studio.breakdown(project.id, SCREENPLAY):
        studio.update_shot(shot.id, duration=1.0)
    return project.id, {m.name: m.id for m in studio.cast(project.id)}


def test_a_description_change_re_renders_exactly_the_shots_it_touches(studio: Studio) -> None:
    pid, cast = project_with_cast(studio)
    shots = studio.shots(pid)
    mara_shots = {s.id for s in shots if "MARA" in s.characters}
    first = studio.render(pid, wait=True, progress=False)
    assert all(j.status == "succeeded" and not j.cache_hit for j in first)
    mara_take = next(j for j in first if j.shot_id in mara_shots)
    assert "Mara (40s, weathered coat)" in mara_take.params["request"]["prompt"]
    assert mara_take.params["cast"]["MARA"] == "40s, weathered coat"

    studio.update_cast_member(cast["MARA"], description="40s, red scarf")
    again = studio.render(pid, wait=True, progress=False)
    rendered = {j.shot_id for j in again if not j.cache_hit}
    assert rendered == mara_shots
    assert all("red scarf" in j.params["request"]["prompt"] for j in again if not j.cache_hit)


def test_rename_merge_and_delete_keep_the_shots_in_step(studio: Studio) -> None:
    pid, cast = project_with_cast(studio)
    studio.update_cast_member(cast["TOMAS"], name="Tomas Reyes", kind="character")
    assert ["TOMAS REYES" in s.characters for s in studio.shots(pid)].count(True) == 2
    with pytest.raises(Conflict, match="merge"):
        studio.update_cast_member(cast["TOMAS"], name="mara")

    # "The boy" is Tomas: merging moves his shots and keeps Tomas's description.
    boy = studio.add_cast_member(pid, "the boy", description="")
    boy_shot = studio.add_shot(pid, "The boy runs", characters=["THE BOY", "MARA"])
    merged = studio.merge_cast_member(boy.id, cast["TOMAS"])
    assert merged.description == "10, barefoot" and boy_shot.id in merged.shot_ids
    assert studio.shot(boy_shot.id).characters == ["TOMAS REYES", "MARA"]
    with pytest.raises(NotFound):
        studio.cast_member(boy.id)

    studio.delete_cast_member(cast["MARA"])
    assert all("MARA" not in s.characters for s in studio.shots(pid))
    assert [m.name for m in studio.cast(pid)] == ["TOMAS REYES", "TELEGRAPH KEY"]


def test_bad_cast_input_is_refused_and_changes_nothing(studio: Studio) -> None:
    pid, cast = project_with_cast(studio)
    before = studio.cast(pid)
    cases = [
        (lambda: studio.merge_cast_member(cast["MARA"], cast["MARA"]), InvalidInput, "itself"),
        (lambda: studio.add_cast_member(pid, "Mara"), Conflict, "already in the cast"),
        (lambda: studio.add_cast_member(pid, "  "), InvalidInput, "Name"),
        (lambda: studio.add_cast_member(pid, "42"), InvalidInput, "letter"),
        (lambda: studio.add_cast_member(pid, "Dog", kind="ghost"), InvalidInput, "Kind"),
        (
            lambda: studio.update_cast_member(cast["MARA"], description="x" * 501),
            InvalidInput,
            "limit is 500",
        ),
        (lambda: studio.update_cast_member(cast["MARA"], age=40), InvalidInput, "Unknown"),
        (
            lambda: studio.update_shot(studio.shots(pid)[0].id, characters="MARA"),
            InvalidInput,
            "list of cast names",
        ),
    ]
    for call, error, words in cases:
        with pytest.raises(error, match=words):
            call()
    assert studio.cast(pid) == before

    other = studio.create_project("Other")
    stranger = studio.add_cast_member(other.id, "Stranger")
    with pytest.raises(InvalidInput, match="same project"):
        studio.merge_cast_member(stranger.id, cast["MARA"])


def test_a_re_breakdown_keeps_the_creators_descriptions_and_a_deleted_project_its_cast(
    studio: Studio,
) -> None:
    pid, cast = project_with_cast(studio)
    studio.update_cast_member(cast["MARA"], description="a woman in a red scarf")
    seed = studio.cast_member(cast["MARA"]).seed
    studio.breakdown(pid, SCREENPLAY + "\nWILL (60s, stationmaster) waves.\n")
    after = {m.name: m for m in studio.cast(pid)}
    assert after["MARA"].description == "a woman in a red scarf" and after["MARA"].seed == seed
    assert after["WILL"].description == "60s, stationmaster"
    studio.delete_project(pid)
    with pytest.raises(NotFound):
        studio.cast_member(cast["MARA"])


def test_the_consistency_report_shows_each_members_shots_side_by_side(studio: Studio) -> None:
    pid, cast = project_with_cast(studio)
    shots = studio.shots(pid)
    mara_shots = [s for s in shots if "MARA" in s.characters]
    (preview,) = studio.preview(pid, [mara_shots[0].id], wait=True, progress=False)
    (take,) = studio.render(pid, [mara_shots[0].id], wait=True, progress=False)

    report = {c.name: c for c in studio.consistency(pid)}
    assert set(report) == {"MARA", "TOMAS", "TELEGRAPH KEY"}
    mara = report["MARA"]
    assert mara.member_id == cast["MARA"] and mara.description == "40s, weathered coat"
    assert [look.shot_id for look in mara.shots] == [s.id for s in mara_shots]
    assert [look.number for look in mara.shots] == [
        n for n, s in enumerate(shots, 1) if "MARA" in s.characters
    ]
    first, *rest = mara.shots
    assert first.preview_artifact_id == preview.artifact_id
    assert first.take_artifact_id == take.artifact_id
    assert all(look.preview_artifact_id is None and look.take_artifact_id is None for look in rest)
