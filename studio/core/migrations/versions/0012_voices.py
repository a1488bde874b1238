"""voices and spoken lines: project.speech_pipeline, narrator_voice/speed/pitch;
castmember.voice_engine, voice, voice_speed, voice_pitch; shot.chosen_line_id, line_offset,
duration_pinned

Revision ID: 0012
Revises: 0011
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("project") as batch_op:
        batch_op.add_column(
            sa.Column(
                "speech_pipeline", sa.String(length=100), nullable=False, server_default="espeak"
            )
        )
        batch_op.add_column(
            sa.Column("narrator_voice", sa.String(length=64), nullable=False, server_default="")
        )
        batch_op.add_column(
            sa.Column("narrator_speed", sa.Float(), nullable=False, server_default="1.0")
        )
        batch_op.add_column(
            sa.Column("narrator_pitch", sa.Float(), nullable=False, server_default="0.0")
        )
    with op.batch_alter_table("castmember") as batch_op:
        batch_op.add_column(
            sa.Column("voice_engine", sa.String(length=100), nullable=False, server_default="")
        )
        batch_op.add_column(
            sa.Column("voice", sa.String(length=64), nullable=False, server_default="")
        )
        batch_op.add_column(
            sa.Column("voice_speed", sa.Float(), nullable=False, server_default="1.0")
        )
        batch_op.add_column(
            sa.Column("voice_pitch", sa.Float(), nullable=False, server_default="0.0")
        )
    with op.batch_alter_table("shot") as batch_op:
        batch_op.add_column(sa.Column("chosen_line_id", sa.Integer(), nullable=True))
        batch_op.add_column(
            sa.Column("line_offset", sa.Float(), nullable=False, server_default="0.3")
        )
        batch_op.add_column(
            sa.Column("duration_pinned", sa.Boolean(), nullable=False, server_default=sa.false())
        )


def downgrade() -> None:
    with op.batch_alter_table("shot") as batch_op:
        for column in ("duration_pinned", "line_offset", "chosen_line_id"):
            batch_op.drop_column(column)
    with op.batch_alter_table("castmember") as batch_op:
        for column in ("voice_pitch", "voice_speed", "voice", "voice_engine"):
            batch_op.drop_column(column)
    with op.batch_alter_table("project") as batch_op:
        for column in ("narrator_pitch", "narrator_speed", "narrator_voice", "speech_pipeline"):
            batch_op.drop_column(column)
