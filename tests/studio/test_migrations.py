"""Alembic migrations build exactly the schema the models describe, on SQLite and PostgreSQL."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy.engine import Engine
from sqlmodel import Session, SQLModel, select

from studio.core.db import current_revision, head_revision, make_engine, upgrade
from studio.core.models import Project, Shot, ident


def test_migrated_schema_matches_the_models(engine: Engine) -> None:
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), SQLModel.metadata)
    assert diff == [], f"models and migrations disagree; add a migration: {diff}"
    assert current_revision(engine) == head_revision()


def test_upgrade_twice_is_harmless(database_url: str, engine: Engine) -> None:
    upgrade(database_url)
    assert current_revision(engine) == head_revision()


def test_shot_positions_become_their_numbers(database_url: str) -> None:
    """Ties and gaps an older studio left become 0…n−1 in shot order (migration 0016), per
    project, so a shot's number is its position + 1 wherever it is shown."""
    upgrade(database_url, "0015")  # 0016 changes data, not the schema: the models fit
    engine = make_engine(database_url)
    try:
        with Session(engine) as session:
            first, second = Project(owner="ann", name="first"), Project(owner="ann", name="second")
            session.add_all([first, second])
            session.flush()
            # (project, position) in id order: a tie (5, 5), gaps, a negative one
            layout = [(first, 5), (first, 5), (second, 0), (first, -1), (first, 40)]
            layout += [(second, 0), (first, 7)]
            shots = [Shot(project_id=ident(p), position=n) for p, n in layout]
            session.add_all(shots)
            session.commit()
            ids = [s.id for s in shots]
        upgrade(database_url)
        with Session(engine) as session:
            got = {s.id: s.position for s in session.exec(select(Shot)).all()}
    finally:
        engine.dispose()
    # first: -1 (4th), 5 (1st), 5 (2nd), 7 (7th), 40 (5th); second: 0 (3rd), 0 (6th)
    expected = [1, 2, 0, 0, 4, 1, 3]
    assert [got[i] for i in ids] == expected
