"""a project's scenes and the look their shots share: scene;
project.scene_style_reference; castmember.lora_artifact_id, lora_scale

Revision ID: 0011
Revises: 0010
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "scene",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("project_id", sa.Integer(), nullable=False),
        sa.Column("heading", sa.String(length=300), nullable=False),
        sa.Column("look", sa.String(length=300), nullable=False),
        sa.Column("created_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["project_id"], ["project.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("project_id", "heading", name="uq_scene_project_heading"),
    )
    op.create_index("ix_scene_project_id", "scene", ["project_id"], unique=False)
    with op.batch_alter_table("castmember") as batch_op:
        batch_op.add_column(sa.Column("lora_artifact_id", sa.Integer(), nullable=True))
        batch_op.add_column(
            sa.Column("lora_scale", sa.Float(), nullable=False, server_default="0.8")
        )
        batch_op.create_foreign_key(
            "fk_castmember_lora_artifact", "artifact", ["lora_artifact_id"], ["id"]
        )
    with op.batch_alter_table("project") as batch_op:
        batch_op.add_column(
            sa.Column(
                "scene_style_reference", sa.Boolean(), nullable=False, server_default=sa.false()
            )
        )


def downgrade() -> None:
    with op.batch_alter_table("castmember") as batch_op:
        batch_op.drop_constraint("fk_castmember_lora_artifact", type_="foreignkey")
        batch_op.drop_column("lora_scale")
        batch_op.drop_column("lora_artifact_id")
    with op.batch_alter_table("project") as batch_op:
        batch_op.drop_column("scene_style_reference")
    op.drop_index("ix_scene_project_id", table_name="scene")
    op.drop_table("scene")
