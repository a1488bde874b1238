"""farm-wide counters for /metrics: farmcounter (name, labels → a running total that only
grows, added to by the lifecycle in each event's transaction)

Revision ID: 0015
Revises: 0014
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Starts empty: the counters count from this upgrade on (Prometheus reads a counter that
    # appears at zero like a process restart).
    op.create_table(
        "farmcounter",
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("labels", sa.String(length=300), nullable=False),
        sa.Column("total", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("name", "labels"),
    )


def downgrade() -> None:
    op.drop_table("farmcounter")
