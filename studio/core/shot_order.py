"""A project's shot order (`Shot.position`: 0, 1, 2, … without gaps), changed in one
statement per edit, however many shots the project has.

Inserting at a place shifts the shots after it by one UPDATE; moving a shot shifts only the
range between its old and new place; deleting closes the gap. A project whose positions are
not 0…n−1 (ties or gaps from an older studio) is renumbered once, in shot order, first.
"""

from __future__ import annotations

from sqlalchemy import distinct, func, update
from sqlmodel import Session, col, select

from studio.core.models import Shot


def _ordered(session: Session, project_id: int) -> None:
    """Renumber 0…n−1 in (position, id) order if the positions are not that already."""
    count, different, low, high = session.exec(
        select(
            func.count(col(Shot.id)),
            func.count(distinct(col(Shot.position))),
            func.min(col(Shot.position)),
            func.max(col(Shot.position)),
        ).where(Shot.project_id == project_id)
    ).one()
    if count == 0 or (different == count and low == 0 and high == count - 1):
        return
    shots = session.exec(
        select(Shot).where(Shot.project_id == project_id).order_by(col(Shot.position), col(Shot.id))
    ).all()
    for position, shot in enumerate(shots):
        shot.position = position
        session.add(shot)
    session.flush()


def _shift(session: Session, project_id: int, low: int, high: int | None, by: int) -> None:
    """Add `by` to the positions from `low` to `high` (inclusive; None: to the end)."""
    statement = update(Shot).where(col(Shot.project_id) == project_id, col(Shot.position) >= low)
    if high is not None:
        statement = statement.where(col(Shot.position) <= high)
    session.execute(
        statement.values(position=col(Shot.position) + by),
        execution_options={"synchronize_session": "fetch"},
    )


def make_room(session: Session, project_id: int, index: int | None) -> int:
    """The position a new shot takes at `index` (None or past the end: last), the shots from
    there on moved one down."""
    _ordered(session, project_id)
    count = session.exec(
        select(func.count(col(Shot.id))).where(Shot.project_id == project_id)
    ).one()
    place = count if index is None else max(0, min(int(index), count))
    if place < count:
        _shift(session, project_id, place, None, 1)
    return place


def move(session: Session, shot: Shot, index: int) -> None:
    """Put `shot` at `index` (clamped to the project's shots), the ones between moving up or
    down by one."""
    _ordered(session, shot.project_id)
    session.refresh(shot)
    count = session.exec(
        select(func.count(col(Shot.id))).where(Shot.project_id == shot.project_id)
    ).one()
    old, new = shot.position, max(0, min(int(index), count - 1))
    if new > old:
        _shift(session, shot.project_id, old + 1, new, -1)
    elif new < old:
        _shift(session, shot.project_id, new, old - 1, 1)
    shot.position = new
    session.add(shot)
    session.flush()


def close_gap(session: Session, project_id: int, position: int) -> None:
    """After a shot at `position` was deleted: the ones after it move up by one."""
    _shift(session, project_id, position + 1, None, -1)
    session.flush()
    _ordered(session, project_id)  # (positions an older studio left with gaps)
