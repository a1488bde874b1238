"""Alembic migrations build exactly the schema the models describe, on SQLite and PostgreSQL."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy.engine import Engine
from sqlmodel import SQLModel

import studio.core.models  # noqa: F401  (registers the tables)
from studio.core.db import current_revision, head_revision, upgrade


def test_migrated_schema_matches_the_models(engine: Engine) -> None:
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), SQLModel.metadata)
    assert diff == [], f"models and migrations disagree; add a migration: {diff}"
    assert current_revision(engine) == head_revision()


def test_upgrade_twice_is_harmless(database_url: str, engine: Engine) -> None:
    upgrade(database_url)
    assert current_revision(engine) == head_revision()
