"""One-time links to set a password: invitations and resets that a referent hands over.

The token travels only in the link; the database keeps its SHA-256, compared in constant
time. A link expires, works once, and only while its person is still in the organisation it
was made in. Making a new link of the same kind for a person withdraws the older ones.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import uuid
from dataclasses import dataclass
from datetime import timedelta
from enum import StrEnum

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from autan.accounts import audit, repository, signup
from autan.accounts.errors import UserExists
from autan.accounts.models import AccountLink, Organisation, Role, User
from autan.accounts.org_management import AdminRoleReserved, UserNotInScope
from autan.accounts.principal import Principal
from autan.accounts.service import normalise_email
from autan.core.db import rowcount, utcnow
from autan.core.errors import InvalidRequest
from autan.core.events import UserChanged, emit


class LinkKind(StrEnum):
    INVITATION = "invitation"
    RESET = "reset"


class LinkRefused(InvalidRequest):
    """A link that cannot be used; the message says why in plain words."""

    code = "link_refused"


_UNKNOWN = "This link is not valid. Ask your AI referent for a new one."
_USED = "This link has already been used. Ask your AI referent for a new one."
_EXPIRED = "This link has expired. Ask your AI referent for a new one."


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class CreatedLink:
    """A new link: its row, its person, and the token shown once to its maker."""

    row: AccountLink
    user: User
    token: str


async def _new_link(
    session: AsyncSession, kind: LinkKind, user: User, actor: Principal | None, hours: int
) -> CreatedLink:
    # Older unused links of the same kind stop working: only the latest handed over counts.
    await session.execute(
        update(AccountLink)
        .where(
            AccountLink.user_id == user.id,
            AccountLink.kind == kind.value,
            AccountLink.used_at.is_(None),
        )
        .values(expires_at=utcnow())
    )
    token = secrets.token_urlsafe(32)
    row = AccountLink(
        id=uuid.uuid4(),
        kind=kind.value,
        user_id=user.id,
        org_id=user.org_id,
        created_by=actor.user_id if actor else None,
        token_hash=token_digest(token),
        expires_at=utcnow() + timedelta(hours=hours),
    )
    session.add(row)
    return CreatedLink(row, user, token)


async def invite(
    session: AsyncSession,
    org: Organisation,
    actor: Principal,
    *,
    email: str,
    name: str = "",
    role: Role = Role.MEMBER,
    hours: int = 72,
) -> CreatedLink:
    """Create a person without a password in `org` and an invitation link; commit.

    Only administrators may create administrators; the caller has checked that `actor`
    manages `org` (`permissions.require_org_manager`).
    """
    email = normalise_email(email)
    if role == Role.ADMIN and actor.role != Role.ADMIN:
        raise AdminRoleReserved()
    if await repository.user_by_email(session, email) is not None:
        raise UserExists(email)
    user = User(email=email, display_name=name.strip()[:200], role=role, org_id=org.id)
    session.add(user)
    await session.flush()
    created = await _new_link(session, LinkKind.INVITATION, user, actor, hours)
    audit.record(
        session,
        audit.Action.INVITATION_CREATED,
        actor_id=actor.user_id,
        org_id=org.id,
        target=email,
        role=role.value,
    )
    await session.commit()
    return created


async def reset_link(
    session: AsyncSession, org: Organisation, actor: Principal, user_id: uuid.UUID, hours: int = 72
) -> CreatedLink:
    """A link for a person of `org` to choose a password, and commit: a reset, or a new
    invitation if they never set one. An admin's only from an admin."""
    user = await session.scalar(select(User).where(User.id == user_id, User.org_id == org.id))
    if user is None:
        raise UserNotInScope()
    if user.role == Role.ADMIN and actor.role != Role.ADMIN:
        raise AdminRoleReserved()
    invited = user.password_hash is None
    kind = LinkKind.INVITATION if invited else LinkKind.RESET
    created = await _new_link(session, kind, user, actor, hours)
    audit.record(
        session,
        audit.Action.INVITATION_CREATED if invited else audit.Action.RESET_LINK_CREATED,
        actor_id=actor.user_id,
        org_id=org.id,
        target=user.email,
    )
    await session.commit()
    return created


async def requested_reset(
    session: AsyncSession, email: str, hours: int, *, ip: str | None = None
) -> CreatedLink | None:
    """A reset link the person asked for themselves ("forgot password"), and commit; None
    when no active account has this address (the caller answers the same either way)."""
    try:
        email = normalise_email(email)
    except InvalidRequest:
        return None
    user = await repository.user_by_email(session, email)
    if user is None or not user.is_active:
        return None
    kind = LinkKind.INVITATION if user.password_hash is None else LinkKind.RESET
    created = await _new_link(session, kind, user, None, hours)
    audit.record(
        session,
        audit.Action.RESET_LINK_REQUESTED,
        actor_id=user.id,
        org_id=user.org_id,
        target=user.email,
        ip=ip,
    )
    await session.commit()
    return created


async def open_link(session: AsyncSession, token: str) -> tuple[AccountLink, User]:
    """The link of a token and its person, or `LinkRefused` saying why."""
    digest = token_digest(token)
    row = await session.scalar(select(AccountLink).where(AccountLink.token_hash == digest))
    # The index found the row by its hash; compare again in constant time all the same.
    if row is None or not hmac.compare_digest(row.token_hash, digest):
        raise LinkRefused(_UNKNOWN)
    if row.used_at is not None:
        raise LinkRefused(_USED)
    if row.expires_at <= utcnow():
        raise LinkRefused(_EXPIRED)
    user = await session.get(User, row.user_id)
    if user is None or user.org_id != row.org_id or not user.is_active:
        raise LinkRefused(_UNKNOWN)
    return row, user


async def use_link(
    session: AsyncSession, token: str, password: str, *, ip: str | None = None
) -> User:
    """Set the person's password through a link, spend the link, and commit."""
    row, user = await open_link(session, token)
    signup.check_password(password, user.email)
    password_hash = await signup.hashed(password)
    # Spent in the database, so two tabs racing on one link cannot both set a password.
    spent = await session.execute(
        update(AccountLink)
        .where(AccountLink.id == row.id, AccountLink.used_at.is_(None))
        .values(used_at=utcnow())
    )
    if rowcount(spent) != 1:
        await session.rollback()
        raise LinkRefused(_USED)
    user.password_hash = password_hash
    user.last_login_at = utcnow()
    # A reset ends every other session: whoever knew the old password is out.
    user.session_epoch += 1
    emit(session, UserChanged(user.id))
    used = (
        audit.Action.INVITATION_USED
        if row.kind == LinkKind.INVITATION
        else audit.Action.RESET_LINK_USED
    )
    audit.record(session, used, actor_id=user.id, org_id=row.org_id, target=user.email, ip=ip)
    await session.commit()
    return user
