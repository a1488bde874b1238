"""a cast member's reference image: castmember.reference_artifact_id, reference_scale

Revision ID: 0010
Revises: 0009
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("castmember") as batch_op:
        batch_op.add_column(sa.Column("reference_artifact_id", sa.Integer(), nullable=True))
        batch_op.add_column(
            sa.Column("reference_scale", sa.Float(), nullable=False, server_default="0.6")
        )
        batch_op.create_foreign_key(
            "fk_castmember_reference_artifact", "artifact", ["reference_artifact_id"], ["id"]
        )


def downgrade() -> None:
    with op.batch_alter_table("castmember") as batch_op:
        batch_op.drop_constraint("fk_castmember_reference_artifact", type_="foreignkey")
        batch_op.drop_column("reference_scale")
        batch_op.drop_column("reference_artifact_id")
