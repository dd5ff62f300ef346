"""Browser sessions: a signed cookie, idle and absolute expiry, CSRF, logout, "log out everywhere".

The cookie carries the user id, the user's session epoch, the login time, the last-seen
time, a CSRF token and a session id, signed with the deployment's secret (itsdangerous).
Nothing is stored per live session; "log out of all devices" bumps the user's epoch, which
invalidates every cookie at once. Logging out revokes one session id: the revocation is
stored (Redis sorted set, or the `revoked_sessions` table without Redis) until the session's
absolute expiry, and announced on the event bus; every process keeps the revoked ids in
memory, loaded from the store at start and after a transport outage, so checking a cookie
costs no query.
"""

from __future__ import annotations

import asyncio
import hmac
import secrets
import time
import uuid
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import structlog
from itsdangerous import BadSignature, URLSafeSerializer
from sqlalchemy import delete, select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from autan.accounts.errors import SessionExpired
from autan.accounts.models import RevokedSession, Role, User
from autan.accounts.principal import Principal
from autan.core.cache import LoadingCache
from autan.core.events import EventBus, SessionRevoked, UserChanged, UserSessionsEnded, emit
from autan.core.tasks import cancel_and_wait
from autan.settings import SessionSettings

if TYPE_CHECKING:
    from redis.asyncio import Redis

log = structlog.get_logger(__name__)

# A cookie is re-signed when its last-seen time is older than this, not on every request.
_TOUCH_EVERY = 60.0


@dataclass(frozen=True, slots=True)
class SessionData:
    user_id: uuid.UUID
    epoch: int
    issued_at: int  # whole seconds, as the cookie carries them
    seen_at: int
    csrf: str
    session_id: str


class SessionCodec:
    """Signs and checks session cookies."""

    def __init__(self, secret: str, settings: SessionSettings) -> None:
        self._serializer = URLSafeSerializer(secret, salt="autan.session")
        self._idle = settings.idle_timeout_minutes * 60
        self._absolute = settings.absolute_timeout_hours * 3600

    def issue(self, user_id: uuid.UUID, epoch: int) -> tuple[str, SessionData]:
        """A new session (and its cookie value) for a user who just logged in."""
        now = int(time.time())
        data = SessionData(
            user_id, epoch, now, now, secrets.token_urlsafe(24), secrets.token_urlsafe(16)
        )
        return self.encode(data), data

    def encode(self, data: SessionData) -> str:
        payload = [
            str(data.user_id),
            data.epoch,
            data.issued_at,
            data.seen_at,
            data.csrf,
            data.session_id,
        ]
        return self._serializer.dumps(payload)

    def expires_at(self, data: SessionData) -> float:
        """When the session ends whatever happens (its absolute limit), in Unix time."""
        return float(data.issued_at + self._absolute)

    def decode(self, value: str, now: float | None = None) -> SessionData:
        """The session in a cookie; `SessionExpired` if tampered with, idle or too old."""
        try:
            # Cookies from before session ids (five fields) fail here: one more sign-in.
            user_id, epoch, issued_at, seen_at, csrf, session_id = self._serializer.loads(value)
            data = SessionData(
                uuid.UUID(user_id),
                int(epoch),
                int(issued_at),
                int(seen_at),
                str(csrf),
                str(session_id),
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


_REDIS_KEY = "autan:revoked_sessions"  # sorted set: session id -> expiry (Unix time)
_PURGE_EVERY = 300.0


class SessionRevocations:
    """Sessions ended by logout: ids in memory (fed by events), stored until they expire."""

    def __init__(
        self,
        factory: async_sessionmaker[AsyncSession],
        bus: EventBus,
        redis_url: str | None = None,
        timeout: float = 1.0,
    ) -> None:
        self._factory = factory
        self._bus = bus
        self._redis: Redis | None = None
        # What a failing store raises; redis-py is imported only when Redis is configured.
        self._errors: tuple[type[Exception], ...] = (SQLAlchemyError, OSError)
        if redis_url:
            from redis.asyncio import Redis
            from redis.exceptions import RedisError

            self._redis = Redis.from_url(
                redis_url, socket_connect_timeout=timeout, socket_timeout=timeout
            )
            self._errors += (RedisError,)
        self._revoked: dict[str, float] = {}
        self._task: asyncio.Task[None] | None = None
        bus.subscribe(SessionRevoked, self._on_revoked)
        bus.on_reset(self.load)

    def _on_revoked(self, event: SessionRevoked) -> None:
        self._revoked[event.session_id] = event.expires_at

    def is_revoked(self, session_id: str) -> bool:
        """Whether this session was ended by logout (a lookup in memory)."""
        return session_id in self._revoked

    async def revoke(self, session: AsyncSession, session_id: str, expires_at: float) -> None:
        """End one session in every process: store its id until it expires, announce it."""
        event = SessionRevoked(session_id, expires_at)
        if self._redis is None:
            session.add(RevokedSession(session_id=session_id, expires_at=_utc(expires_at)))
            emit(session, event)
            await session.commit()
            return
        try:
            await self._redis.zadd(_REDIS_KEY, {session_id: expires_at})
        except self._errors:
            # The logout still holds in every process reached by the event; only a process
            # started later would not know it.
            log.warning("session_revocation_not_stored", exc_info=True)
        await self._bus.publish(event)

    async def load(self) -> None:
        """Read the revoked sessions from the store (at start, and after an outage)."""
        now = time.time()
        try:
            if self._redis is None:
                async with self._factory() as session:
                    rows = await session.execute(
                        select(RevokedSession.session_id, RevokedSession.expires_at).where(
                            RevokedSession.expires_at > _utc(now)
                        )
                    )
                    found = {sid: expiry.timestamp() for sid, expiry in rows}
            else:
                pairs = await self._redis.zrange(
                    _REDIS_KEY, now, "+inf", byscore=True, withscores=True
                )
                found = {sid.decode(): float(score) for sid, score in pairs}
        except self._errors:
            log.warning("session_revocations_not_loaded", exc_info=True)
            return
        # Kept as a union: an entry may be known here that the store could not take.
        self._revoked.update(found)

    async def purge(self) -> None:
        """Forget revocations of sessions that have expired anyway, here and in the store."""
        now = time.time()
        self._revoked = {sid: t for sid, t in self._revoked.items() if t > now}
        try:
            if self._redis is None:
                async with self._factory() as session:
                    await session.execute(
                        delete(RevokedSession).where(RevokedSession.expires_at <= _utc(now))
                    )
                    await session.commit()
            else:
                await self._redis.zremrangebyscore(_REDIS_KEY, "-inf", now)
        except self._errors:
            log.warning("session_revocations_not_purged", exc_info=True)

    async def start(self) -> None:
        """Load the revoked sessions, then purge expired ones now and then."""
        await self.load()
        self._task = asyncio.create_task(self._purge_regularly())

    async def _purge_regularly(self) -> None:
        while True:
            await asyncio.sleep(_PURGE_EVERY)
            await self.purge()

    async def stop(self) -> None:
        if self._task is not None:
            await cancel_and_wait(self._task)
        if self._redis is not None:
            await self._redis.aclose()


def _utc(timestamp: float) -> datetime:
    return datetime.fromtimestamp(timestamp, UTC)


class SessionAuthenticator:
    """Turns a checked session into a principal, with a short cache of the user row.

    The cache follows the event bus: a user disabled, changed or logged out everywhere is
    forgotten at once in every process (within a second in the others).
    """

    def __init__(
        self,
        factory: async_sessionmaker[AsyncSession],
        ttl: float,
        bus: EventBus,
        revocations: SessionRevocations,
    ) -> None:
        self._factory = factory
        self._revocations = revocations
        self._users: LoadingCache[uuid.UUID, User | None] = LoadingCache(self._load, bus.ttl(ttl))
        bus.subscribe(UserChanged, lambda e: self._users.forget(e.user_id))
        bus.subscribe(UserSessionsEnded, lambda e: self._users.forget(e.user_id))
        bus.on_reset(self._users.clear)

    async def _load(self, user_id: uuid.UUID) -> User | None:
        async with self._factory() as session:
            return await session.get(User, user_id)

    async def principal(self, data: SessionData) -> Principal:
        """The user of a session, or `SessionExpired` if disabled or logged out."""
        if self._revocations.is_revoked(data.session_id):
            raise SessionExpired()
        user = await self._users.get(data.user_id)
        if user is None or not user.is_active or user.session_epoch != data.epoch:
            raise SessionExpired()
        return Principal(user.id, user.org_id, user.email, Role(user.role))
