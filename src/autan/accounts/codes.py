"""Access codes that AI referents hand out to let new users into their organisation.

A code is derived from the deployment's secret and the code's id (HMAC), written in
Crockford's base32 (no I, L, O or U to misread). The database keeps only its SHA-256, so a
leaked database reveals no usable code, yet the referent who made it can be shown it again.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from autan.accounts import audit
from autan.accounts.models import AccessCode, Organisation, Role, User
from autan.accounts.principal import Principal
from autan.core.db import rowcount, utcnow
from autan.core.errors import Forbidden, InvalidRequest, NotFound

_B32 = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
_CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
_TO_CROCKFORD = str.maketrans(_B32, _CROCKFORD)
# Characters people mistype for others in a code read aloud or copied from paper.
_READ_AS = str.maketrans({"O": "0", "I": "1", "L": "1", "U": "V"})
_GROUPS, _GROUP = 4, 4  # 16 characters: 80 bits


class AccessCodeRefused(InvalidRequest):
    """A code that cannot be redeemed; the message says why in plain words."""

    code = "access_code_refused"


class AccessCodeNotFound(NotFound):
    code = "access_code_not_found"

    def __init__(self) -> None:
        super().__init__("No such access code.")


def derive_code(secret: str, code_id: uuid.UUID) -> str:
    """The human-readable code of a code row."""
    digest = hmac.new(secret.encode(), b"access-code:" + code_id.bytes, hashlib.sha256).digest()
    text = base64.b32encode(digest).decode().translate(_TO_CROCKFORD)[: _GROUPS * _GROUP]
    return "-".join(text[i : i + _GROUP] for i in range(0, len(text), _GROUP))


def normalise_code(text: str) -> str:
    """A code as typed (any case, spaces, dashes, O for 0) in its canonical form."""
    compact = "".join(ch for ch in text.upper() if ch.isalnum()).translate(_READ_AS)
    return "-".join(compact[i : i + _GROUP] for i in range(0, len(compact), _GROUP))


def code_digest(code: str) -> str:
    return hashlib.sha256(normalise_code(code).encode()).hexdigest()


class CodeRoleTooHigh(Forbidden):
    """A code may not grant more than its creator holds; admin codes are for admins."""

    code = "code_role_too_high"

    def __init__(self) -> None:
        super().__init__(
            "A code cannot grant a role above your own; only administrators create "
            "administrator codes.",
            param="role",
        )


_RANK = {Role.MEMBER: 0, Role.REFERENT: 1, Role.ADMIN: 2}


def grantable_roles(creator_role: Role) -> list[Role]:
    """The roles a code made by someone of this role may grant, lowest first."""
    return [role for role in _RANK if _RANK[role] <= _RANK[creator_role]]


@dataclass(frozen=True, slots=True)
class CreatedCode:
    row: AccessCode
    code: str


MAX_USES = 100_000


async def create_code(
    session: AsyncSession,
    secret: str,
    *,
    org: Organisation,
    creator: Principal | None,
    label: str = "",
    max_uses: int | None = 1,
    valid_days: int | None = 30,
    role: Role = Role.MEMBER,
) -> CreatedCode:
    """Create a code for an organisation and commit.

    `creator` None is the command line, run by whoever operates the server: any role.
    """
    if creator is not None and role not in grantable_roles(creator.role):
        raise CodeRoleTooHigh()
    # The CLI reaches here without the API's schema; the column is a 32-bit integer.
    if max_uses is not None and not 1 <= max_uses <= MAX_USES:
        raise InvalidRequest("A code allows 1 to 100000 uses.", param="max_uses")
    if valid_days is not None and not 1 <= valid_days <= 3650:
        raise InvalidRequest("A code is valid for 1 to 3650 days.", param="valid_days")
    row = AccessCode(
        id=uuid.uuid4(),
        org_id=org.id,
        created_by=creator.user_id if creator else None,
        label=label.strip()[:200],
        role=role,
        max_uses=max_uses,
        expires_at=utcnow() + timedelta(days=valid_days) if valid_days else None,
    )
    code = derive_code(secret, row.id)
    row.code_hash = code_digest(code)
    session.add(row)
    audit.record(
        session,
        audit.Action.CODE_CREATED,
        actor_id=creator.user_id if creator else None,
        org_id=org.id,
        target=str(row.id),
        label=row.label,
        max_uses=max_uses,
        role=role.value,
    )
    await session.commit()
    return CreatedCode(row, code)


def visible_code(secret: str, row: AccessCode, viewer: Principal) -> str | None:
    """The code itself, for the referent who created it only."""
    return derive_code(secret, row.id) if row.created_by == viewer.user_id else None


async def list_codes(session: AsyncSession, org_id: uuid.UUID) -> list[AccessCode]:
    rows = await session.scalars(
        select(AccessCode).where(AccessCode.org_id == org_id).order_by(AccessCode.created_at.desc())
    )
    return list(rows)


async def code_in_org(session: AsyncSession, org_id: uuid.UUID, code_id: uuid.UUID) -> AccessCode:
    """A code of this organisation, or not found (another organisation's alike)."""
    row = await session.scalar(
        select(AccessCode).where(AccessCode.id == code_id, AccessCode.org_id == org_id)
    )
    if row is None:
        raise AccessCodeNotFound()
    return row


async def revoke_code(
    session: AsyncSession, org_id: uuid.UUID, code_id: uuid.UUID, actor: Principal
) -> AccessCode:
    """Revoke a code of this organisation and commit."""
    row = await session.scalar(
        select(AccessCode).where(AccessCode.id == code_id, AccessCode.org_id == org_id)
    )
    if row is None:
        raise AccessCodeNotFound()
    if row.revoked_at is None:
        row.revoked_at = utcnow()
        audit.record(
            session,
            audit.Action.CODE_REVOKED,
            actor_id=actor.user_id,
            org_id=org_id,
            target=str(row.id),
        )
        await session.commit()
    return row


def _refusal(row: AccessCode | None, now: datetime) -> str | None:
    if row is None:
        return "This access code is not valid. Check it with your AI referent."
    if row.revoked_at is not None:
        return "This access code has been withdrawn. Ask your AI referent for a new one."
    if row.expires_at is not None and row.expires_at <= now:
        return "This access code has expired. Ask your AI referent for a new one."
    if row.max_uses is not None and row.uses >= row.max_uses:
        return "This access code has already been used. Ask your AI referent for a new one."
    return None


async def claim(session: AsyncSession, code: str) -> AccessCode:
    """Count one use of a valid code, atomically, without committing; refuse it otherwise."""
    row = await session.scalar(select(AccessCode).where(AccessCode.code_hash == code_digest(code)))
    refusal = _refusal(row, utcnow())
    if refusal is not None or row is None:
        raise AccessCodeRefused(refusal or "", param="code")
    # Counted in the database, so two people racing for the last use cannot both get it.
    counted = await session.execute(
        update(AccessCode)
        .where(AccessCode.id == row.id)
        .where((AccessCode.max_uses.is_(None)) | (AccessCode.uses < AccessCode.max_uses))
        .values(uses=AccessCode.uses + 1)
    )
    if rowcount(counted) != 1:
        await session.rollback()
        raise AccessCodeRefused(
            "This access code has already been used. Ask your AI referent for a new one.",
            param="code",
        )
    return row


async def redeem(
    session: AsyncSession, code: str, user: User, *, ip: str | None = None
) -> Organisation:
    """Bind an existing user to the organisation of a valid code, counting one use; commit."""
    row = await claim(session, code)
    org = await session.get(Organisation, row.org_id)
    assert org is not None
    user.org_id = org.id
    audit.record(
        session,
        audit.Action.CODE_REDEEMED,
        actor_id=user.id,
        org_id=org.id,
        target=str(row.id),
        ip=ip,
    )
    await session.commit()
    return org
