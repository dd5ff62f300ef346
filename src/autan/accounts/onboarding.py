"""Who an OIDC identity is here: a known account, a newcomer admitted by their organisation
(SIRET or email domain), or a newcomer who must first redeem an access code."""

from __future__ import annotations

import uuid

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from autan.accounts import audit, codes, domains
from autan.accounts.models import Organisation, Role, User
from autan.accounts.oidc import OidcIdentity
from autan.core.db import utcnow
from autan.core.errors import Conflict


class AccountLinkedElsewhere(Conflict):
    code = "account_linked_elsewhere"

    def __init__(self) -> None:
        super().__init__(
            "An account with this email is already linked to another sign-in. "
            "Please contact your administrator."
        )


async def _admitting_org(session: AsyncSession, identity: OidcIdentity) -> Organisation | None:
    if identity.organisation_id:
        org = await session.scalar(
            select(Organisation).where(Organisation.external_id == identity.organisation_id)
        )
        if org is not None:
            return org
    return await domains.org_of_domain(session, identity.email.rpartition("@")[2])


async def _known_user(session: AsyncSession, identity: OidcIdentity) -> User | None:
    user = await session.scalar(
        select(User).where(
            User.oidc_issuer == identity.issuer, User.oidc_subject == identity.subject
        )
    )
    if user is None:
        # The provider vouches for the email (unverified ones are refused upstream): link.
        user = await session.scalar(select(User).where(func.lower(User.email) == identity.email))
        if user is not None and user.oidc_subject is None:
            user.oidc_issuer, user.oidc_subject = identity.issuer, identity.subject
        elif user is not None:
            raise AccountLinkedElsewhere()
    return user


def _new_user(identity: OidcIdentity, org_id: uuid.UUID) -> User:
    names = " ".join(n for n in (identity.given_name, identity.family_name) if n)
    return User(
        email=identity.email,
        display_name=names,
        org_id=org_id,
        oidc_issuer=identity.issuer,
        oidc_subject=identity.subject,
    )


def _logged_in(session: AsyncSession, user: User, ip: str | None) -> None:
    user.last_login_at = utcnow()
    audit.record(
        session, audit.Action.LOGIN, actor_id=user.id, org_id=user.org_id, ip=ip, method="oidc"
    )


async def sign_in(session: AsyncSession, identity: OidcIdentity, *, ip: str | None) -> User | None:
    """The account of this identity, created if its organisation admits it; None when the
    newcomer needs an access code. Commits."""
    user = await _known_user(session, identity)
    if user is None:
        org = await _admitting_org(session, identity)
        if org is None:
            await session.rollback()
            return None
        user = _new_user(identity, org.id)
        session.add(user)
        await session.flush()
        audit.record(
            session, audit.Action.USER_CREATED, actor_id=user.id, org_id=org.id, via="allow-list"
        )
    if not user.is_active:
        await session.rollback()
        return None
    _logged_in(session, user, ip)
    await session.commit()
    return user


async def join_with_code(
    session: AsyncSession, identity: OidcIdentity, code: str, *, ip: str | None
) -> User:
    """Create the account of a newcomer in the organisation of their access code. Commits."""
    row = await codes.claim(session, code)
    user = _new_user(identity, row.org_id)
    user.role = Role(row.role)
    session.add(user)
    await session.flush()
    audit.record(
        session,
        audit.Action.CODE_REDEEMED,
        actor_id=user.id,
        org_id=row.org_id,
        target=str(row.id),
        ip=ip,
    )
    _logged_in(session, user, ip)
    await session.commit()
    return user
