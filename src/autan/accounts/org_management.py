"""What referents and admins change in an organisation: settings, quotas, users; the audit log."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from autan.accounts import audit, domains
from autan.accounts.models import Organisation, QuotaRule, Role, User
from autan.accounts.principal import Principal
from autan.accounts.service import change_user
from autan.core.errors import Forbidden, InvalidRequest, NotFound
from autan.core.events import OrganisationChanged, QuotaRulesChanged, emit
from autan.websearch.domain_patterns import parse_patterns


class UserNotInScope(NotFound):
    code = "user_not_found"

    def __init__(self) -> None:
        super().__init__("No such user in this organisation.")


class CannotChangeSelf(Forbidden):
    code = "cannot_change_self"

    def __init__(self) -> None:
        super().__init__("You cannot change your own role or disable your own account.")


class AdminRoleReserved(Forbidden):
    code = "admin_role_reserved"

    def __init__(self) -> None:
        super().__init__("Only platform administrators can grant or remove the admin role.")


_ORG_FIELDS = (
    "name",
    "allowed_domains",
    "allowed_models",
    "web_search_allowed",
    "deep_research_allowed",
    "research_limits",
    "web_allowed_domains",
    "web_blocked_domains",
)
_WEB_DOMAIN_FIELDS = ("web_allowed_domains", "web_blocked_domains")


async def update_org(
    session: AsyncSession,
    org: Organisation,
    changes: dict[str, Any],
    actor: Principal,
    *,
    move_domains: bool = False,
) -> Organisation:
    """Change an organisation's settings and commit; the audit keeps what changed.

    Domains held by another organisation are refused (`DomainTaken`) unless an administrator
    moves them with `move_domains`; on any refusal nothing is changed.
    """
    unknown = [field for field in changes if field not in _ORG_FIELDS]
    if unknown:
        raise InvalidRequest(
            "{field} cannot be changed.", param=unknown[0], values={"field": unknown[0]}
        )
    changes = dict(changes)
    for field in _WEB_DOMAIN_FIELDS:
        if changes.get(field) is not None:
            changes[field] = parse_patterns(changes[field], field)
    before = {field: getattr(org, field) for field in changes}
    after = dict(changes)
    if "allowed_domains" in changes:
        # First, so that a refused domain leaves every other field untouched.
        after["allowed_domains"] = await domains.set_domains(
            session, org, changes["allowed_domains"] or [], actor, move=move_domains
        )
    for field, value in after.items():
        if field != "allowed_domains":
            setattr(org, field, value)
    _record_changes(session, org, actor, before, after)
    emit(session, OrganisationChanged(org.id))
    if "research_limits" in changes:
        # They hold the web search quotas too, which `Quotas` caches with the quota rules.
        emit(session, QuotaRulesChanged(org.id))
    await session.commit()
    return org


def _record_changes(
    session: AsyncSession,
    org: Organisation,
    actor: Principal,
    before: dict[str, Any],
    after: dict[str, Any],
) -> None:
    """Audit the change: the web domain lists under their own action when they changed
    (a referent looking for who narrowed web search finds it by name), the rest as an
    organisation update."""
    lists = [f for f in _WEB_DOMAIN_FIELDS if f in after and after[f] != before[f]]
    if lists:
        audit.record(
            session,
            audit.Action.WEB_DOMAINS_UPDATED,
            actor_id=actor.user_id,
            org_id=org.id,
            target=org.slug,
            before={f: before[f] for f in lists},
            after={f: after[f] for f in lists},
        )
    rest = [f for f in after if f not in lists]
    if rest or not lists:
        audit.record(
            session,
            audit.Action.ORG_UPDATED,
            actor_id=actor.user_id,
            org_id=org.id,
            target=org.slug,
            before={f: before[f] for f in rest},
            after={f: after[f] for f in rest},
        )


async def set_quota(
    session: AsyncSession,
    org: Organisation,
    role: Role | None,
    requests_per_minute: int | None,
    tokens_per_day: int | None,
    actor: Principal,
) -> QuotaRule:
    """Set the organisation's quota rule (for one role, or for all) and commit."""
    rule = await session.scalar(
        select(QuotaRule).where(
            QuotaRule.org_id == org.id,
            QuotaRule.role.is_(None) if role is None else QuotaRule.role == role,
        )
    )
    if rule is None:
        rule = QuotaRule(org_id=org.id, role=role)
        session.add(rule)
    rule.requests_per_minute = requests_per_minute
    rule.tokens_per_day = tokens_per_day
    audit.record(
        session,
        audit.Action.ORG_UPDATED,
        actor_id=actor.user_id,
        org_id=org.id,
        target=org.slug,
        quota_role=role.value if role else None,
        requests_per_minute=requests_per_minute,
        tokens_per_day=tokens_per_day,
    )
    emit(session, QuotaRulesChanged(org.id))
    await session.commit()
    return rule


async def quota_rules(session: AsyncSession, org_id: uuid.UUID) -> list[QuotaRule]:
    return list(await session.scalars(select(QuotaRule).where(QuotaRule.org_id == org_id)))


async def find_users(
    session: AsyncSession, org_id: uuid.UUID, query: str = "", limit: int = 50, offset: int = 0
) -> list[User]:
    """The organisation's users whose email or name contains `query`."""
    statement = select(User).where(User.org_id == org_id)
    if query.strip():
        pattern = f"%{query.strip().lower()}%"
        statement = statement.where(or_(User.email.like(pattern), User.display_name.ilike(pattern)))
    rows = await session.scalars(statement.order_by(User.email).limit(limit).offset(offset))
    return list(rows)


async def user_in_org(session: AsyncSession, org_id: uuid.UUID, user_id: uuid.UUID) -> User:
    """A user of this organisation, or not found (another organisation's alike)."""
    user = await session.scalar(select(User).where(User.id == user_id, User.org_id == org_id))
    if user is None:
        raise UserNotInScope()
    return user


async def update_user(
    session: AsyncSession,
    org_id: uuid.UUID,
    user_id: uuid.UUID,
    actor: Principal,
    *,
    role: Role | None = None,
    is_active: bool | None = None,
) -> User:
    """Change a user's role or disable them (within the organisation) and commit."""
    user = await session.scalar(select(User).where(User.id == user_id, User.org_id == org_id))
    if user is None:
        raise UserNotInScope()
    if user.id == actor.user_id:
        raise CannotChangeSelf()
    if Role.ADMIN in (role, user.role) and actor.role != Role.ADMIN:
        raise AdminRoleReserved()
    return await change_user(session, user, actor_id=actor.user_id, role=role, is_active=is_active)
