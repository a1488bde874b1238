"""A project's shot order under inserts, moves, copies and deletes: always 0…n−1 in the order
the creator asked for, and each edit is a fixed number of statements however many shots the
project has (not one UPDATE per shot)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event

from studio import Studio
from studio.core.db import session_scope
from studio.core.models import Shot


@pytest.fixture
def studio(tmp_path: Path, database_url: str) -> Iterator[Studio]:
    with Studio.local(tmp_path / "data", database_url=database_url, start_worker=False) as local:
        yield local


def _prompts(studio: Studio, project_id: int) -> list[str]:
    shots = studio.shots(project_id)
    assert [s.position for s in shots] == list(range(len(shots)))  # no gaps, no ties
    return [s.prompt for s in shots]


def test_inserts_moves_copies_and_deletes_keep_the_order(studio: Studio) -> None:
    pid = studio.create_project("Order").id
    a, b, c = (studio.add_shot(pid, name) for name in ("a", "b", "c"))
    studio.add_shot(pid, "first", position=0)
    studio.add_shot(pid, "middle", position=2)
    studio.add_shot(pid, "far", position=99)  # past the end: last
    assert _prompts(studio, pid) == ["first", "a", "middle", "b", "c", "far"]
    studio.move_shot(c.id, 1)  # up
    assert _prompts(studio, pid) == ["first", "c", "a", "middle", "b", "far"]
    studio.move_shot(c.id, 4)  # down
    assert _prompts(studio, pid) == ["first", "a", "middle", "b", "c", "far"]
    studio.update_shot(a.id, position=500)  # clamped to the end
    assert _prompts(studio, pid) == ["first", "middle", "b", "c", "far", "a"]
    copy = studio.duplicate_shot(b.id)
    assert copy.position == studio.shot(b.id).position + 1
    assert _prompts(studio, pid) == ["first", "middle", "b", "b", "c", "far", "a"]
    studio.delete_shot(b.id)
    assert _prompts(studio, pid) == ["first", "middle", "b", "c", "far", "a"]


def test_an_order_with_gaps_or_ties_is_renumbered_on_the_next_edit(studio: Studio) -> None:
    pid = studio.create_project("Old").id
    ids = [studio.add_shot(pid, name).id for name in ("a", "b", "c")]
    with session_scope(studio.engine) as session:  # as an older studio could leave it
        for shot_id, position in zip(ids, (4, 4, 9), strict=True):
            shot = session.get(Shot, shot_id)
            assert shot is not None
            shot.position = position
            session.add(shot)
    studio.add_shot(pid, "new", position=1)
    assert _prompts(studio, pid) == ["a", "new", "b", "c"]


def test_an_insert_at_the_front_of_200_shots_is_a_few_statements(studio: Studio) -> None:
    pid = studio.create_project("Long").id
    for n in range(200):
        studio.add_shot(pid, f"shot {n}")
    updates: list[str] = []

    def count(
        _conn: Any, _cursor: Any, statement: str, parameters: Any, _context: Any, many: bool
    ) -> None:
        # An executemany is one call but one UPDATE per parameter set: count those.
        if statement.lstrip().upper().startswith("UPDATE SHOT"):
            updates.extend([statement] * (len(parameters) if many else 1))

    event.listen(studio.engine, "before_cursor_execute", count)
    try:
        studio.add_shot(pid, "opening", position=0)
        studio.move_shot(studio.shots(pid)[-1].id, 0)
    finally:
        event.remove(studio.engine, "before_cursor_execute", count)
    assert len(updates) <= 3, updates  # a shift for the insert; a shift + the shot for the move
    prompts = _prompts(studio, pid)
    assert prompts[:3] == ["shot 199", "opening", "shot 0"] and len(prompts) == 201
