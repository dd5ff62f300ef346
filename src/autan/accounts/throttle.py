"""Login attempts rate-limited per account and per address, in the quotas' storage (memory or
Redis, so every server process counts together)."""

from __future__ import annotations

import math
import time

import structlog
from limits import RateLimitItem, RateLimitItemPerMinute
from limits.aio.strategies import MovingWindowRateLimiter

from autan.core.errors import AutanError, ErrorKind, Plural
from autan.quotas.limiter import QuotaLimiter

log = structlog.get_logger(__name__)

# Failed attempts allowed per 15 minutes: few per account (guessing one person's password),
# more per address (a building behind one NAT shares it).
PER_ACCOUNT: RateLimitItem = RateLimitItemPerMinute(5, 15)
PER_ADDRESS: RateLimitItem = RateLimitItemPerMinute(30, 15)


class TooManyLoginAttempts(AutanError):
    kind = ErrorKind.RATE_LIMITED
    code = "too_many_login_attempts"

    def __init__(self, retry_after: int) -> None:
        minutes = max(1, math.ceil(retry_after / 60))
        super().__init__(
            "Too many failed sign-in attempts. You can try again in {wait}.",
            retry_after=retry_after,
            values={"wait": Plural("{count} minute", "{count} minutes", minutes)},
        )


class LoginThrottle:
    """Refuses sign-in attempts after too many failures; fails open if Redis is down."""

    def __init__(self, limiter: QuotaLimiter) -> None:
        self._strategy = MovingWindowRateLimiter(limiter.storage)
        self._outage = limiter.outage_errors

    def _keys(self, email: str, ip: str | None) -> list[tuple[RateLimitItem, str]]:
        keys = [(PER_ACCOUNT, f"account:{email.strip().lower()}")]
        if ip:
            keys.append((PER_ADDRESS, f"address:{ip}"))
        return keys

    async def check(self, email: str, ip: str | None) -> None:
        """Raise `TooManyLoginAttempts` if this account or address must wait."""
        try:
            for item, key in self._keys(email, ip):
                if not await self._strategy.test(item, "login", key):
                    stats = await self._strategy.get_window_stats(item, "login", key)
                    raise TooManyLoginAttempts(max(1, math.ceil(stats.reset_time - time.time())))
        except self._outage as exc:
            log.warning("login_throttle_unavailable", error=repr(exc))

    async def failed(self, email: str, ip: str | None) -> None:
        """Count a failed attempt."""
        try:
            for item, key in self._keys(email, ip):
                await self._strategy.hit(item, "login", key)
        except self._outage as exc:
            log.warning("login_throttle_unavailable", error=repr(exc))
