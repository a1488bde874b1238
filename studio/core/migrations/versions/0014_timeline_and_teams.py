"""the timeline, shared projects and takes review: shot.trim_in, trim_out, transition,
transition_seconds; membership (viewer / editor of someone's project); takereview (a verdict
on a take); comment (timecoded notes on a take or a film)

Revision ID: 0014
Revises: 0013
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("shot") as batch_op:
        batch_op.add_column(sa.Column("trim_in", sa.Float(), nullable=False, server_default="0.0"))
        batch_op.add_column(sa.Column("trim_out", sa.Float(), nullable=True))
        batch_op.add_column(
            sa.Column("transition", sa.String(length=16), nullable=False, server_default="cut")
        )
        batch_op.add_column(
            sa.Column("transition_seconds", sa.Float(), nullable=False, server_default="0.0")
        )
    op.create_table(
        "membership",
        sa.Column("project_id", sa.Integer(), sa.ForeignKey("project.id"), primary_key=True),
        sa.Column("user", sa.String(length=64), sa.ForeignKey("user.name"), primary_key=True),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("can_render", sa.Boolean(), nullable=False, server_default=sa.false()),
        sa.Column("created_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    )
    op.create_index("ix_membership_user", "membership", ["user"])
    op.create_table(
        "takereview",
        sa.Column("job_id", sa.Integer(), sa.ForeignKey("renderjob.id"), primary_key=True),
        sa.Column("project_id", sa.Integer(), sa.ForeignKey("project.id"), nullable=False),
        sa.Column("verdict", sa.String(length=16), nullable=False),
        sa.Column("reviewer", sa.String(length=64), nullable=False),
        sa.Column("reviewed_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    )
    op.create_index("ix_takereview_project_id", "takereview", ["project_id"])
    op.create_table(
        "comment",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("project_id", sa.Integer(), sa.ForeignKey("project.id"), nullable=False),
        sa.Column("job_id", sa.Integer(), sa.ForeignKey("renderjob.id"), nullable=True),
        sa.Column("seconds", sa.Float(), nullable=True),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("author", sa.String(length=64), nullable=False),
        sa.Column("created_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    )
    op.create_index("ix_comment_project_id", "comment", ["project_id"])


def downgrade() -> None:
    op.drop_index("ix_comment_project_id", "comment")
    op.drop_table("comment")
    op.drop_index("ix_takereview_project_id", "takereview")
    op.drop_table("takereview")
    op.drop_index("ix_membership_user", "membership")
    op.drop_table("membership")
    with op.batch_alter_table("shot") as batch_op:
        batch_op.drop_column("transition_seconds")
        batch_op.drop_column("transition")
        batch_op.drop_column("trim_out")
        batch_op.drop_column("trim_in")
