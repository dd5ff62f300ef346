"""Database engine, sessions and the declarative base shared by every feature."""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, Field
from sqlalchemy import DateTime, MetaData, event
from sqlalchemy.exc import DBAPIError, DisconnectionError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator

from autan.core.folding import register_sqlite_fold

# Stable constraint names so Alembic migrations read the same on SQLite and PostgreSQL.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def utcnow() -> datetime:
    """The current time, timezone-aware, in UTC."""
    return datetime.now(UTC)


def new_id() -> uuid.UUID:
    """A new random identifier for a row."""
    return uuid.uuid4()


def rowcount(result: object) -> int:
    """Rows an UPDATE or DELETE changed (SQLAlchemy types `execute` as returning a plain
    `Result`, which has no `rowcount`)."""
    return int(getattr(result, "rowcount", 0) or 0)


class UTCDateTime(TypeDecorator[datetime]):
    """A timestamp stored in UTC and always read back timezone-aware (SQLite drops the zone)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is not None and value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(UTC) if value is not None else None

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is not None and value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value


class Base(DeclarativeBase):
    """Declarative base of every table."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {datetime: UTCDateTime()}


class TimestampMixin:
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


def is_sqlite(url: str) -> bool:
    """Whether a database URL points at SQLite."""
    return url.startswith("sqlite")


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    # WAL lets readers run during a write; the busy timeout absorbs short write contention
    # between server processes instead of failing at once.
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=5000")
    cursor.close()
    register_sqlite_fold(dbapi_connection)


class DatabasePoolSettings(BaseModel):
    """The connections one server process keeps to the database."""

    size: int = Field(
        10,
        ge=1,
        description="Connections a process keeps open. Every process of every host opens up "
        "to size + max_overflow: keep the sum under PostgreSQL's max_connections (100 by "
        "default) minus what migrations, workers and psql need.",
    )
    max_overflow: int = Field(
        20, ge=0, description="Connections opened above `size` at a peak, closed when idle."
    )
    timeout: float = Field(
        3.0,
        gt=0,
        description="Seconds a request waits for a free connection before it is refused "
        "with 503 and Retry-After (the deployment is overloaded), instead of queueing on.",
    )


def create_engine(
    url: str, *, echo: bool = False, pool: DatabasePoolSettings | None = None
) -> AsyncEngine:
    """Create the async engine for a URL, with per-dialect settings and a bounded pool."""
    pool = pool or DatabasePoolSettings()
    bounds: dict[str, Any] = {
        "pool_size": pool.size,
        "max_overflow": pool.max_overflow,
        "pool_timeout": pool.timeout,
    }
    if is_sqlite(url):
        # An in-memory database lives in its one connection (StaticPool): nothing to bound.
        memory = ":memory:" in url or url.rstrip("/").endswith(":")
        engine = create_async_engine(url, echo=echo, **({} if memory else bounds))
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
        return engine
    engine = create_async_engine(url, echo=echo, **bounds)
    _ping_when_idle(engine)
    return engine


# A connection given back to the pool less than this many seconds ago is handed out again
# without a ping.
PING_AFTER_IDLE = 1.0


def _ping_when_idle(engine: AsyncEngine) -> None:
    """SQLAlchemy's `pool_pre_ping`, but only for connections that sat idle in the pool.

    asyncpg's ping is three round trips (BEGIN, `;`, ROLLBACK); under load a connection comes
    back within milliseconds, so pinging at every checkout tripled the round trips of a
    one-query request. A connection idle past `PING_AFTER_IDLE` (the database may have
    restarted meanwhile) is still pinged, and replaced when the ping fails.
    """
    pool = engine.sync_engine.pool

    def given_back(dbapi_connection: Any, record: Any) -> None:
        if record is not None:
            record.info["given_back"] = time.monotonic()

    def handed_out(dbapi_connection: Any, record: Any, proxy: Any) -> None:
        given_back_at = record.info.get("given_back")
        if given_back_at is not None and time.monotonic() - given_back_at < PING_AFTER_IDLE:
            return
        try:
            dbapi_connection.ping()
        except Exception as exc:
            # The pool throws this connection away and hands out (or opens) another.
            raise DisconnectionError() from exc

    event.listen(pool, "connect", given_back)
    event.listen(pool, "checkin", given_back)
    event.listen(pool, "checkout", handed_out)


def session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    """A session factory whose objects stay usable after commit."""
    return async_sessionmaker(engine, expire_on_commit=False)


def database_unreachable(exc: BaseException) -> bool:
    """Whether an error means the database cannot be reached right now (not a bug of ours).

    A restarting PostgreSQL refuses connections (SQLSTATE class 08) or says it is starting or
    shutting down (57P01-57P03); while it is down, asyncpg's connect raises the socket's
    OSError unwrapped (FileNotFoundError for a Unix socket, ConnectionRefusedError for TCP).
    """
    if isinstance(exc, OSError):
        return _raised_in_driver(exc)
    if not isinstance(exc, DBAPIError):
        return False
    if exc.connection_invalidated or isinstance(exc, OperationalError | InterfaceError):
        return True
    state = getattr(exc.orig, "sqlstate", None) or getattr(exc.orig, "pgcode", None)
    return isinstance(state, str) and (state.startswith("08") or state.startswith("57P"))


def database_busy(exc: BaseException) -> bool:
    """Whether an error means every database connection of this process is in use.

    SQLAlchemy's pool raises its TimeoutError after `timeout` seconds of waiting: the
    deployment is overloaded, so the caller should come back later (503), not see a bug.
    """
    return isinstance(exc, PoolTimeout)


_DRIVERS = ("/sqlalchemy/", "/asyncpg/", "/aiosqlite/")


def _raised_in_driver(exc: BaseException) -> bool:
    """Whether the error came out of the database stack (not, say, the file store)."""
    frame = exc.__traceback__
    while frame is not None:
        if any(part in frame.tb_frame.f_code.co_filename for part in _DRIVERS):
            return True
        frame = frame.tb_next
    return False
