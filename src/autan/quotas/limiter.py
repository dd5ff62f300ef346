"""Counting requests and tokens per user, in process memory or in Redis (shared by processes).

Built on `limits` (asyncio API):

- requests per minute: `MovingWindowRateLimiter`, so no burst of 2x the limit can straddle
  a window boundary. On Redis one `hit` is one Lua script call (check and record together,
  atomic across processes); in memory it is a list of timestamps per user.
- tokens per day: `FixedWindowRateLimiter` on a counter. A request is let in while the day's
  counter is below the budget (`test`, which consumes nothing) and its total tokens are added
  once it has finished (`hit` with `cost=tokens`), so the request that crosses the budget
  completes and the next one is refused. The day is limits' fixed window: it starts with the
  first counted tokens and lasts 24 hours (a Redis key with a TTL).

Round trips to Redis on the request path: one (the moving-window script) when only the
request rate is limited, which is the default; two when a token budget applies too (read
the token counter, then the script), done one after the other rather than with
`asyncio.gather` because on this machine gathering cost more CPU (two tasks) than the
~0.1 ms of latency it saved. A refusal costs one or two more reads, for Retry-After.

Fail open: a quota store that cannot be reached must not take the service down. Any storage
error (connection refused, timeout after `timeout` seconds, Redis error) is logged once per
outage with structlog (`quota_storage_unavailable`), counted in `storage_errors`, and the
request is allowed. The store is then left alone for `retry_interval` seconds, so that a
hung Redis does not add a timeout to every request; meanwhile requests are allowed and
counted in `unchecked_requests`, and tokens are not counted. The first call that succeeds
again logs `quota_storage_recovered`.

Memory storage is per process: with several workers or replicas, configure Redis.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Final

import structlog
from limits import RateLimitItem, RateLimitItemPerDay, RateLimitItemPerMinute
from limits.aio.storage import MemoryStorage, Storage
from limits.aio.strategies import FixedWindowRateLimiter, MovingWindowRateLimiter

from autan.quotas.errors import QuotaExceeded
from autan.quotas.policy import QuotaRule
from autan.quotas.storage import (
    MEMORY_URI,
    open_storage,
    outage_errors,
    redacted,
    storage_uri,
)

__all__ = ["MEMORY_URI", "QuotaLimiter", "QuotaUsage", "storage_uri"]

_NAMESPACE: Final = "quota"  # first part of every key, after the Redis prefix
_REQUESTS: Final = "requests"
_TOKENS: Final = "tokens"
_SEARCHES: Final = "searches"
_MINUTE: Final = 60
_DAY: Final = 86_400


def _seconds_until(reset_time: float, longest: int) -> int:
    """Whole seconds until `reset_time` (epoch), at least 1 and at most the window length.

    The cap guards against clocks that disagree between processes (Redis entries carry the
    writing process's clock).
    """
    return min(longest, max(1, math.ceil(reset_time - time.time())))


def _at(epoch: float) -> datetime:
    return datetime.fromtimestamp(epoch, UTC)


@dataclass(frozen=True, slots=True)
class QuotaUsage:
    """Where a user stands, for the UI. `None` fields are unlimited or unknown.

    `requests_reset_at` is when one more request becomes available (None when none is used);
    `tokens_reset_at` is when the day's token counter starts again (None before any use).
    `live` is False when the store could not be read: the figures are then the bare limits.
    """

    requests_per_minute: int | None
    requests_remaining: int | None
    requests_reset_at: datetime | None
    tokens_per_day: int | None
    tokens_used: int | None
    tokens_remaining: int | None
    tokens_reset_at: datetime | None
    live: bool = True


class QuotaLimiter:
    """Per-user request and token quotas over limits' memory or Redis storage.

    `storage_url`: `None` for process memory, or a Redis URL (`redis://host:6379/0`,
    `rediss://…`, or limits' own `async+redis://…`) so that every process shares the counts.
    `timeout` bounds each Redis command; `retry_interval` is how long the store is left
    alone after a failure.

    Fails open: when the store is unreachable, requests are allowed and the outage is logged
    and counted (see the module docstring). `check_request` raises only `QuotaExceeded`;
    `add_tokens` never raises for a storage problem.
    """

    def __init__(
        self,
        storage_url: str | None = None,
        *,
        timeout: float = 0.25,
        retry_interval: float = 5.0,
    ) -> None:
        self.storage_uri = storage_uri(storage_url)
        self._storage = open_storage(self.storage_uri, timeout)
        self._requests = MovingWindowRateLimiter(self._storage)
        self._tokens = FixedWindowRateLimiter(self._storage)
        self._outage = outage_errors(self._storage)
        self._retry_interval = retry_interval
        self._skip_until = 0.0  # time.monotonic() before which the store is not asked
        self._available = True
        # Limit items are immutable; keep one per amount instead of one per request.
        self._minute_items: dict[int, RateLimitItem] = {}
        self._day_items: dict[int, RateLimitItem] = {}
        # Created per limiter (not per module) so that a test's capture of logs sees it.
        self._log = structlog.get_logger(__name__)
        self.storage_errors = 0
        """Storage calls that failed (a Prometheus collector may export it)."""
        self.unchecked_requests = 0
        """Requests allowed without a check because the store was unreachable."""

    @property
    def storage(self) -> Storage:
        """The limits storage, for other limits of the application (login attempts)."""
        return self._storage

    @property
    def outage_errors(self) -> tuple[type[BaseException], ...]:
        """The storage errors to fail open on."""
        return self._outage

    @property
    def shared(self) -> bool:
        """True when counts are shared with other processes (not process memory)."""
        return not isinstance(self._storage, MemoryStorage)

    @property
    def available(self) -> bool:
        """False while the store is considered down (requests are let through)."""
        return self._available

    async def check_request(self, user_id: str, rule: QuotaRule) -> None:
        """Count one request of `user_id`, or raise `QuotaExceeded` if a quota forbids it.

        Raises when the day's token budget is already used up (without counting the
        request), or when the request would be over the per-minute rate. `rule` is a
        resolved rule (`policy.resolve`).
        """
        per_minute, per_day = rule.requests_per_minute, rule.tokens_per_day
        if not per_minute and not per_day:
            return
        if self._skip_until and time.monotonic() < self._skip_until:
            self.unchecked_requests += 1
            return
        try:
            # Tokens first: a user out of tokens for the day is refused without using up
            # one of their requests of the minute.
            if per_day:
                await self._check_tokens(user_id, per_day)
            if per_minute:
                await self._hit_request(user_id, per_minute)
        except self._outage as exc:
            self._failed("check_request", exc)
            self.unchecked_requests += 1
            return
        if not self._available:
            self._recovered()

    async def check_search(self, user_id: str, per_minute: int | None, per_day: int | None) -> None:
        """Count one web search of `user_id`, or raise `QuotaExceeded` if either limit is
        reached (a refused search is not counted). Fails open like `check_request`."""
        if not per_minute and not per_day:
            return
        if self._skip_until and time.monotonic() < self._skip_until:
            self.unchecked_requests += 1
            return
        try:
            day = self._day_item(per_day) if per_day else None
            if day is not None and not await self._tokens.test(day, _SEARCHES, user_id):
                stats = await self._tokens.get_window_stats(day, _SEARCHES, user_id)
                raise QuotaExceeded.searches_per_day(
                    per_day or 0, _seconds_until(stats.reset_time, _DAY)
                )
            if per_minute:
                item = self._minute_item(per_minute)
                if not await self._requests.hit(item, _SEARCHES, user_id):
                    stats = await self._requests.get_window_stats(item, _SEARCHES, user_id)
                    raise QuotaExceeded.searches_per_minute(
                        per_minute, _seconds_until(stats.reset_time, _MINUTE)
                    )
            if day is not None:
                await self._tokens.hit(day, _SEARCHES, user_id)
        except self._outage as exc:
            self._failed("check_search", exc)
            self.unchecked_requests += 1
            return
        if not self._available:
            self._recovered()

    async def searches_used(self, user_id: str, per_day: int | None) -> int | None:
        """Searches counted in `user_id`'s current day; None without a daily limit or when
        the store cannot be read. Counts nothing."""
        if not per_day or (self._skip_until and time.monotonic() < self._skip_until):
            return None
        try:
            used = await self._storage.get(self._day_item(per_day).key_for(_SEARCHES, user_id))
        except self._outage as exc:
            self._failed("searches_used", exc)
            return None
        return int(used or 0)

    async def add_tokens(self, user_id: str, rule: QuotaRule, tokens: int) -> None:
        """Add a finished request's total tokens to the user's day. Never raises for the store.

        Going past the budget is expected (the request was already served); the next
        `check_request` refuses.
        """
        budget = rule.tokens_per_day
        if not budget or tokens <= 0:
            return
        if self._skip_until and time.monotonic() < self._skip_until:
            return
        try:
            await self._tokens.hit(self._day_item(budget), _TOKENS, user_id, cost=tokens)
        except self._outage as exc:
            self._failed("add_tokens", exc)
            return
        if not self._available:
            self._recovered()

    async def usage(self, user_id: str, rule: QuotaRule) -> QuotaUsage:
        """Where `user_id` stands against `rule`, without counting anything."""
        per_minute, per_day = rule.requests_per_minute or None, rule.tokens_per_day or None
        unknown = QuotaUsage(per_minute, per_minute, None, per_day, None, per_day, None, False)
        if self._skip_until and time.monotonic() < self._skip_until:
            return unknown
        try:
            requests_remaining, requests_reset = await self._request_usage(user_id, per_minute)
            tokens_used, tokens_reset = await self._token_usage(user_id, per_day)
        except self._outage as exc:
            self._failed("usage", exc)
            return unknown
        if not self._available:
            self._recovered()
        return QuotaUsage(
            requests_per_minute=per_minute,
            requests_remaining=requests_remaining,
            requests_reset_at=requests_reset,
            tokens_per_day=per_day,
            tokens_used=tokens_used,
            tokens_remaining=None if per_day is None else max(0, per_day - (tokens_used or 0)),
            tokens_reset_at=tokens_reset,
        )

    async def close(self) -> None:
        """Stop the memory sweep or drop the Redis connections."""
        storage = self._storage
        if isinstance(storage, MemoryStorage):
            timer = storage.timer
            if timer is not None and not timer.done():
                timer.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await timer
            return
        # limits' storages have no close(); close the redis-py client it holds so that no
        # socket is left to the garbage collector (and its ResourceWarning). Defensive
        # lookups: `bridge.storage` is an attribute of limits' that it does not document.
        client = getattr(getattr(storage, "bridge", None), "storage", None)
        aclose = getattr(client, "aclose", None)
        if aclose is not None:
            await aclose()

    # -- internals ---------------------------------------------------------------------

    def _minute_item(self, amount: int) -> RateLimitItem:
        item = self._minute_items.get(amount)
        if item is None:
            item = self._minute_items[amount] = RateLimitItemPerMinute(amount, 1, _NAMESPACE)
        return item

    def _day_item(self, amount: int) -> RateLimitItem:
        item = self._day_items.get(amount)
        if item is None:
            item = self._day_items[amount] = RateLimitItemPerDay(amount, 1, _NAMESPACE)
        return item

    async def _check_tokens(self, user_id: str, budget: int) -> None:
        item = self._day_item(budget)
        if await self._tokens.test(item, _TOKENS, user_id):
            return
        stats = await self._tokens.get_window_stats(item, _TOKENS, user_id)
        raise QuotaExceeded.tokens_per_day(budget, _seconds_until(stats.reset_time, _DAY))

    async def _hit_request(self, user_id: str, limit: int) -> None:
        item = self._minute_item(limit)
        if await self._requests.hit(item, _REQUESTS, user_id):
            return
        # The window's reset time is when its oldest request leaves it, freeing one slot.
        stats = await self._requests.get_window_stats(item, _REQUESTS, user_id)
        raise QuotaExceeded.requests_per_minute(limit, _seconds_until(stats.reset_time, _MINUTE))

    async def _request_usage(
        self, user_id: str, limit: int | None
    ) -> tuple[int | None, datetime | None]:
        if limit is None:
            return None, None
        stats = await self._requests.get_window_stats(self._minute_item(limit), _REQUESTS, user_id)
        remaining = max(0, stats.remaining)
        return remaining, (_at(stats.reset_time) if remaining < limit else None)

    async def _token_usage(
        self, user_id: str, budget: int | None
    ) -> tuple[int | None, datetime | None]:
        if budget is None:
            return None, None
        key = self._day_item(budget).key_for(_TOKENS, user_id)
        used = await self._storage.get(key)
        if not used:
            return 0, None
        return used, _at(await self._storage.get_expiry(key))

    def _failed(self, operation: str, error: BaseException) -> None:
        """Record a storage failure and leave the store alone for `retry_interval` s."""
        self.storage_errors += 1
        self._skip_until = time.monotonic() + self._retry_interval
        if self._available:
            self._available = False
            self._log.warning(
                "quota_storage_unavailable",
                storage=redacted(self.storage_uri),
                operation=operation,
                error=repr(error),
                retry_in=self._retry_interval,
                effect="requests are allowed without quota checks until the store answers",
            )

    def _recovered(self) -> None:
        self._available = True
        self._skip_until = 0.0
        self._log.info(
            "quota_storage_recovered",
            storage=redacted(self.storage_uri),
            storage_errors=self.storage_errors,
            unchecked_requests=self.unchecked_requests,
        )
