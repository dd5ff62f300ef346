"""Per-user quotas: the resolver, the limiter on memory and on a real Redis, fail-open."""

from __future__ import annotations

import asyncio
import json
import sys
import time
import uuid
from collections.abc import AsyncIterator

import httpx
import pytest
import structlog
from fastapi import FastAPI
from limits.aio.storage import MemoryStorage

from autan.core import error_handlers
from autan.core.errors import AutanError, ErrorKind
from autan.quotas import (
    NO_LIMITS,
    UNLIMITED,
    QuotaExceeded,
    QuotaLimiter,
    QuotaRule,
    QuotaSettings,
    resolve,
    storage_uri,
)
from autan.quotas.errors import describe_wait
from tests.support.redis_fixtures import redis_url, start_redis
from tests.support.redis_server import RedisServer

__all__ = ["redis_url"]  # a fixture: imported so that pytest finds it in this module

STORAGES = ("memory", "redis")
PER_MINUTE = QuotaRule(requests_per_minute=10)


def new_user() -> str:
    """A user id of the test's own, so that tests sharing the session's Redis keep apart."""
    return f"user-{uuid.uuid4().hex}"


@pytest.fixture(params=STORAGES)
async def limiter(request: pytest.FixtureRequest) -> AsyncIterator[QuotaLimiter]:
    """A limiter on process memory, then on the session's real Redis."""
    url = None if request.param == "memory" else request.getfixturevalue("redis_url")
    quota_limiter = QuotaLimiter(url)
    try:
        yield quota_limiter
    finally:
        await quota_limiter.close()


# -- the limiter ---------------------------------------------------------------------------


async def test_the_eleventh_request_in_a_minute_is_refused(limiter: QuotaLimiter) -> None:
    user = new_user()
    for _ in range(10):
        await limiter.check_request(user, PER_MINUTE)

    with pytest.raises(QuotaExceeded) as refused:
        await limiter.check_request(user, PER_MINUTE)

    error = refused.value
    assert isinstance(error, AutanError)
    assert error.kind is ErrorKind.RATE_LIMITED
    assert error.code == "quota_requests_per_minute"
    assert error.limit == 10
    assert isinstance(error.retry_after, int)
    # The oldest of the ten requests was made a moment ago: its slot frees in ~60 s.
    assert 50 <= error.retry_after <= 60
    assert error.message.startswith("You have reached your limit of 10 requests per minute.")
    assert f"You can send a new request in {error.retry_after} seconds." in error.message
    assert limiter.available


async def test_users_are_counted_apart(limiter: QuotaLimiter) -> None:
    first, second = new_user(), new_user()
    for _ in range(10):
        await limiter.check_request(first, PER_MINUTE)
    with pytest.raises(QuotaExceeded):
        await limiter.check_request(first, PER_MINUTE)

    for _ in range(10):
        await limiter.check_request(second, PER_MINUTE)


async def test_a_spent_token_budget_refuses_the_next_request(limiter: QuotaLimiter) -> None:
    user = new_user()
    rule = QuotaRule(requests_per_minute=3, tokens_per_day=100)

    await limiter.check_request(user, rule)
    await limiter.add_tokens(user, rule, 60)
    await limiter.check_request(user, rule)  # 60 < 100: still allowed
    await limiter.add_tokens(user, rule, 60)  # 120: past the budget, and no error
    await limiter.add_tokens(user, rule, 5_000)  # a late, long answer: still no error

    with pytest.raises(QuotaExceeded) as refused:
        await limiter.check_request(user, rule)
    error = refused.value
    assert error.code == "quota_tokens_per_day"
    assert error.limit == 100
    # The day started with the first counted tokens, a moment ago.
    assert 86_000 <= error.retry_after <= 86_400
    assert "daily allowance of 100 tokens" in error.message
    assert "You can send a new request in 24 hours." in error.message

    # Refusals for tokens do not use up the minute's requests (2 of 3 were used above).
    usage = await limiter.usage(user, rule)
    assert usage.requests_remaining == 1
    assert usage.tokens_used == 5_120
    assert usage.tokens_remaining == 0


async def test_usage_tells_where_a_user_stands(limiter: QuotaLimiter) -> None:
    user = new_user()
    rule = QuotaRule(requests_per_minute=10, tokens_per_day=1_000)

    fresh = await limiter.usage(user, rule)
    assert (fresh.requests_remaining, fresh.requests_reset_at) == (10, None)
    assert (fresh.tokens_used, fresh.tokens_remaining, fresh.tokens_reset_at) == (0, 1_000, None)

    for _ in range(3):
        await limiter.check_request(user, rule)
    await limiter.add_tokens(user, rule, 250)

    usage = await limiter.usage(user, rule)
    assert usage.live
    assert (usage.requests_per_minute, usage.requests_remaining) == (10, 7)
    assert (usage.tokens_per_day, usage.tokens_used, usage.tokens_remaining) == (1_000, 250, 750)
    assert usage.requests_reset_at is not None and usage.tokens_reset_at is not None
    now = time.time()
    assert 50 < usage.requests_reset_at.timestamp() - now <= 60
    assert 86_000 < usage.tokens_reset_at.timestamp() - now <= 86_400


async def test_an_unlimited_rule_counts_nothing(limiter: QuotaLimiter) -> None:
    user = new_user()
    for _ in range(50):
        await limiter.check_request(user, NO_LIMITS)
        await limiter.add_tokens(user, NO_LIMITS, 1_000_000)
    # 0 in a rule also means unlimited, so a hand-built rule cannot block everyone.
    await limiter.check_request(user, QuotaRule(requests_per_minute=0, tokens_per_day=0))
    usage = await limiter.usage(user, NO_LIMITS)
    assert usage.requests_remaining is None and usage.tokens_used is None


async def test_two_processes_share_the_limit_through_redis(redis_url: str) -> None:
    """Two OS processes, six attempts each at once, one user: exactly ten get through."""
    user = new_user()
    children = [
        await asyncio.create_subprocess_exec(
            sys.executable,
            "-c",
            _CHILD,
            redis_url,
            user,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        for _ in range(2)
    ]
    try:
        for child in children:  # both have imported everything and built their limiter
            assert child.stdout is not None
            ready = await asyncio.wait_for(child.stdout.readline(), timeout=15)
            assert ready == b"ready\n", ready
        results = []
        for child, (stdout, stderr) in zip(
            children,
            # "go" to both at once, so that their attempts really overlap
            await asyncio.gather(*(child.communicate(b"go\n") for child in children)),
            strict=True,
        ):
            assert child.returncode == 0, stderr.decode()
            results.append(json.loads(stdout))
    finally:
        for child in children:
            if child.returncode is None:
                child.kill()
                await child.wait()

    assert sum(result["allowed"] for result in results) == 10
    assert sum(result["refused"] for result in results) == 2


_CHILD = """
import asyncio, json, sys
from autan.quotas import QuotaExceeded, QuotaLimiter, QuotaRule

async def attempt(limiter, user, rule):
    try:
        await limiter.check_request(user, rule)
        return True
    except QuotaExceeded:
        return False

async def main(url, user):
    limiter = QuotaLimiter(url)
    rule = QuotaRule(requests_per_minute=10)
    print("ready", flush=True)
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)
    outcomes = await asyncio.gather(*(attempt(limiter, user, rule) for _ in range(6)))
    await limiter.close()
    assert limiter.storage_errors == 0
    print(json.dumps({"allowed": sum(outcomes), "refused": outcomes.count(False)}))

asyncio.run(main(sys.argv[1], sys.argv[2]))
"""


async def test_a_redis_outage_lets_requests_through_and_is_logged() -> None:
    server = start_redis()
    restarted: RedisServer | None = None
    user, rule = new_user(), QuotaRule(requests_per_minute=2, tokens_per_day=100)
    with structlog.testing.capture_logs() as logs:
        limiter = QuotaLimiter(server.url, retry_interval=0.2)
        try:
            await limiter.check_request(user, rule)
            await limiter.check_request(user, rule)
            with pytest.raises(QuotaExceeded):
                await limiter.check_request(user, rule)

            server.stop()
            for _ in range(5):  # over the limit, but Redis is gone: fail open
                await limiter.check_request(user, rule)
            await limiter.add_tokens(user, rule, 1_000)  # never raises
            assert not (await limiter.usage(user, rule)).live
            assert not limiter.available
            assert limiter.storage_errors == 1  # then left alone for retry_interval
            assert limiter.unchecked_requests == 5

            await asyncio.sleep(0.25)
            await limiter.check_request(user, rule)  # asks Redis again, still down
            assert limiter.storage_errors == 2

            restarted = RedisServer(port=server.port)  # an empty Redis comes back
            restarted.start()
            await asyncio.sleep(0.25)
            await limiter.check_request(user, rule)
            await limiter.check_request(user, rule)
            assert limiter.available
            with pytest.raises(QuotaExceeded):
                await limiter.check_request(user, rule)
        finally:
            await limiter.close()
            server.stop()
            if restarted is not None:
                restarted.stop()

    events = [entry for entry in logs if entry["event"].startswith("quota_storage")]
    assert [entry["event"] for entry in events] == [
        "quota_storage_unavailable",
        "quota_storage_recovered",
    ]
    down, up = events
    assert down["log_level"] == "warning"
    assert down["operation"] == "check_request"
    assert down["storage"] == f"async+{server.url}"
    assert up["unchecked_requests"] == 6


def test_the_memory_sweep_hook_still_exists() -> None:
    """`quotas.storage.SweptMemoryStorage` overrides these private methods of limits' storage."""
    assert callable(getattr(MemoryStorage, "_MemoryStorage__schedule_expiry", None))
    assert callable(getattr(MemoryStorage, "_MemoryStorage__expire_events", None))


async def test_memory_storage_sweeps_at_most_every_ten_seconds() -> None:
    """limits alone would start a sweep of every key after nearly every hit (~0.5 ms CPU)."""
    limiter = QuotaLimiter()
    storage = limiter._storage
    assert isinstance(storage, MemoryStorage)
    try:
        await limiter.check_request(new_user(), PER_MINUTE)
        first_sweep = storage.timer
        assert first_sweep is not None
        await first_sweep  # the sweep is over: limits alone would start another now
        for _ in range(20):
            await limiter.check_request(new_user(), PER_MINUTE)
            await asyncio.sleep(0)
        assert storage.timer is first_sweep
    finally:
        await limiter.close()


@pytest.mark.parametrize(
    ("url", "uri"),
    [
        (None, "async+memory://"),
        ("", "async+memory://"),
        ("redis://cache:6379/0", "async+redis://cache:6379/0"),
        ("rediss://:secret@cache:6380", "async+rediss://:secret@cache:6380"),
        ("unix:///run/redis.sock", "async+redis+unix:///run/redis.sock"),
        ("async+redis+sentinel://s1:26379/main", "async+redis+sentinel://s1:26379/main"),
    ],
)
def test_storage_uri(url: str | None, uri: str) -> None:
    assert storage_uri(url) == uri


# -- the error, as users and clients see it --------------------------------------------


async def test_quota_exceeded_becomes_429_with_retry_after() -> None:
    app = FastAPI()
    error_handlers.install(app)

    @app.get("/limited")
    async def limited() -> None:
        raise QuotaExceeded.requests_per_minute(10, 42)

    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        response = await client.get("/limited")

    assert response.status_code == 429
    assert response.headers["Retry-After"] == "42"
    assert response.json() == {
        "error": {
            "message": "You have reached your limit of 10 requests per minute. "
            "You can send a new request in 42 seconds.",
            "type": "rate_limit_error",
            "param": None,
            "code": "quota_requests_per_minute",
        }
    }


@pytest.mark.parametrize(
    ("seconds", "words"),
    [
        (1, "1 second"),
        (42, "42 seconds"),
        (89, "89 seconds"),
        (90, "2 minutes"),
        (3_600, "60 minutes"),
        (5_340, "89 minutes"),
        (5_401, "1 hour 31 minutes"),
        (7_200, "2 hours"),
        (86_400, "24 hours"),
    ],
)
def test_waits_are_said_in_words(seconds: int, words: str) -> None:
    assert describe_wait(seconds) == words


def test_retry_after_is_at_least_one_second() -> None:
    assert QuotaExceeded.tokens_per_day(1_000, 0).retry_after == 1
    assert "1 second." in QuotaExceeded.requests_per_minute(1, 0).message
    assert "limit of 1 request per minute" in QuotaExceeded.requests_per_minute(1, 0).message


# -- which rule applies ----------------------------------------------------------------

DEFAULTS = QuotaSettings(requests_per_minute=10, tokens_per_day=100_000)


@pytest.mark.parametrize(
    ("org_rule", "role_rule", "expected"),
    [
        pytest.param(None, None, QuotaRule(10, 100_000), id="default"),
        pytest.param(QuotaRule(30, None), None, QuotaRule(30, 100_000), id="org-beats-default"),
        pytest.param(
            QuotaRule(30, 5_000), QuotaRule(60, None), QuotaRule(60, 5_000), id="role-beats-org"
        ),
        pytest.param(None, QuotaRule(None, 1_000), QuotaRule(10, 1_000), id="role-over-default"),
        pytest.param(
            QuotaRule(None, None), QuotaRule(None, None), QuotaRule(10, 100_000), id="all-inherit"
        ),
        pytest.param(
            QuotaRule(UNLIMITED, None), None, QuotaRule(None, 100_000), id="org-lifts-rate"
        ),
        pytest.param(
            QuotaRule(UNLIMITED, UNLIMITED),
            QuotaRule(5, None),
            QuotaRule(5, None),
            id="role-limits-again-what-org-lifted",
        ),
        pytest.param(
            QuotaRule(20, 2_000),
            QuotaRule(None, UNLIMITED),
            QuotaRule(20, None),
            id="role-lifts-tokens-only",
        ),
    ],
)
def test_the_most_specific_rule_wins_field_by_field(
    org_rule: QuotaRule | None, role_rule: QuotaRule | None, expected: QuotaRule
) -> None:
    assert resolve(DEFAULTS, org_rule, role_rule) == expected


def test_defaults_may_be_unlimited_and_overrides_may_limit() -> None:
    defaults = QuotaSettings(requests_per_minute=None, tokens_per_day=0)
    assert resolve(defaults) == NO_LIMITS
    assert resolve(defaults, QuotaRule(tokens_per_day=500)) == QuotaRule(None, 500)
    assert resolve(defaults.rule(), None, QuotaRule(3, None)) == QuotaRule(3, None)


def test_disabled_quotas_override_every_rule() -> None:
    disabled = QuotaSettings(enabled=False)
    assert resolve(disabled, QuotaRule(5, 5), QuotaRule(1, 1)) == NO_LIMITS
    assert disabled.rule().unlimited


def test_default_settings() -> None:
    settings = QuotaSettings()
    assert settings.rule() == QuotaRule(requests_per_minute=10, tokens_per_day=None)


def test_empty_or_zero_settings_mean_unlimited() -> None:
    settings = QuotaSettings.model_validate({"requests_per_minute": "", "tokens_per_day": "0"})
    assert settings.rule() == NO_LIMITS


class RuleRow:
    """Stands for a `quota_rules` row: resolve reads only the two limit fields."""

    def __init__(self, requests_per_minute: int | None, tokens_per_day: int | None) -> None:
        self.requests_per_minute = requests_per_minute
        self.tokens_per_day = tokens_per_day


def test_rows_can_be_resolved_as_they_are_loaded() -> None:
    org, role = RuleRow(30, None), RuleRow(None, UNLIMITED)
    assert resolve(DEFAULTS, org, role) == QuotaRule(30, None)


def test_negative_limits_are_refused() -> None:
    with pytest.raises(ValueError, match="requests_per_minute"):
        QuotaRule(requests_per_minute=-1)
    with pytest.raises(ValueError, match="tokens_per_day"):
        resolve(DEFAULTS, RuleRow(None, -5))
