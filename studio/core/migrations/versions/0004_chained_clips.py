"""chained clips: project.chain_clips and renderjob.depends_on

Revision ID: 0004
Revises: 0003
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("project") as batch_op:
        batch_op.add_column(
            sa.Column("chain_clips", sa.Boolean(), nullable=False, server_default=sa.false())
        )
    with op.batch_alter_table("renderjob") as batch_op:
        batch_op.add_column(sa.Column("depends_on", sa.Integer(), nullable=True))
        batch_op.create_index("ix_renderjob_depends_on", ["depends_on"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("renderjob") as batch_op:
        batch_op.drop_index("ix_renderjob_depends_on")
        batch_op.drop_column("depends_on")
    with op.batch_alter_table("project") as batch_op:
        batch_op.drop_column("chain_clips")
