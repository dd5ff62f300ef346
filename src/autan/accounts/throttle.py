"""Sign-in throttling that slows password guessing without letting anyone lock an account.

Failures are counted in the quotas' storage (memory or Redis, so every process counts
together), in three ways:

- per (account, address) pair: a few free failures for typos, then each failure makes that
  pair wait 1 s, 2 s, 4 s … up to `MAX_DELAY`. The wait binds only that pair: a correct
  password from another address, one that has not failed on this account, is never refused,
  so five wrong passwords "from anywhere" no longer lock the owner out.
- per address, over every account (password spraying): past `PER_ADDRESS` failures in
  15 minutes the address waits until the oldest failure leaves the window.
- per account, over every address (a botnet): past `ACCOUNT_UNDER_ATTACK` failures in
  15 minutes the free failures are withdrawn, so each address that fails waits from its
  first failure. Addresses that have not failed are still let in: refusing them would
  refuse the owner too.

An IPv6 client is counted by its /64 network, which one subscriber usually holds whole.
"""

from __future__ import annotations

import ipaddress
import math
import time
from dataclasses import dataclass

import structlog
from limits import RateLimitItem, RateLimitItemPerMinute
from limits.aio.strategies import MovingWindowRateLimiter

from autan.core.errors import AutanError, ErrorKind, Plural
from autan.quotas.limiter import QuotaLimiter

log = structlog.get_logger(__name__)

_WINDOW_MINUTES = 15
# Failures one (account, address) pair may make before it must wait: typos, a caps lock.
FREE_FAILURES = 3
MAX_DELAY = 60  # seconds; the longest wait a pair can be given
# Spraying from one address; a building behind one NAT shares it, hence more than per pair.
PER_ADDRESS: RateLimitItem = RateLimitItemPerMinute(30, _WINDOW_MINUTES)
# Failures on one account from all addresses together that mean someone is after it.
ACCOUNT_UNDER_ATTACK: RateLimitItem = RateLimitItemPerMinute(20, _WINDOW_MINUTES)
# Failures of a pair are counted up to this many: enough to have reached MAX_DELAY long ago.
_PAIR: RateLimitItem = RateLimitItemPerMinute(64, _WINDOW_MINUTES)
_NAMESPACE = "login"


class TooManyLoginAttempts(AutanError):
    kind = ErrorKind.RATE_LIMITED
    code = "too_many_login_attempts"

    def __init__(self, retry_after: int) -> None:
        if retry_after < 60:
            wait = Plural("{count} second", "{count} seconds", max(1, retry_after))
        else:
            wait = Plural("{count} minute", "{count} minutes", math.ceil(retry_after / 60))
        super().__init__(
            "Too many failed sign-in attempts. You can try again in {wait}.",
            retry_after=retry_after,
            values={"wait": wait},
        )


def delay_after(failures: int, free: int) -> int:
    """Seconds a pair waits after its `failures`-th failure: 0 while free, then 1, 2, 4 …"""
    if failures <= free:
        return 0
    return int(min(MAX_DELAY, 2 ** min(failures - free - 1, 16)))


def address_key(ip: str | None) -> str | None:
    """The address as throttling counts it: IPv4 as is, IPv6 by its /64 network."""
    if not ip:
        return None
    try:
        address = ipaddress.ip_address(ip)
    except ValueError:
        return ip  # not an IP (a test client's name, a Unix socket): counted as given
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        return str(ipaddress.ip_network(f"{address}/64", strict=False))
    return str(address)


@dataclass(frozen=True, slots=True)
class _Keys:
    account: str
    address: str | None

    @property
    def pair(self) -> str:
        return f"{self.account}|{self.address or '-'}"

    @property
    def wait(self) -> str:
        return f"{_NAMESPACE}/wait/{self.pair}"


class LoginThrottle:
    """Refuses sign-in attempts that must wait; fails open if Redis is down."""

    def __init__(self, limiter: QuotaLimiter) -> None:
        self._storage = limiter.storage
        self._strategy = MovingWindowRateLimiter(limiter.storage)
        self._outage = limiter.outage_errors

    @staticmethod
    def _keys(email: str, ip: str | None) -> _Keys:
        return _Keys(email.strip().lower(), address_key(ip))

    async def check(self, email: str, ip: str | None) -> None:
        """Raise `TooManyLoginAttempts` if this address, or this address on this account,
        must wait. Nothing others did on the account can refuse an address that has not
        failed on it."""
        keys = self._keys(email, ip)
        try:
            if keys.address and not await self._strategy.test(
                PER_ADDRESS, _NAMESPACE, "address", keys.address
            ):
                stats = await self._strategy.get_window_stats(
                    PER_ADDRESS, _NAMESPACE, "address", keys.address
                )
                raise TooManyLoginAttempts(_seconds_until(stats.reset_time))
            if await self._storage.get(keys.wait) > 0:
                until = await self._storage.get_expiry(keys.wait)
                raise TooManyLoginAttempts(_seconds_until(until))
        except self._outage as exc:
            log.warning("login_throttle_unavailable", error=repr(exc))

    async def failed(self, email: str, ip: str | None) -> int:
        """Count a failed attempt; the seconds this pair must now wait (0: none)."""
        keys = self._keys(email, ip)
        try:
            if keys.address:
                await self._strategy.hit(PER_ADDRESS, _NAMESPACE, "address", keys.address)
            # Under attack once the account's earlier failures fill the allowance.
            under_attack = not await self._strategy.hit(
                ACCOUNT_UNDER_ATTACK, _NAMESPACE, "account", keys.account
            )
            await self._strategy.hit(_PAIR, _NAMESPACE, "pair", keys.pair)
            stats = await self._strategy.get_window_stats(_PAIR, _NAMESPACE, "pair", keys.pair)
            failures = _PAIR.amount - stats.remaining
            delay = delay_after(failures, 0 if under_attack else FREE_FAILURES)
            if delay:
                # A key that lives `delay` seconds: while it exists, the pair waits.
                await self._storage.clear(keys.wait)
                await self._storage.incr(keys.wait, delay)
                log.info("login_delayed", failures=failures, delay=delay, attack=under_attack)
            return delay
        except self._outage as exc:
            log.warning("login_throttle_unavailable", error=repr(exc))
            return 0

    async def succeeded(self, email: str, ip: str | None) -> None:
        """Forget this pair's failures: its owner got in."""
        keys = self._keys(email, ip)
        try:
            await self._strategy.clear(_PAIR, _NAMESPACE, "pair", keys.pair)
            await self._storage.clear(keys.wait)
        except self._outage as exc:
            log.warning("login_throttle_unavailable", error=repr(exc))


def _seconds_until(epoch: float) -> int:
    return max(1, math.ceil(epoch - time.time()))
