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
    requests with a new key makes one query, not one per request. `ttl` may be a function,
    read at each load (the event bus shortens it while its transport is down).
    """

    def __init__(
        self,
        load: Callable[[K], Awaitable[V]],
        ttl: float | Callable[[], float],
        max_entries: int = 50_000,
    ) -> None:
        self._load = load
        self._ttl: Callable[[], float] = ttl if callable(ttl) else (lambda: ttl)
        self._max_entries = max_entries
        self._values: dict[K, tuple[float, V]] = {}
        self._loading: dict[K, asyncio.Future[V]] = {}
        self._generation = 0  # moves on at every forget, so a load that raced one is not kept

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
        generation = self._generation
        try:
            value = await asyncio.shield(future)
        finally:
            del self._loading[key]
        if generation != self._generation:
            # Forgotten while it loaded: the value may predate the change, so keep it not.
            return value
        if len(self._values) >= self._max_entries:
            self._values.clear()
        self._values[key] = (time.monotonic() + self._ttl(), value)
        return value

    def peek(self, key: K) -> V | None:
        """The cached value if it is fresh, else None (never loads)."""
        cached = self._values.get(key)
        if cached is not None and cached[0] >= time.monotonic():
            return cached[1]
        return None

    def forget(self, key: K) -> None:
        """Drop one entry, so the next `get` reloads it."""
        self._values.pop(key, None)
        self._generation += 1

    def forget_where(self, test: Callable[[K, V], bool]) -> None:
        """Drop every entry for which `test(key, value)` is true (a scan: for rare changes)."""
        for key in [k for k, (_, v) in self._values.items() if test(k, v)]:
            del self._values[key]
        self._generation += 1

    def clear(self) -> None:
        """Drop every entry."""
        self._values.clear()
        self._generation += 1
