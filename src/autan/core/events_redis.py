"""Events between processes through Redis pub/sub (when `AUTAN_REDIS_URL` is set).

Events are published on one channel after their transaction commits, from a background
task, so a slow or absent Redis never delays a request. Pub/sub keeps nothing for a
subscriber that is away: when the subscription breaks, the bus turns degraded (short cache
TTLs) and, once it is back, caches start afresh.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from typing import TYPE_CHECKING

import structlog
from redis.asyncio import Redis
from redis.exceptions import RedisError
from sqlalchemy.orm import Session

from autan.core.events import Event, decode, encode

if TYPE_CHECKING:
    from autan.core.events import EventBus

log = structlog.get_logger(__name__)

CHANNEL = "autan:events"
_RETRY = 0.5  # seconds between two attempts to subscribe again


class RedisTransport:
    """Publishes events on a Redis channel and listens to it."""

    def __init__(self, url: str, timeout: float = 1.0) -> None:
        self._url = url
        self._timeout = timeout
        self._client: Redis | None = None
        self._outgoing: asyncio.Queue[str] | None = None
        self._sender: asyncio.Task[None] | None = None
        self._publishing = True  # False from a failed publish until one succeeds

    def _redis(self) -> Redis:
        if self._client is None:
            self._client = Redis.from_url(
                self._url,
                socket_connect_timeout=self._timeout,
                socket_timeout=self._timeout,
                # Checks an idle subscription, so a Redis that vanished silently is noticed.
                health_check_interval=2,
            )
        return self._client

    def outbox(self, session: Session, origin: str, events: list[Event]) -> None:
        """Nothing is stored with the transaction: events are published after it."""

    def send(self, origin: str, events: list[Event]) -> None:
        """Queue events for publication (returns at once)."""
        if self._outgoing is None:
            self._outgoing = asyncio.Queue()
        message = json.dumps({"origin": origin, "events": [encode(e) for e in events]})
        self._outgoing.put_nowait(message)
        if self._sender is None or self._sender.done():
            self._sender = asyncio.create_task(self._send_all(self._outgoing))

    async def _send_all(self, outgoing: asyncio.Queue[str]) -> None:
        while True:
            message = await outgoing.get()
            try:
                await self._redis().publish(CHANNEL, message)
            except (RedisError, OSError) as error:
                # Receivers lose this event; their own subscription broke too, or will
                # break on its health check, and they fall back to short TTLs.
                # The traceback once per outage, one line per event while it lasts.
                if self._publishing:
                    log.warning("event_publish_failed", exc_info=error)
                else:
                    log.warning("event_publish_failed", error=repr(error))
                self._publishing = False
            else:
                self._publishing = True
            finally:
                outgoing.task_done()

    async def flush(self) -> None:
        """Wait (a few seconds at most) until queued events are published."""
        if self._outgoing is not None:
            try:
                await asyncio.wait_for(self._outgoing.join(), timeout=3 * self._timeout)
            except TimeoutError:
                log.warning("event_publish_unfinished", left=self._outgoing.qsize())

    async def close(self) -> None:
        """Stop publishing and close the connections."""
        if self._sender is not None:
            self._sender.cancel()
            await asyncio.gather(self._sender, return_exceptions=True)
        if self._client is not None:
            await self._client.aclose()

    async def run(self, bus: EventBus) -> None:
        """Listen to other processes' events until cancelled, subscribing again after errors."""
        while True:
            pubsub = self._redis().pubsub(ignore_subscribe_messages=True)
            try:
                await pubsub.subscribe(CHANNEL)
                await bus.set_healthy(True)
                while True:
                    message = await pubsub.get_message(timeout=1.0)
                    if message is not None:
                        events = self._decode(message["data"], bus.origin)
                        if events:
                            bus.deliver(events)
            except (RedisError, OSError) as error:
                # The traceback once per outage, one line per retry while it lasts.
                if bus.healthy:
                    log.warning("event_subscription_failed", exc_info=error)
                else:
                    log.warning("event_subscription_failed", error=repr(error))
                await bus.set_healthy(False)
            finally:
                with contextlib.suppress(RedisError, OSError):  # the connection may be gone
                    await pubsub.aclose()  # type: ignore[no-untyped-call]
            await asyncio.sleep(_RETRY)

    @staticmethod
    def _decode(data: bytes | str, origin: str) -> list[Event]:
        try:
            message = json.loads(data)
        except ValueError:
            return []
        if message.get("origin") == origin:
            return []  # delivered at commit already
        events = (decode(e["kind"], e["payload"]) for e in message.get("events", []))
        return [e for e in events if e is not None]
