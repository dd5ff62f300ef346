"""Where quotas are counted: process memory or Redis, through `limits`' asyncio storages.

Split from `limiter` (which counts): the storage URI as Autan's settings give it, the
throttled memory sweep, the Redis client options, and which errors mean "the store is down".
"""

from __future__ import annotations

import asyncio
import time
from typing import Any, Final
from urllib.parse import urlsplit, urlunsplit

from limits.aio.storage import MemoryStorage, Storage
from limits.errors import StorageError
from limits.storage import storage_from_string

MEMORY_URI: Final = "async+memory://"
_REDIS_KEY_PREFIX: Final = "autan"  # Redis keys read `autan:quota/requests/<user>/10/1/minute`
_REDIS_SCHEMES: Final = ("redis", "rediss", "redis+unix", "redis+sentinel", "redis+cluster")


def storage_uri(url: str | None) -> str:
    """limits' storage URI for a Redis URL as Autan's settings hold it (`AUTAN_REDIS_URL`).

    `None` or empty means process memory; `redis://…` becomes `async+redis://…` (limits'
    asyncio Redis storage); `unix:///path` becomes `async+redis+unix:///path`; a URI that
    already names an async storage (`async+…`) is kept.
    """
    if not url or url in ("memory://", MEMORY_URI):
        return MEMORY_URI
    if url.startswith("async+"):
        return url
    if url.startswith("unix://"):
        return "async+redis+" + url
    return "async+" + url


def redacted(uri: str) -> str:
    """The URI without its password, for logs."""
    parts = urlsplit(uri)
    if parts.password is None:
        return uri
    netloc = parts.netloc.rsplit("@", 1)[1]
    user = f"{parts.username}:***@" if parts.username else ":***@"
    return urlunsplit(parts._replace(netloc=user + netloc))


class SweptMemoryStorage(MemoryStorage):
    """limits' asyncio memory storage, sweeping expired entries at most every 10 seconds.

    Why: limits 5.x starts a sweep of every key after each hit as soon as the previous sweep
    has ended, and each key's sweep hops to a worker thread. Measured here, that was
    ~0.5 ms of CPU per request even with ten users (about a third of the gateway's own cost
    per request); with this throttle it is ~30 µs. Counting stays exact: every read checks
    expiry itself; the sweep only frees the memory of users who went quiet.

    It overrides a private hook of `MemoryStorage` (`__schedule_expiry`, name-mangled). If a
    future `limits` renames it, the override is simply not called and limits' own sweep
    runs (correct, only slower); `tests/test_quotas.py` checks that the hook still exists.
    """

    SWEEP_INTERVAL: float = 10.0

    def __init__(self) -> None:
        super().__init__()
        self._next_sweep = 0.0

    async def _MemoryStorage__schedule_expiry(self) -> None:
        now = time.monotonic()
        if now < self._next_sweep:
            return
        self._next_sweep = now + self.SWEEP_INTERVAL
        if self.timer is None or self.timer.done():
            sweep = getattr(self, "_MemoryStorage__expire_events")  # noqa: B009 (name-mangled)
            self.timer = asyncio.create_task(sweep())


def open_storage(uri: str, timeout: float) -> Storage:
    if uri == MEMORY_URI:
        return SweptMemoryStorage()
    scheme = uri.removeprefix("async+").split("://", 1)[0]
    options: dict[str, Any] = {}
    if scheme in _REDIS_SCHEMES:
        # Imported here: redis-py takes ~0.5 s to import, for nothing with memory storage.
        from redis.asyncio.retry import Retry
        from redis.backoff import NoBackoff

        options = {
            # redis-py rather than limits' default (coredis 5): measured here, 30-45 % less
            # CPU per check and half the import time; and the most used Redis client, which
            # other features (sessions) can share.
            "implementation": "redispy",
            "key_prefix": _REDIS_KEY_PREFIX,
            # Short timeouts: Redis answers in well under a millisecond, and a quota check
            # that waits on a sick Redis delays the request; past the timeout we fail open.
            "socket_timeout": timeout,
            "socket_connect_timeout": timeout,
            # One immediate retry (a pooled connection may be stale after a Redis restart)
            # instead of redis-py's default of 3 retries with 1-10 s exponential backoff,
            # which would hold a request for seconds before failing open.
            "retry": Retry(NoBackoff(), 1),
        }
    storage = storage_from_string(uri, wrap_exceptions=True, **options)
    if not isinstance(storage, Storage):
        raise ValueError(f"{redacted(uri)} is not an asyncio storage of limits (async+…)")
    return storage


def outage_errors(storage: Storage) -> tuple[type[BaseException], ...]:
    """The exceptions that mean "the store is unreachable or sick", to fail open on."""
    if isinstance(storage, MemoryStorage):
        return ()  # memory cannot be down; an exception there is a bug and must surface
    base = storage.base_exceptions
    client_errors = base if isinstance(base, tuple) else (base,)
    # limits wraps client errors in StorageError (`wrap_exceptions=True`) for most calls;
    # the client's own base error, OSError and TimeoutError are there in case one slips by.
    return (StorageError, OSError, TimeoutError, *client_errors)
