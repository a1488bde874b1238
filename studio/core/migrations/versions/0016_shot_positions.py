"""shot positions 0…n−1 in every project: a shot's number is its position + 1

Older studios left ties and gaps (each insert renumbered in Python; concurrent edits could
tie). studio.core.shot_order keeps positions without gaps from here on, so readers (the queue
table) can number a shot without reading its project's other shots.

Revision ID: 0016
Revises: 0015
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0016"
down_revision: str | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Each shot's new position: its rank in its project in (position, id) order, numbered by a
    # window function in a FROM subquery (PostgreSQL, SQLite ≥ 3.33) that is read whole before
    # any row changes. A correlated `SELECT count(*)` would be wrong on SQLite: it sees the
    # rows this statement already renumbered.
    op.execute(
        """
        UPDATE shot SET position = ranked.n - 1
        FROM (
            SELECT id, row_number() OVER (PARTITION BY project_id ORDER BY position, id) AS n
            FROM shot
        ) AS ranked
        WHERE ranked.id = shot.id AND shot.position <> ranked.n - 1
        """
    )


def downgrade() -> None:
    pass  # the renumbered order is the same order: nothing to undo
