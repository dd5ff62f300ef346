"""organisation_domains: each email domain admits newcomers to one organisation at most

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-06 04:00:00

The domains listed in `organisations.allowed_domains` get a row each, the domain being the
primary key. A domain listed by several organisations stays with the oldest one (it was the
one admitting newcomers, onboarding taking the first match by creation date); the others
lose it from their list, and each such loss is logged. The downgrade drops the table: the
lists, kept in step, already hold what it held.
"""

from collections.abc import Sequence

import sqlalchemy as sa
import structlog
from alembic import op

import autan.core.db

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

log = structlog.get_logger("autan.migrations.0008")

_organisations = sa.table(
    "organisations",
    sa.column("id", sa.Uuid()),
    sa.column("slug", sa.String()),
    sa.column("allowed_domains", sa.JSON()),
    sa.column("created_at", autan.core.db.UTCDateTime(timezone=True)),
)


def upgrade() -> None:
    domains = op.create_table(
        "organisation_domains",
        sa.Column("domain", sa.String(length=253), nullable=False),
        sa.Column("org_id", sa.Uuid(), nullable=False),
        sa.Column("created_at", autan.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["org_id"],
            ["organisations.id"],
            name=op.f("fk_organisation_domains_org_id_organisations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("domain", name=op.f("pk_organisation_domains")),
    )
    op.create_index(
        op.f("ix_organisation_domains_org_id"), "organisation_domains", ["org_id"], unique=False
    )
    connection = op.get_bind()
    rows = connection.execute(
        sa.select(
            _organisations.c.id,
            _organisations.c.slug,
            _organisations.c.allowed_domains,
            _organisations.c.created_at,
        ).order_by(_organisations.c.created_at, _organisations.c.id)
    ).all()
    holder: dict[str, str] = {}
    claims = []
    for org_id, slug, listed, created_at in rows:
        kept: list[str] = []
        for text in listed or []:
            domain = str(text).strip().lower().removeprefix("@")
            if not domain or domain in kept:
                continue
            if domain in holder:
                log.warning(
                    "domain_claimed_twice", domain=domain, kept_by=holder[domain], lost_by=slug
                )
                continue
            holder[domain] = slug
            kept.append(domain)
            claims.append({"domain": domain, "org_id": org_id, "created_at": created_at})
        if sorted(kept) != list(listed or []):
            connection.execute(
                _organisations.update()
                .where(_organisations.c.id == org_id)
                .values(allowed_domains=sorted(kept))
            )
    if claims:
        op.bulk_insert(domains, claims)


def downgrade() -> None:
    op.drop_index(op.f("ix_organisation_domains_org_id"), table_name="organisation_domains")
    op.drop_table("organisation_domains")
