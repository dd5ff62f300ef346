"""questionnaires (answers apart from who answered) and blind model comparisons

Revision ID: 0019
Revises: 0022
Create Date: 2026-12-06 23:10:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import autan.core.db

revision: str = "0019"
down_revision: str | None = "0022"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _created() -> sa.Column[object]:
    return sa.Column("created_at", autan.core.db.UTCDateTime(timezone=True), nullable=False)


def upgrade() -> None:
    op.create_table(
        "questionnaires",
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column(
            "org_id",
            sa.Uuid(),
            sa.ForeignKey("organisations.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("title", sa.String(200), nullable=False),
        sa.Column("questions", sa.JSON(), nullable=False),
        sa.Column("audience", sa.String(16), nullable=True),
        sa.Column("period", sa.String(16), nullable=False),
        sa.Column("anonymous", sa.Boolean(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column(
            "created_by", sa.Uuid(), sa.ForeignKey("users.id", ondelete="SET NULL"), nullable=True
        ),
        _created(),
    )
    op.create_index("ix_questionnaires_org_id", "questionnaires", ["org_id"])
    op.create_table(
        "questionnaire_answers",
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column(
            "questionnaire_id",
            sa.Uuid(),
            sa.ForeignKey("questionnaires.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("period_key", sa.String(7), nullable=False),
        sa.Column(
            "user_id", sa.Uuid(), sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=True
        ),
        sa.Column("answers", sa.JSON(), nullable=False),
    )
    op.create_index(
        "ix_questionnaire_answers_q_period",
        "questionnaire_answers",
        ["questionnaire_id", "period_key"],
    )
    op.create_table(
        "questionnaire_participations",
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column(
            "questionnaire_id",
            sa.Uuid(),
            sa.ForeignKey("questionnaires.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column(
            "user_id", sa.Uuid(), sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=False
        ),
        sa.Column("period_key", sa.String(7), nullable=False),
        sa.Column("answered", sa.Boolean(), nullable=False),
        _created(),
        sa.UniqueConstraint("questionnaire_id", "user_id", "period_key"),
    )
    op.create_table(
        "arena_comparisons",
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column(
            "org_id",
            sa.Uuid(),
            sa.ForeignKey("organisations.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column(
            "user_id", sa.Uuid(), sa.ForeignKey("users.id", ondelete="SET NULL"), nullable=True
        ),
        sa.Column(
            "conversation_id",
            sa.Uuid(),
            sa.ForeignKey("conversations.id", ondelete="SET NULL"),
            nullable=True,
        ),
        sa.Column("model_a", sa.String(200), nullable=False),
        sa.Column("model_b", sa.String(200), nullable=False),
        sa.Column("use_case", sa.String(80), nullable=False),
        sa.Column("verdict", sa.String(16), nullable=True),
        _created(),
    )
    op.create_index(
        "ix_arena_comparisons_org_use_case", "arena_comparisons", ["org_id", "use_case"]
    )


def downgrade() -> None:
    op.drop_table("arena_comparisons")
    op.drop_table("questionnaire_participations")
    op.drop_table("questionnaire_answers")
    op.drop_table("questionnaires")
