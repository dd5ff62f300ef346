"""messages keep their text folded for search

Revision ID: 0023
Revises: 0020
Create Date: 2026-12-07 00:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from autan.core.folding import fold

revision: str = "0023"
down_revision: str | None = "0020"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_BATCH = 2_000


def _fold_existing_messages() -> None:
    # Folded in Python, as new messages are: the SQL folds of the two engines differ in
    # which characters they know.
    connection = op.get_bind()
    messages = sa.table(
        "messages",
        sa.column("id", sa.Uuid()),
        sa.column("content", sa.Text),
        sa.column("folded_content", sa.Text),
    )
    update = (
        messages.update()
        .where(messages.c.id == sa.bindparam("message_id"))
        .values(folded_content=sa.bindparam("folded"))
    )
    last = None
    while True:
        query = sa.select(messages.c.id, messages.c.content).order_by(messages.c.id).limit(_BATCH)
        if last is not None:
            query = query.where(messages.c.id > last)
        rows = connection.execute(query).all()
        if not rows:
            return
        connection.execute(
            update, [{"message_id": row.id, "folded": fold(row.content or "")} for row in rows]
        )
        last = rows[-1].id


def upgrade() -> None:
    op.add_column("messages", sa.Column("folded_content", sa.Text(), nullable=True))
    _fold_existing_messages()


def downgrade() -> None:
    with op.batch_alter_table("messages") as batch:
        batch.drop_column("folded_content")
