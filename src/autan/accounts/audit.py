"""The audit log: logins, code redemptions, keys, roles and settings; never content."""

from __future__ import annotations

import uuid
from enum import StrEnum
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from autan.accounts.models import AuditEvent


class Action(StrEnum):
    LOGIN = "login"
    LOGIN_FAILED = "login_failed"
    LOGOUT_ALL = "logout_all"
    CODE_CREATED = "code_created"
    CODE_REVOKED = "code_revoked"
    CODE_REDEEMED = "code_redeemed"
    KEY_CREATED = "key_created"
    KEY_REVOKED = "key_revoked"
    USER_CREATED = "user_created"
    USER_UPDATED = "user_updated"
    ORG_CREATED = "org_created"
    ORG_UPDATED = "org_updated"
    DOMAIN_MOVED = "domain_moved"
    CHARTER_ACCEPTED = "charter_accepted"
    CHARTER_UPDATED = "charter_updated"
    DATA_ERASED = "data_erased"
    WEB_SEARCH = "web_search"  # that a search happened, never what was searched
    RETENTION_UPDATED = "retention_updated"
    RETENTION_PURGED = "retention_purged"  # how many rows of each kind, never which
    SIGNED_UP = "signed_up"
    INVITATION_CREATED = "invitation_created"
    INVITATION_USED = "invitation_used"
    RESET_LINK_CREATED = "reset_link_created"
    RESET_LINK_USED = "reset_link_used"
    RESET_LINK_REQUESTED = "reset_link_requested"  # "forgot password": sent by e-mail
    DEEP_RESEARCH = "deep_research"  # that a run started, never its question
    BUDGET_UPDATED = "budget_updated"
    BUDGET_ALERT = "budget_alert"  # a budget reached 80 % or 100 % this month
    WEB_DOMAINS_UPDATED = "web_domains_updated"  # an organisation's web allow/block-lists
    DRIVE_CONNECTED = "drive_connected"  # a drive folder synced into a collection
    DRIVE_REVOKED = "drive_revoked"  # its password erased; documents kept or deleted


def record(
    session: AsyncSession,
    action: Action,
    *,
    actor_id: uuid.UUID | None,
    org_id: uuid.UUID | None,
    target: str | None = None,
    ip: str | None = None,
    **details: Any,
) -> None:
    """Add an audit event to the session; the calling service commits it with its change."""
    session.add(
        AuditEvent(
            action=action.value,
            actor_id=actor_id,
            org_id=org_id,
            target=target,
            ip=ip,
            details=details,
        )
    )
