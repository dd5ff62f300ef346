"""Joining a local-account site with an access code, and the rules every password follows."""

from __future__ import annotations

import asyncio

from sqlalchemy.ext.asyncio import AsyncSession

from autan.accounts import audit, codes, domains, repository
from autan.accounts.errors import UserExists
from autan.accounts.models import Role, User
from autan.accounts.service import normalise_email
from autan.core.db import utcnow
from autan.core.errors import InvalidRequest
from autan.core.security import hash_password

PASSWORD_MIN = 12
PASSWORD_MAX = 1024


class WeakPassword(InvalidRequest):
    code = "weak_password"

    def __init__(self, message: str) -> None:
        super().__init__(message, param="password", values={"min": PASSWORD_MIN})


class DomainOfAnotherOrganisation(InvalidRequest):
    code = "domain_of_another_organisation"

    def __init__(self) -> None:
        super().__init__(
            "Addresses of this email domain belong to another organisation. "
            "Ask the AI referent of your own organisation for a code.",
            param="email",
        )


def check_password(password: str, email: str) -> None:
    """Refuse a password that is too short, too long, or is the email itself."""
    if len(password) < PASSWORD_MIN:
        raise WeakPassword("Choose a password of at least {min} characters.")
    if len(password) > PASSWORD_MAX:
        raise WeakPassword("This password is too long.")
    if password.strip().lower() in (email.lower(), email.partition("@")[0].lower()):
        raise WeakPassword("Your password must not be your email address.")


async def hashed(password: str) -> str:
    """The argon2 hash of a password, computed off the event loop."""
    return await asyncio.to_thread(hash_password, password)


async def sign_up(
    session: AsyncSession,
    *,
    email: str,
    name: str,
    password: str,
    code: str,
    ip: str | None = None,
) -> User:
    """Create an account in the organisation of a valid access code, with its role; commit.

    The code is the proof (no e-mail verification): it counts one use, and the email's
    domain must not belong to another organisation.
    """
    email = normalise_email(email)
    check_password(password, email)
    if await repository.user_by_email(session, email) is not None:
        raise UserExists(email)
    row = await codes.claim(session, code)
    owner = await domains.org_of_domain(session, email.rpartition("@")[2])
    if owner is not None and owner.id != row.org_id:
        await session.rollback()
        raise DomainOfAnotherOrganisation()
    user = User(
        email=email,
        display_name=name.strip()[:200],
        role=Role(row.role),
        org_id=row.org_id,
        password_hash=await hashed(password),
        last_login_at=utcnow(),
    )
    session.add(user)
    await session.flush()
    audit.record(
        session,
        audit.Action.SIGNED_UP,
        actor_id=user.id,
        org_id=row.org_id,
        target=user.email,
        ip=ip,
        code=str(row.id),
        code_label=row.label,
    )
    await session.commit()
    return user
