"""Browser sessions: password login, signed cookies, CSRF, expiry, log out everywhere."""

from __future__ import annotations

import contextlib
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from autan.accounts import service
from autan.accounts.errors import SessionExpired
from autan.accounts.models import Role
from autan.accounts.sessions import SessionCodec
from autan.core.db import create_engine, session_factory
from autan.llm.config import ModelConfig, ModelsConfig, ReplicaConfig
from autan.settings import SessionSettings
from tests.conftest import RunningAutan, make_settings, serve_autan

EMAIL, PASSWORD = "agente@culture.gouv.fr", "correct horse battery staple"


@pytest.fixture
async def autan(tmp_path: Path, database_url: str) -> AsyncIterator[RunningAutan]:
    engine = create_engine(database_url)
    async with session_factory(engine)() as session:
        await service.create_user(session, EMAIL, role=Role.REFERENT, password=PASSWORD)
    await engine.dispose()
    models = ModelsConfig(
        models=[ModelConfig(id="m", replicas=[ReplicaConfig(url="http://127.0.0.1:9/v1")])]
    )
    async with serve_autan(make_settings(tmp_path, database_url, models)) as running:
        yield running


@contextlib.asynccontextmanager
async def sign_in(autan: RunningAutan) -> AsyncIterator[tuple[httpx.AsyncClient, str]]:
    """A browser signed in with a password, and its CSRF token."""
    async with httpx.AsyncClient(base_url=autan.base_url, timeout=10) as browser:
        body = {"email": EMAIL.upper(), "password": PASSWORD}
        response = await browser.post("/auth/login", json=body)
        assert response.status_code == 200, response.text
        cookie = response.headers["set-cookie"].lower()
        assert "httponly" in cookie and "samesite=lax" in cookie and "secure" not in cookie
        yield browser, response.json()["csrf_token"]


async def test_login_then_use_the_api_with_the_session(autan: RunningAutan) -> None:
    async with sign_in(autan) as (browser, csrf):
        assert (await browser.get("/api/me")).json()["email"] == EMAIL
        assert (await browser.get("/auth/session")).json()["csrf_token"] == csrf
        headers = {"X-CSRF-Token": csrf}
        created = await browser.post("/api/me/keys", json={"name": "x"}, headers=headers)
        assert created.status_code == 201


async def test_state_changes_need_the_csrf_token(autan: RunningAutan) -> None:
    async with sign_in(autan) as (browser, csrf):
        for token in (None, "forged", csrf[:-1]):
            headers = {"X-CSRF-Token": token} if token else {}
            response = await browser.post("/api/me/keys", json={"name": "x"}, headers=headers)
            assert response.status_code == 403
            assert response.json()["error"]["code"] == "csrf_failed"
        assert (await browser.get("/api/me/keys")).json() == [], "nothing was created"


@pytest.mark.parametrize(
    ("email", "password"),
    [(EMAIL, "wrong"), ("nobody@culture.gouv.fr", PASSWORD), ("not an email", PASSWORD)],
)
async def test_wrong_credentials_say_so_without_telling_which(
    autan: RunningAutan, email: str, password: str
) -> None:
    async with httpx.AsyncClient(base_url=autan.base_url) as browser:
        response = await browser.post("/auth/login", json={"email": email, "password": password})
    assert response.status_code == 401
    assert response.json()["error"]["message"] == "Wrong email or password."
    assert "set-cookie" not in response.headers


async def test_oversize_and_malformed_logins_are_refused(autan: RunningAutan) -> None:
    async with httpx.AsyncClient(base_url=autan.base_url) as browser:
        huge = await browser.post("/auth/login", json={"email": EMAIL, "password": "x" * 5000})
        odd = await browser.post("/auth/login", json={"email": EMAIL, "password": 12, "x": 1})
    assert huge.status_code == 400 and huge.json()["error"]["param"] == "password"
    assert odd.status_code == 400


async def test_a_tampered_cookie_is_refused(autan: RunningAutan) -> None:
    async with sign_in(autan) as (browser, _):
        value = browser.cookies["autan_session"]
        forged = value[:-2] + ("AA" if not value.endswith("AA") else "BB")
        browser.cookies.set("autan_session", forged)
        response = await browser.get("/api/me")
    assert response.status_code == 401 and response.json()["error"]["code"] == "session_expired"


async def test_log_out_of_all_devices(autan: RunningAutan) -> None:
    async with sign_in(autan) as (laptop, laptop_csrf), sign_in(autan) as (phone, _):
        assert (await phone.get("/api/me")).status_code == 200
        response = await laptop.post("/auth/logout-all", headers={"X-CSRF-Token": laptop_csrf})
        assert response.status_code == 204
        assert (await phone.get("/api/me")).status_code == 401
        assert (await laptop.get("/api/me")).status_code == 401
    async with sign_in(autan) as (again, _):
        assert (await again.get("/api/me")).status_code == 200


def test_idle_and_absolute_expiry() -> None:
    settings = SessionSettings(idle_timeout_minutes=30, absolute_timeout_hours=8)
    codec = SessionCodec("secret", settings)
    cookie, data = codec.issue(uuid.uuid4(), 0)
    now = time.time()
    assert codec.decode(cookie, now + 29 * 60) == data
    with pytest.raises(SessionExpired):
        codec.decode(cookie, now + 31 * 60)  # idle
    fresh = codec.touched(data, now + 25 * 60)
    assert fresh is not None
    assert codec.decode(codec.encode(fresh), now + 50 * 60).seen_at == fresh.seen_at
    with pytest.raises(SessionExpired):
        codec.decode(codec.encode(fresh), now + 8 * 3600 + 1)  # absolute, even if active
    with pytest.raises(SessionExpired):
        SessionCodec("other secret", SessionSettings()).decode(cookie)


async def test_logout_ends_the_session_even_for_a_copied_cookie(autan: RunningAutan) -> None:
    async with sign_in(autan) as (browser, csrf):
        copied = browser.cookies["autan_session"]
        response = await browser.post("/auth/logout", headers={"X-CSRF-Token": csrf})
        assert response.status_code == 204
    async with httpx.AsyncClient(base_url=autan.base_url, timeout=10) as thief:
        thief.cookies.set("autan_session", copied)
        refused = await thief.get("/api/me")
    assert refused.status_code == 401 and refused.json()["error"]["code"] == "session_expired"
    async with sign_in(autan) as (again, _):
        assert (await again.get("/api/me")).status_code == 200, "other sessions live on"


async def test_a_logout_outlives_a_restart(tmp_path: Path, database_url: str) -> None:
    """The revocation is stored: a server started later refuses the cookie too."""
    engine = create_engine(database_url)
    async with session_factory(engine)() as session:
        await service.create_user(session, EMAIL, role=Role.REFERENT, password=PASSWORD)
    await engine.dispose()
    models = ModelsConfig(
        models=[ModelConfig(id="m", replicas=[ReplicaConfig(url="http://127.0.0.1:9/v1")])]
    )
    settings = make_settings(tmp_path, database_url, models)
    async with serve_autan(settings) as first, sign_in(first) as (browser, csrf):
        copied = browser.cookies["autan_session"]
        assert (await browser.post("/auth/logout", headers={"X-CSRF-Token": csrf})).is_success
    async with (
        serve_autan(settings, email="other@example.org") as second,
        httpx.AsyncClient(base_url=second.base_url, timeout=10) as thief,
    ):
        thief.cookies.set("autan_session", copied)
        assert (await thief.get("/api/me")).status_code == 401


async def test_disabling_a_user_through_the_api_refuses_their_key_at_once(
    autan: RunningAutan,
) -> None:
    async with autan.client() as member, sign_in(autan) as (referent, csrf):
        assert (await member.get("/v1/models")).status_code == 200  # the key is now cached
        found = (await referent.get("/api/orgs/default/users", params={"q": "agent@"})).json()
        user_id = next(u["id"] for u in found if u["email"] == "agent@example.org")
        response = await referent.patch(
            f"/api/orgs/default/users/{user_id}",
            json={"is_active": False},
            headers={"X-CSRF-Token": csrf},
        )
        assert response.status_code == 200 and response.json()["is_active"] is False
        refused = await member.get("/v1/models")
    assert refused.status_code == 401
