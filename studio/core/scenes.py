"""A project's scenes in the database: one row per scene heading its shots name
(`Shot.scene`), holding the look the scene's shots share. The breakdown adds a row for each
heading it finds; rows are kept across breakdowns (a heading that comes back keeps its look)
and go with the project."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from sqlmodel import Session, col, select

from studio.core.errors import InvalidInput
from studio.core.models import Scene, Shot
from studio.core.validation import text

MAX_LOOK = 300
SCENE_FIELDS = {"look"}


def scene_fields(changes: dict[str, Any]) -> dict[str, Any]:
    unknown = set(changes) - SCENE_FIELDS
    if unknown:
        raise InvalidInput(f"Unknown scene field(s): {', '.join(sorted(unknown))}")
    return {"look": " ".join(text(changes["look"], "Look", MAX_LOOK).split())} if changes else {}


def scenes(session: Session, project_id: int) -> list[Scene]:
    query = select(Scene).where(Scene.project_id == project_id)
    return list(session.exec(query.order_by(col(Scene.id))).all())


def looks(session: Session, project_id: int) -> dict[str, str]:
    """Heading → look of the scenes that have one: what their shots' prompts say."""
    return {s.heading: s.look for s in scenes(session, project_id) if s.look}


def add_found(session: Session, project_id: int, headings: Iterable[str]) -> None:
    """A row for each heading the project has no row for yet (in order, once)."""
    known = {s.heading for s in scenes(session, project_id)}
    for heading in dict.fromkeys(h for h in headings if h):
        if heading not in known:
            session.add(Scene(project_id=project_id, heading=heading[:300]))
            known.add(heading)
    session.flush()


def shots_of(shots: Sequence[Shot], heading: str) -> list[int]:
    return [s.id for s in shots if s.id is not None and s.scene == heading]
