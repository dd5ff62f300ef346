"""Local accounts: checking an email and password, and logging out of every device."""

from __future__ import annotations

import asyncio

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession

from autan.accounts import audit, repository
from autan.accounts.errors import InvalidEmail, LoginFailed
from autan.accounts.models import User
from autan.accounts.principal import Principal
from autan.accounts.service import normalise_email
from autan.core.db import utcnow
from autan.core.events import UserSessionsEnded, emit
from autan.core.security import hash_password, verify_password

# Verified when the email is unknown, so that a wrong email costs as long as a wrong password
# and response times do not tell which accounts exist.
_DUMMY_HASH = hash_password("autan-timing-equaliser")


async def check_password(
    session: AsyncSession, email: str, password: str, *, ip: str | None = None
) -> User:
    """The active user with this email and password, or `LoginFailed`; audited either way."""
    try:
        email = normalise_email(email)
    except InvalidEmail:
        raise LoginFailed() from None
    user = await repository.user_by_email(session, email)
    stored = user.password_hash if user is not None and user.password_hash else _DUMMY_HASH
    # argon2 takes tens of milliseconds of CPU: keep it off the event loop.
    matches = await asyncio.to_thread(verify_password, stored, password)
    if user is None or not user.password_hash or not matches or not user.is_active:
        audit.record(
            session,
            audit.Action.LOGIN_FAILED,
            actor_id=user.id if user else None,
            org_id=user.org_id if user else None,
            ip=ip,
            method="password",
        )
        await session.commit()
        raise LoginFailed()
    user.last_login_at = utcnow()
    audit.record(
        session, audit.Action.LOGIN, actor_id=user.id, org_id=user.org_id, ip=ip, method="password"
    )
    await session.commit()
    return user


async def log_out_everywhere(session: AsyncSession, principal: Principal) -> None:
    """End every session of the user, on every device, and commit."""
    await session.execute(
        update(User)
        .where(User.id == principal.user_id)
        .values(session_epoch=User.session_epoch + 1)
    )
    audit.record(
        session, audit.Action.LOGOUT_ALL, actor_id=principal.user_id, org_id=principal.org_id
    )
    emit(session, UserSessionsEnded(principal.user_id))
    await session.commit()
