"""Tables of organisations, users, API keys, access codes, quota rules and the audit log."""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    true,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from autan.core.db import Base, TimestampMixin, new_id, utcnow


class Role(StrEnum):
    """What a user may do: run the platform, manage one organisation, or use the assistant."""

    ADMIN = "admin"
    REFERENT = "referent"
    MEMBER = "member"


class Organisation(TimestampMixin, Base):
    """A tenant: a ministry, an institute, an administration."""

    __tablename__ = "organisations"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    slug: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    # Matched against the OIDC `siret` claim (or another configured claim) at first login.
    external_id: Mapped[str | None] = mapped_column(String(64), unique=True, default=None)
    # Email domains whose users join this organisation without an access code: a sorted copy
    # of its rows in `organisation_domains`, which decide (accounts/domains.py).
    allowed_domains: Mapped[list[str]] = mapped_column(JSON, default=list)
    # Model ids members may use; None means every model of the deployment.
    allowed_models: Mapped[list[str] | None] = mapped_column(JSON, default=None)
    web_search_allowed: Mapped[bool] = mapped_column(default=True)
    # Deep research too, when web search is allowed (off / search / search and research).
    deep_research_allowed: Mapped[bool] = mapped_column(default=True, server_default=true())
    # Domains web search may read ("gouv.fr" also covers its subdomains); None: any domain.
    web_allowed_domains: Mapped[list[str] | None] = mapped_column(JSON, default=None)
    # Domains web search never reads, whatever the allow-list says.
    web_blocked_domains: Mapped[list[str] | None] = mapped_column(JSON, default=None)
    # The usage charter shown at sign-in; None means the default text (accounts/charter.py).
    charter_text: Mapped[str | None] = mapped_column(Text, default=None)
    # Bumped when the text changes, so that everyone accepts the new text again.
    charter_version: Mapped[int] = mapped_column(Integer, default=1)
    # Overrides of the deployment's document limits for this organisation's files, e.g.
    # {"max_characters": 1000000, "max_passages": 5000} (autan.documents.worker); None: none.
    document_limits: Mapped[dict[str, int] | None] = mapped_column(JSON, default=None)
    # Whether the energy and CO2 of each answer is shown under it in the chat.
    show_impacts: Mapped[bool] = mapped_column(default=True, server_default=true())
    # Lower limits of this organisation's deep-research runs, e.g. {"max_pages": 6}
    # (autan.research.settings.ORG_LIMITS); None: the deployment's.
    research_limits: Mapped[dict[str, int] | None] = mapped_column(JSON, default=None)


class OrganisationDomain(TimestampMixin, Base):
    """An email domain and the one organisation whose newcomers it admits."""

    __tablename__ = "organisation_domains"

    # The primary key is what makes a domain belong to one organisation at most.
    domain: Mapped[str] = mapped_column(String(253), primary_key=True)
    org_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("organisations.id", ondelete="CASCADE"), index=True
    )


class User(TimestampMixin, Base):
    __tablename__ = "users"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    email: Mapped[str] = mapped_column(String(320), unique=True)
    display_name: Mapped[str] = mapped_column(String(200), default="")
    role: Mapped[Role] = mapped_column(String(16), default=Role.MEMBER)
    org_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organisations.id"), index=True)
    password_hash: Mapped[str | None] = mapped_column(String(200), default=None)
    is_active: Mapped[bool] = mapped_column(default=True)
    # The OIDC issuer and subject this account was first linked to.
    oidc_issuer: Mapped[str | None] = mapped_column(String(500), default=None)
    oidc_subject: Mapped[str | None] = mapped_column(String(255), default=None)
    # Bumped by "log out of all devices": sessions signed with an older epoch are refused.
    session_epoch: Mapped[int] = mapped_column(Integer, default=0)
    last_login_at: Mapped[datetime | None] = mapped_column(default=None)
    # The organisation's charter version this user accepted, and when.
    charter_accepted_version: Mapped[int | None] = mapped_column(Integer, default=None)
    charter_accepted_at: Mapped[datetime | None] = mapped_column(default=None)

    organisation: Mapped[Organisation] = relationship(lazy="raise")

    __table_args__ = (UniqueConstraint("oidc_issuer", "oidc_subject"),)


class ApiKey(TimestampMixin, Base):
    __tablename__ = "api_keys"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    user_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(String(100), default="")
    # The first characters of the secret, shown in lists so users can tell keys apart.
    prefix: Mapped[str] = mapped_column(String(16))
    secret_hash: Mapped[str] = mapped_column(String(64), unique=True)
    expires_at: Mapped[datetime | None] = mapped_column(default=None)
    last_used_at: Mapped[datetime | None] = mapped_column(default=None)
    revoked_at: Mapped[datetime | None] = mapped_column(default=None)


class AccessCode(TimestampMixin, Base):
    """A code a referent hands out; redeeming it binds a new user to the organisation."""

    __tablename__ = "access_codes"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    org_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("organisations.id", ondelete="CASCADE"), index=True
    )
    created_by: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), default=None
    )
    label: Mapped[str] = mapped_column(String(200), default="")
    # The role a newcomer gets by redeeming the code; never above its creator's own role.
    role: Mapped[Role] = mapped_column(String(16), default=Role.MEMBER, server_default="member")
    # The code is derived from the deployment's secret and the row id (HMAC), so its creator
    # can be shown it again while the database holds only this hash.
    code_hash: Mapped[str] = mapped_column(String(64), unique=True)
    max_uses: Mapped[int | None] = mapped_column(Integer, default=1)
    uses: Mapped[int] = mapped_column(Integer, default=0)
    expires_at: Mapped[datetime | None] = mapped_column(default=None)
    revoked_at: Mapped[datetime | None] = mapped_column(default=None)


class QuotaRule(Base):
    """Limits for an organisation, optionally for one role in it (the most specific wins)."""

    __tablename__ = "quota_rules"
    __table_args__ = (UniqueConstraint("org_id", "role"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    org_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organisations.id", ondelete="CASCADE"))
    role: Mapped[Role | None] = mapped_column(String(16), default=None)
    requests_per_minute: Mapped[int | None] = mapped_column(Integer, default=None)
    tokens_per_day: Mapped[int | None] = mapped_column(BigInteger, default=None)


class AuditEvent(Base):
    """Who did what to which account or setting; never conversation content."""

    __tablename__ = "audit_events"
    __table_args__ = (Index("ix_audit_events_org_at", "org_id", "at"),)

    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    )
    at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    action: Mapped[str] = mapped_column(String(64))
    actor_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), default=None
    )
    org_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("organisations.id", ondelete="SET NULL"), default=None
    )
    target: Mapped[str | None] = mapped_column(String(200), default=None)
    ip: Mapped[str | None] = mapped_column(String(64), default=None)
    details: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class RevokedSession(Base):
    """A browser session ended by logout, kept until it would have expired anyway.

    Only without Redis: with Redis the same entries live in a sorted set there.
    """

    __tablename__ = "revoked_sessions"

    session_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    expires_at: Mapped[datetime] = mapped_column(index=True)


class AccountLink(TimestampMixin, Base):
    """A one-time link to set a password: an invitation, or a reset a referent handed over."""

    __tablename__ = "account_links"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    kind: Mapped[str] = mapped_column(String(16))  # "invitation" or "reset"
    user_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    # The organisation the link was made in: it stops working if the person leaves it.
    org_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organisations.id", ondelete="CASCADE"))
    created_by: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), default=None
    )
    # SHA-256 of the token: the database alone cannot open the link.
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    expires_at: Mapped[datetime] = mapped_column()
    used_at: Mapped[datetime | None] = mapped_column(default=None)
