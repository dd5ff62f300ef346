"""A small in-process TTL cache whose misses are loaded once at a time per key."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Hashable
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class LoadingCache(Generic[K, V]):
    """Values kept for `ttl` seconds; concurrent misses on one key share a single load.

    Used in front of the database for credentials checked on every request: a burst of
    requests with a new key makes one query, not one per request.
    """

    def __init__(
        self, load: Callable[[K], Awaitable[V]], ttl: float, max_entries: int = 50_000
    ) -> None:
        self._load = load
        self._ttl = ttl
        self._max_entries = max_entries
        self._values: dict[K, tuple[float, V]] = {}
        self._loading: dict[K, asyncio.Future[V]] = {}

    async def get(self, key: K) -> V:
        """The cached value, loading it if absent or stale."""
        cached = self._values.get(key)
        if cached is not None and cached[0] >= time.monotonic():
            return cached[1]
        pending = self._loading.get(key)
        if pending is not None:
            return await asyncio.shield(pending)
        future = asyncio.ensure_future(self._load(key))
        self._loading[key] = future
        try:
            value = await asyncio.shield(future)
        finally:
            del self._loading[key]
        if len(self._values) >= self._max_entries:
            self._values.clear()
        self._values[key] = (time.monotonic() + self._ttl, value)
        return value

    def forget(self, key: K) -> None:
        """Drop one entry, so the next `get` reloads it."""
        self._values.pop(key, None)
