"""render job ids are never reused on SQLite (AUTOINCREMENT)

A deleted job's id handed to a new job would inherit the old job's credit hold.

Revision ID: 0007
Revises: 0006
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    if op.get_bind().dialect.name != "sqlite":
        return  # PostgreSQL sequences never hand out an id twice
    with op.batch_alter_table(
        "renderjob", recreate="always", table_kwargs={"sqlite_autoincrement": True}
    ):
        pass


def downgrade() -> None:
    if op.get_bind().dialect.name != "sqlite":
        return
    with op.batch_alter_table(
        "renderjob", recreate="always", table_kwargs={"sqlite_autoincrement": False}
    ):
        pass
