"""room tone and effects under a shot: shot.sound_artifact_id, sound_gain_db

Revision ID: 0013
Revises: 0012
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("shot") as batch_op:
        batch_op.add_column(sa.Column("sound_artifact_id", sa.Integer(), nullable=True))
        batch_op.add_column(
            sa.Column("sound_gain_db", sa.Float(), nullable=False, server_default="0.0")
        )
        batch_op.create_foreign_key(
            "fk_shot_sound_artifact", "artifact", ["sound_artifact_id"], ["id"]
        )


def downgrade() -> None:
    with op.batch_alter_table("shot") as batch_op:
        batch_op.drop_constraint("fk_shot_sound_artifact", type_="foreignkey")
        batch_op.drop_column("sound_gain_db")
        batch_op.drop_column("sound_artifact_id")
