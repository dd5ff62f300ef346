"""Sign-in throttling: wrong passwords slow their own address, never lock the owner out; the
address is the connection's unless a configured proxy forwarded it."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from pydantic import ValidationError
from sqlalchemy import select

from autan.accounts import service
from autan.accounts.models import AuditEvent
from autan.accounts.throttle import (
    ACCOUNT_UNDER_ATTACK,
    FREE_FAILURES,
    MAX_DELAY,
    PER_ADDRESS,
    LoginThrottle,
    TooManyLoginAttempts,
    address_key,
)
from autan.cli import proxy_options
from autan.core.db import create_engine, session_factory
from autan.llm.config import ModelConfig, ModelsConfig, ReplicaConfig
from autan.quotas import QuotaLimiter
from autan.settings import Settings
from tests.conftest import RunningAutan, make_settings, serve_autan
from tests.support.database import SqliteDatabases
from tests.support.redis_fixtures import redis_url
from tests.support.web import sign_in

__all__ = ["redis_url"]  # a fixture: imported so that pytest finds it in this module

PASSWORD = "correct horse battery staple"
ATTACKER, OWNER = "198.51.100.7", "192.0.2.44"


def new_email() -> str:
    """An account of the test's own, so that tests sharing the session's Redis keep apart."""
    return f"agent-{uuid.uuid4().hex[:12]}@culture.gouv.fr"


def new_address() -> str:
    return f"10.{uuid.uuid4().int % 250}.{uuid.uuid4().int % 250}.{uuid.uuid4().int % 250}"


@pytest.fixture(params=("memory", "redis"))
async def throttle(request: pytest.FixtureRequest) -> AsyncIterator[LoginThrottle]:
    """The throttle on process memory, then on the session's real Redis."""
    url = None if request.param == "memory" else request.getfixturevalue("redis_url")
    limiter = QuotaLimiter(url)
    try:
        yield LoginThrottle(limiter)
    finally:
        await limiter.close()


async def _retry_after(throttle: LoginThrottle, email: str, ip: str) -> int | None:
    """Seconds this attempt would have to wait, or None if it may go ahead."""
    try:
        await throttle.check(email, ip)
    except TooManyLoginAttempts as exc:
        assert exc.retry_after is not None
        return int(exc.retry_after)
    return None


# -- the throttle, on memory and on Redis ---------------------------------------------------


async def test_delays_double_after_a_few_free_failures_and_are_capped(
    throttle: LoginThrottle,
) -> None:
    email, ip = new_email(), new_address()
    delays = [await throttle.failed(email, ip) for _ in range(FREE_FAILURES + 9)]
    assert delays == [0] * FREE_FAILURES + [1, 2, 4, 8, 16, 32, MAX_DELAY, MAX_DELAY, MAX_DELAY]
    assert 1 <= (await _retry_after(throttle, email, ip) or 0) <= MAX_DELAY


async def test_fifty_failures_elsewhere_do_not_hold_up_the_owner(throttle: LoginThrottle) -> None:
    email, attacker, owner = new_email(), new_address(), new_address()
    for _ in range(50):
        await throttle.failed(email, attacker)
    assert await _retry_after(throttle, email, attacker) is not None
    assert await _retry_after(throttle, email, owner) is None
    # The account is now under attack, so even the owner's typo costs a second; signing in
    # clears it.
    assert await throttle.failed(email, owner) == 1
    assert await _retry_after(throttle, email, owner) == 1
    await throttle.succeeded(email, owner)
    assert await _retry_after(throttle, email, owner) is None


async def test_spraying_many_accounts_from_one_address_is_limited(throttle: LoginThrottle) -> None:
    sprayer, other = new_address(), new_address()
    for _ in range(PER_ADDRESS.amount):
        assert await _retry_after(throttle, new_email(), sprayer) is None
        assert await throttle.failed(new_email(), sprayer) == 0, "one failure per account"
    wait = await _retry_after(throttle, new_email(), sprayer)
    assert wait is not None and wait > MAX_DELAY, "the address waits for its window"
    assert await _retry_after(throttle, new_email(), other) is None


async def test_an_account_attacked_from_many_addresses_loses_its_free_failures(
    throttle: LoginThrottle,
) -> None:
    email = new_email()
    for _ in range(ACCOUNT_UNDER_ATTACK.amount):
        assert await throttle.failed(email, new_address()) == 0
    # Now each new address waits from its first failure, but an address that has not failed
    # (the owner's) is still let in.
    latecomer = new_address()
    assert await throttle.failed(email, latecomer) == 1
    assert await _retry_after(throttle, email, latecomer) is not None
    assert await _retry_after(throttle, email, new_address()) is None


def test_ipv6_clients_are_counted_by_their_network() -> None:
    assert address_key("2001:db8:1:2:aaaa::1") == address_key("2001:db8:1:2:bbbb::9")
    assert address_key("2001:db8:1:2::1") != address_key("2001:db8:1:3::1")
    assert address_key("::ffff:192.0.2.1") == "192.0.2.1"
    assert address_key("203.0.113.9") == "203.0.113.9"
    assert address_key(None) is None


# -- through HTTP and a real uvicorn --------------------------------------------------------


async def _serve(tmp_path: Path, url: str, forwarded: str) -> AsyncIterator[RunningAutan]:
    engine = create_engine(url)
    async with session_factory(engine)() as session:
        await service.create_user(session, "owner@culture.gouv.fr", password=PASSWORD)
    await engine.dispose()
    models = ModelsConfig(
        models=[ModelConfig(id="m", replicas=[ReplicaConfig(url="http://127.0.0.1:9/v1")])]
    )
    settings = make_settings(tmp_path, url, models).model_copy(
        update={"forwarded_allow_ips": forwarded}
    )
    async with serve_autan(settings) as running:
        yield running


@dataclass
class Served:
    base_url: str
    database_url: str

    def client(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(base_url=self.base_url, timeout=30)

    async def failure_addresses(self) -> list[str | None]:
        """The address of each failed sign-in in the audit log."""
        engine = create_engine(self.database_url)
        try:
            async with session_factory(engine)() as session:
                rows = await session.scalars(
                    select(AuditEvent.ip)
                    .where(AuditEvent.action == "login_failed")
                    .order_by(AuditEvent.id)
                )
                return list(rows)
        finally:
            await engine.dispose()


@pytest.fixture
async def behind_proxy(tmp_path: Path, sqlite_databases: SqliteDatabases) -> AsyncIterator[Served]:
    """Autan trusting X-Forwarded-For from loopback, as behind a proxy on the same host."""
    url = sqlite_databases.new()
    async for running in _serve(tmp_path, url, "127.0.0.1"):
        yield Served(running.base_url, url)


@pytest.fixture
async def direct(tmp_path: Path, sqlite_databases: SqliteDatabases) -> AsyncIterator[Served]:
    """Autan with the default settings: no proxy is trusted."""
    url = sqlite_databases.new()
    async for running in _serve(tmp_path, url, ""):
        yield Served(running.base_url, url)


async def _login(client: httpx.AsyncClient, password: str, forwarded_for: str) -> httpx.Response:
    body = {"email": "owner@culture.gouv.fr", "password": password}
    return await client.post("/auth/login", json=body, headers={"X-Forwarded-For": forwarded_for})


async def test_fifty_wrong_passwords_slow_the_attacker_and_the_owner_gets_in_at_once(
    behind_proxy: Served,
) -> None:
    async with behind_proxy.client() as client:
        answers = [await _login(client, "guess", ATTACKER) for _ in range(50)]
        owner = await _login(client, PASSWORD, OWNER)
    statuses = [a.status_code for a in answers]
    assert statuses[: FREE_FAILURES + 1] == [401] * (FREE_FAILURES + 1)
    refused = [a for a in answers if a.status_code == 429]
    # A slow machine may let a wait of a second run out between two guesses, not more.
    assert len(refused) >= 40 and set(statuses) == {401, 429}
    assert all(1 <= int(a.headers["retry-after"]) <= MAX_DELAY for a in refused)
    assert refused[0].json()["error"]["code"] == "too_many_login_attempts"
    assert "second" in refused[0].json()["error"]["message"]
    assert owner.status_code == 200, owner.text
    assert set(await behind_proxy.failure_addresses()) == {ATTACKER}


async def test_by_default_a_loopback_client_cannot_choose_its_address(direct: Served) -> None:
    async with direct.client() as client:
        # Each guess claims a new address; all are counted as the connection's, 127.0.0.1.
        answers = [await _login(client, "guess", f"203.0.113.{n}") for n in range(1, 6)]
    assert [a.status_code for a in answers] == [401] * (FREE_FAILURES + 1) + [429]
    assert await direct.failure_addresses() == ["127.0.0.1"] * (FREE_FAILURES + 1)


async def test_the_sign_in_page_says_how_many_seconds_to_wait(direct: Served) -> None:
    async with direct.client() as browser:
        answers = [
            await sign_in(browser, "owner@culture.gouv.fr", "guess")
            for _ in range(FREE_FAILURES + 2)
        ]
    assert [a.status_code for a in answers] == [401] * (FREE_FAILURES + 1) + [429]
    assert "Vous pourrez réessayer dans 1 seconde." in answers[-1].text
    assert 'value="owner@culture.gouv.fr"' in answers[-1].text


def test_proxy_options_trust_only_the_configured_proxies(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AUTAN_FORWARDED_ALLOW_IPS", raising=False)
    assert proxy_options(Settings(_env_file=None)) == {
        "proxy_headers": False,
        "forwarded_allow_ips": [],
    }
    monkeypatch.setenv("AUTAN_FORWARDED_ALLOW_IPS", "10.0.0.5, 192.168.0.0/16,::1")
    assert proxy_options(Settings(_env_file=None)) == {
        "proxy_headers": True,
        "forwarded_allow_ips": ["10.0.0.5", "192.168.0.0/16", "::1"],
    }
    monkeypatch.setenv("AUTAN_FORWARDED_ALLOW_IPS", "proxy.internal")
    with pytest.raises(ValidationError, match="not an IP address"):
        Settings(_env_file=None)
