"""Domain events: services emit them with their transaction, caches subscribe to them.

A service calls `emit(session, SomethingChanged(...))` before it commits. When (and only
when) the transaction commits, the bus that made the session's factory (`EventBus.attach`)
hands the events to this process's subscribers at once, inside `commit()`, and sends them
to every other process through its transport: Redis pub/sub when Redis is configured,
else a `change_events` table that each process polls (`autan.core.events_db`). With the
database transport the rows are written in the service's own transaction (an outbox), so an
event exists if and only if its change does.

Subscribers are plain functions (dropping a cache entry); a transport outage makes the bus
"degraded": every cache is emptied and its TTL shortened (`ttl()`) until the transport
is back, when the caches are emptied again, since events may have been missed meanwhile.
A failing transport never fails a request.
"""

from __future__ import annotations

import asyncio
import dataclasses
import secrets
import uuid
from collections import defaultdict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, ClassVar, Protocol, TypeVar

import structlog
from pydantic import BaseModel, Field
from sqlalchemy import event as orm_event
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import Session

log = structlog.get_logger(__name__)

_PENDING = "autan.events.pending"
_BUS = "autan.events.bus"


class EventSettings(BaseModel):
    """How changes travel between server processes."""

    poll_interval: float = Field(
        0.25,
        gt=0,
        description="Seconds between two reads of the change_events table (no Redis only).",
    )
    retention_seconds: float = Field(
        300.0, gt=0, description="Seconds a change event is kept in the change_events table."
    )
    degraded_ttl: float = Field(
        2.0,
        gt=0,
        description="Seconds cached credentials and policies are trusted while the event "
        "transport is down (instead of their usual TTL).",
    )


@dataclass(frozen=True, slots=True)
class Event:
    """A change that caches in every process must follow."""

    kind: ClassVar[str] = ""


KINDS: dict[str, type[Event]] = {}
E = TypeVar("E", bound=Event)


def _kind(name: str) -> Callable[[type[E]], type[E]]:
    def register(cls: type[E]) -> type[E]:
        cls.kind = name
        KINDS[name] = cls
        return cls

    return register


@_kind("user_changed")
@dataclass(frozen=True, slots=True)
class UserChanged(Event):
    """A user's role, status (disabled, enabled) or charter acceptance changed."""

    user_id: uuid.UUID


@_kind("user_sessions_ended")
@dataclass(frozen=True, slots=True)
class UserSessionsEnded(Event):
    """A user logged out of every device."""

    user_id: uuid.UUID


@_kind("session_revoked")
@dataclass(frozen=True, slots=True)
class SessionRevoked(Event):
    """One browser session ended (logout); `expires_at` is when it would have ended anyway."""

    session_id: str
    expires_at: float


@_kind("api_key_revoked")
@dataclass(frozen=True, slots=True)
class ApiKeyRevoked(Event):
    """An API key was revoked or deleted (by the hash of its secret)."""

    key_hash: str


@_kind("organisation_changed")
@dataclass(frozen=True, slots=True)
class OrganisationChanged(Event):
    """An organisation's settings, allowed models or charter changed."""

    org_id: uuid.UUID


@_kind("quota_rules_changed")
@dataclass(frozen=True, slots=True)
class QuotaRulesChanged(Event):
    """An organisation's quota rules changed."""

    org_id: uuid.UUID


@_kind("budgets_changed")
@dataclass(frozen=True, slots=True)
class BudgetsChanged(Event):
    """An organisation's monthly budgets changed."""

    org_id: uuid.UUID


@_kind("documents_queued")
@dataclass(frozen=True, slots=True)
class DocumentsQueued(Event):
    """Documents were queued for ingestion: workers in any process look for work at once."""


@_kind("translation_queued")
@dataclass(frozen=True, slots=True)
class TranslationQueued(Event):
    """A document translation was queued: translation workers in any process look at once."""


@_kind("drive_sync_requested")
@dataclass(frozen=True, slots=True)
class DriveSyncRequested(Event):
    """A drive folder was connected or asked to sync now: the sync schedules look at once."""


def encode(event: Event) -> dict[str, Any]:
    """An event as JSON-ready values: its kind and its fields."""
    fields = {
        f.name: str(value) if isinstance(value := getattr(event, f.name), uuid.UUID) else value
        for f in dataclasses.fields(event)
    }
    return {"kind": event.kind, "payload": fields}


def decode(kind: str, payload: dict[str, Any]) -> Event | None:
    """The event of a kind and payload, or None for a kind this version does not know."""
    cls = KINDS.get(kind)
    if cls is None:
        return None
    values = {}
    for f in dataclasses.fields(cls):
        value = payload[f.name]
        values[f.name] = uuid.UUID(value) if f.type in ("uuid.UUID", uuid.UUID) else value
    return cls(**values)


def emit(session: AsyncSession | Session, *events: Event) -> None:
    """Announce events that take effect when the session's transaction commits."""
    sync = session.sync_session if isinstance(session, AsyncSession) else session
    if not sync.in_transaction():
        # Begun now (no I/O until the first statement), so a rollback drops these events.
        sync.begin()
    sync.info.setdefault(_PENDING, []).extend(events)


class Transport(Protocol):
    """How events reach other processes."""

    def outbox(self, session: Session, origin: str, events: list[Event]) -> None:
        """Called inside a committing transaction: store events with it (or do nothing)."""

    def send(self, origin: str, events: list[Event]) -> None:
        """Called after a commit: send events (without blocking)."""

    async def run(self, bus: EventBus) -> None:
        """Receive other processes' events until cancelled (`bus.deliver`, `bus.set_healthy`)."""

    async def flush(self) -> None:
        """Wait until every event given to `send` has left (or could not)."""

    async def close(self) -> None: ...


class EventBus:
    """Delivers events to this process's subscribers and, through a transport, to others."""

    def __init__(self, transport: Transport | None, settings: EventSettings | None = None) -> None:
        self.settings = settings or EventSettings()
        self.origin = secrets.token_hex(8)  # tells a process's own events from others'
        self._transport = transport
        self._handlers: defaultdict[type[Event], list[Callable[[Any], None]]] = defaultdict(list)
        self._resets: list[Callable[[], Awaitable[None] | None]] = []
        self._task: asyncio.Task[None] | None = None
        # With no transport there is no other process to miss events from.
        self.healthy = True

    def subscribe(self, kind: type[E], handler: Callable[[E], None]) -> None:
        """Call `handler` for every event of this kind, from this process or another."""
        self._handlers[kind].append(handler)

    def on_reset(self, handler: Callable[[], Awaitable[None] | None]) -> None:
        """Call `handler` when events may have been missed: drop everything cached."""
        self._resets.append(handler)

    def ttl(self, normal: float) -> Callable[[], float]:
        """A cache TTL: `normal` while events flow, short while the transport is down."""
        return lambda: normal if self.healthy else min(normal, self.settings.degraded_ttl)

    def attach(self, factory: async_sessionmaker[AsyncSession]) -> None:
        """Make the sessions of `factory` hand their committed events to this bus."""
        factory.configure(sync_session_class=_EventSession, info={_BUS: self})

    def deliver(self, events: list[Event]) -> None:
        """Run this process's subscribers for events (local or received)."""
        for event in events:
            for handler in self._handlers.get(type(event), ()):
                try:
                    handler(event)
                except Exception:  # one broken subscriber must not starve the others
                    log.exception("event_handler_failed", kind=event.kind)

    async def publish(self, *events: Event) -> None:
        """Deliver and send events that are not tied to a database transaction."""
        self.deliver(list(events))
        if self._transport is not None:
            self._transport.send(self.origin, list(events))

    async def set_healthy(self, healthy: bool, *, forget: bool = True) -> None:
        """Called by the transport: after a change either way, caches start afresh.

        `forget=False` keeps what is cached: for a transport that is the database itself,
        nothing can change while it is unreachable, and nothing is missed by an outage shorter
        than the events' retention.
        """
        if healthy == self.healthy:
            return
        self.healthy = healthy
        if healthy:
            log.info("event_transport_restored")
        else:
            log.warning("event_transport_down", degraded_ttl=self.settings.degraded_ttl)
        if forget:
            await self.reset()

    async def reset(self) -> None:
        """Empty every subscribed cache (and reload what must be loaded)."""
        for handler in self._resets:
            try:
                result = handler()
                if result is not None:
                    await result
            except Exception:
                log.exception("event_reset_failed")

    async def start(self) -> None:
        """Start receiving other processes' events."""
        if self._transport is not None:
            self._task = asyncio.create_task(self._transport.run(self))

    async def stop(self) -> None:
        """Send what is left to send, stop receiving and close the transport."""
        if self._transport is None:
            return
        await self._transport.flush()
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        await self._transport.close()

    def _before_commit(self, session: Session) -> None:
        events = session.info.get(_PENDING)
        if events and self._transport is not None:
            self._transport.outbox(session, self.origin, events)

    def _after_commit(self, session: Session) -> None:
        events = session.info.pop(_PENDING, None)
        if not events:
            return
        self.deliver(events)
        if self._transport is not None:
            self._transport.send(self.origin, events)


class _EventSession(Session):
    """A session whose committed events reach the bus of its factory."""


@orm_event.listens_for(_EventSession, "before_commit")
def _before_commit(session: Session) -> None:
    bus = session.info.get(_BUS)
    if isinstance(bus, EventBus):
        bus._before_commit(session)


@orm_event.listens_for(_EventSession, "after_commit")
def _after_commit(session: Session) -> None:
    bus = session.info.get(_BUS)
    if isinstance(bus, EventBus):
        bus._after_commit(session)


@orm_event.listens_for(_EventSession, "after_soft_rollback")
def _after_rollback(session: Session, _previous: Any) -> None:
    # What was rolled back did not happen: its events are dropped (soft: even when no SQL
    # had been sent yet, so no database transaction had begun).
    session.info.pop(_PENDING, None)


def build_bus(
    factory: async_sessionmaker[AsyncSession],
    redis_url: str | None,
    settings: EventSettings | None = None,
) -> EventBus:
    """The bus of a process, attached to its session factory: over Redis, else the database."""
    settings = settings or EventSettings()
    transport: Transport
    if redis_url:
        # Imported here: redis-py takes a while to import, for nothing without Redis.
        from autan.core.events_redis import RedisTransport

        transport = RedisTransport(redis_url)
    else:
        from autan.core.events_db import DatabaseTransport

        transport = DatabaseTransport(factory, settings.poll_interval, settings.retention_seconds)
    bus = EventBus(transport, settings)
    bus.attach(factory)
    return bus
