"""Browser sessions: a signed cookie, idle and absolute expiry, CSRF, "log out everywhere".

The cookie carries the user id, the user's session epoch, the login time, the last-seen
time and a CSRF token, signed with the deployment's secret (itsdangerous). Nothing is stored
server-side per session, so several server processes share sessions with no extra store;
"log out of all devices" bumps the user's epoch, which invalidates every cookie at once.
"""

from __future__ import annotations

import hmac
import secrets
import time
import uuid
from dataclasses import dataclass, replace

from itsdangerous import BadSignature, URLSafeSerializer
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from autan.accounts.errors import SessionExpired
from autan.accounts.models import Role, User
from autan.accounts.principal import Principal
from autan.core.cache import LoadingCache
from autan.settings import SessionSettings

# A cookie is re-signed when its last-seen time is older than this, not on every request.
_TOUCH_EVERY = 60.0


@dataclass(frozen=True, slots=True)
class SessionData:
    user_id: uuid.UUID
    epoch: int
    issued_at: int  # whole seconds, as the cookie carries them
    seen_at: int
    csrf: str


class SessionCodec:
    """Signs and checks session cookies."""

    def __init__(self, secret: str, settings: SessionSettings) -> None:
        self._serializer = URLSafeSerializer(secret, salt="autan.session")
        self._idle = settings.idle_timeout_minutes * 60
        self._absolute = settings.absolute_timeout_hours * 3600

    def issue(self, user_id: uuid.UUID, epoch: int) -> tuple[str, SessionData]:
        """A new session (and its cookie value) for a user who just logged in."""
        now = int(time.time())
        data = SessionData(user_id, epoch, now, now, secrets.token_urlsafe(24))
        return self.encode(data), data

    def encode(self, data: SessionData) -> str:
        payload = [str(data.user_id), data.epoch, data.issued_at, data.seen_at, data.csrf]
        return self._serializer.dumps(payload)

    def decode(self, value: str, now: float | None = None) -> SessionData:
        """The session in a cookie; `SessionExpired` if tampered with, idle or too old."""
        try:
            user_id, epoch, issued_at, seen_at, csrf = self._serializer.loads(value)
            data = SessionData(
                uuid.UUID(user_id), int(epoch), int(issued_at), int(seen_at), str(csrf)
            )
        except (BadSignature, ValueError, TypeError):
            raise SessionExpired() from None
        now = time.time() if now is None else now
        if now - data.seen_at > self._idle or now - data.issued_at > self._absolute:
            raise SessionExpired()
        return data

    def touched(self, data: SessionData, now: float | None = None) -> SessionData | None:
        """A refreshed session if its last-seen time is due for an update, else None."""
        now = time.time() if now is None else now
        return replace(data, seen_at=int(now)) if now - data.seen_at >= _TOUCH_EVERY else None

    @staticmethod
    def csrf_ok(data: SessionData, token: str | None) -> bool:
        return token is not None and hmac.compare_digest(data.csrf, token)


class SessionAuthenticator:
    """Turns a checked session into a principal, with a short cache of the user row."""

    def __init__(self, factory: async_sessionmaker[AsyncSession], ttl: float) -> None:
        self._factory = factory
        self._users: LoadingCache[uuid.UUID, User | None] = LoadingCache(self._load, ttl)

    async def _load(self, user_id: uuid.UUID) -> User | None:
        async with self._factory() as session:
            return await session.get(User, user_id)

    async def principal(self, data: SessionData) -> Principal:
        """The user of a session, or `SessionExpired` if disabled or logged out everywhere."""
        user = await self._users.get(data.user_id)
        if user is None or not user.is_active or user.session_epoch != data.epoch:
            raise SessionExpired()
        return Principal(user.id, user.org_id, user.email, Role(user.role))

    def forget(self, user_id: uuid.UUID) -> None:
        self._users.forget(user_id)
