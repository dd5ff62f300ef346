"""The person's Docs access: the Suite's access token kept at sign-in, or a saved token.

Both are encrypted with a key derived from the deployment's secret (Fernet: AES-128-CBC
with HMAC-SHA256, from `cryptography`). The access token of a ProConnect sign-in lives only
in the person's own browser, in an encrypted HttpOnly cookie that expires with it; a
personal token is kept in `docs_tokens` and never shown again.
"""

from __future__ import annotations

import base64
import hashlib
import time
import uuid

import orjson
from cryptography.fernet import Fernet, InvalidToken
from sqlalchemy import delete
from sqlalchemy.ext.asyncio import AsyncSession

from autan.accounts import audit
from autan.accounts.principal import Principal
from autan.core.errors import InvalidRequest
from autan.suitedocs.models import DocsToken

DOCS_TOKEN_COOKIE = "autan_docs_token"
MAX_TOKEN_CHARS = 8192


def _fernet(secret: str) -> Fernet:
    key = hashlib.sha256(b"autan-docs-token:" + secret.encode()).digest()
    return Fernet(base64.urlsafe_b64encode(key))


def seal(secret: str, token: str, expires_at: float, owner: uuid.UUID) -> str:
    """A token, its end and whose it is, encrypted (for the cookie or the table)."""
    payload = orjson.dumps({"t": token, "e": expires_at, "u": str(owner)})
    return _fernet(secret).encrypt(payload).decode()


def unseal(
    secret: str, sealed: str | None, owner: uuid.UUID, now: float | None = None
) -> str | None:
    """The owner's token inside, or None when absent, tampered with, expired or someone
    else's (a cookie left in a browser shared by two people)."""
    found = unseal_with_end(secret, sealed, owner, now)
    return found[0] if found else None


def unseal_with_end(
    secret: str, sealed: str | None, owner: uuid.UUID, now: float | None = None
) -> tuple[str, float] | None:
    """The owner's token and its end (epoch seconds, 0: none), as `unseal` reads it."""
    if not sealed:
        return None
    try:
        data = orjson.loads(_fernet(secret).decrypt(sealed.encode()))
    except (InvalidToken, orjson.JSONDecodeError, ValueError):
        return None
    if not isinstance(data, dict) or not isinstance(data.get("t"), str):
        return None
    if data.get("u") != str(owner):
        return None
    expires = data.get("e")
    if isinstance(expires, (int, float)) and expires and expires < (now or time.time()):
        return None
    return str(data["t"]), float(expires) if isinstance(expires, (int, float)) else 0.0


class DocsTokenInvalid(InvalidRequest):
    code = "docs_token_invalid"

    def __init__(self) -> None:
        super().__init__(
            "Paste the whole Docs token (one line, without spaces).", param="docs_token"
        )


async def save_personal_token(
    session: AsyncSession, secret: str, principal: Principal, token: str
) -> None:
    """Keep the person's own Docs token, encrypted; it replaces any earlier one."""
    token = token.strip()
    if not token or len(token) > MAX_TOKEN_CHARS or any(c.isspace() for c in token):
        raise DocsTokenInvalid()
    await session.execute(delete(DocsToken).where(DocsToken.user_id == principal.user_id))
    session.add(
        DocsToken(user_id=principal.user_id, ciphertext=seal(secret, token, 0, principal.user_id))
    )
    audit.record(
        session, audit.Action.DOCS_TOKEN_SAVED, actor_id=principal.user_id, org_id=principal.org_id
    )
    await session.commit()


async def remove_personal_token(session: AsyncSession, principal: Principal) -> None:
    """Remove the person's saved Docs token."""
    await session.execute(delete(DocsToken).where(DocsToken.user_id == principal.user_id))
    await session.commit()


async def personal_token(session: AsyncSession, secret: str, user_id: uuid.UUID) -> str | None:
    """The person's saved Docs token, if any."""
    row = await session.get(DocsToken, user_id)
    return unseal(secret, row.ciphertext, user_id) if row is not None else None


async def has_personal_token(session: AsyncSession, user_id: uuid.UUID) -> bool:
    """Whether the person saved a Docs token (the page says so, never shows it)."""
    return await session.get(DocsToken, user_id) is not None
