"""Signing in through a real OIDC provider process: allow-listed domains, SIRET, access codes
for newcomers, returning users, tampering, and logout at the provider."""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from autan.accounts import codes, service
from autan.accounts.models import Role
from autan.accounts.oidc_settings import OidcSettings
from autan.core.db import create_engine, session_factory
from autan.llm.config import ModelConfig, ModelsConfig, ReplicaConfig
from tests.conftest import RunningAutan, make_settings, serve_autan
from tests.support.oidc_provider import OidcProvider

pytest_plugins = ["tests.support.oidc_fixtures"]

SIRET = "11000201100044"
_subjects = itertools.count()


@dataclass
class Site:
    autan: RunningAutan
    provider: OidcProvider
    code: str

    def browser(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(base_url=self.autan.base_url, timeout=15)

    async def user(self, email: str, **claims: str) -> str:
        sub = f"agent-{next(_subjects)}"
        await self.provider.set_user(sub, {"email": email, "email_verified": True, **claims})
        return sub

    async def sign_in(self, browser: httpx.AsyncClient, sub: str) -> httpx.Response:
        start = await browser.get("/auth/oidc/login")
        assert start.status_code == 303
        callback = await self.provider.authorize(start.headers["location"], sub)
        assert callback.startswith(self.autan.base_url + "/auth/oidc/callback?")
        return await browser.get(callback)


@pytest.fixture
async def site(
    tmp_path: Path, database_url: str, oidc_provider: OidcProvider
) -> AsyncIterator[Site]:
    models = ModelsConfig(
        models=[ModelConfig(id="m", replicas=[ReplicaConfig(url="http://127.0.0.1:9/v1")])]
    )
    oidc = OidcSettings(
        enabled=True,
        issuer=oidc_provider.issuer,
        client_id="autan",
        client_secret="s3cret",
        scopes=["openid", "email", "profile", "given_name", "usual_name", "siret"],
    )
    settings = make_settings(tmp_path, database_url, models).model_copy(update={"oidc": oidc})
    engine = create_engine(database_url)
    async with session_factory(engine)() as session:
        await service.create_org(session, "culture", "Culture", domains=["culture.gouv.fr"])
        armees = await service.create_org(session, "armees", "Armées", external_id=SIRET)
        created = await codes.create_code(
            session, settings.resolved_secret_key(), org=armees, creator=None
        )
    await engine.dispose()
    async with serve_autan(settings) as autan:
        yield Site(autan, oidc_provider, created.code)


async def test_an_allow_listed_domain_joins_its_organisation(site: Site) -> None:
    sub = await site.user("Agent.Dupont@Culture.gouv.fr", given_name="Claire", usual_name="Dupont")
    async with site.browser() as browser:
        landed = await site.sign_in(browser, sub)
        assert landed.status_code == 303 and landed.headers["location"] == "/"
        me = (await browser.get("/api/me")).json()
    assert me["email"] == "agent.dupont@culture.gouv.fr" and me["organisation"] == "culture"
    assert me["display_name"] == "Claire Dupont" and me["role"] == "member"


async def test_a_siret_claim_joins_its_organisation(site: Site) -> None:
    sub = await site.user("sergent@intradef.gouv.fr", siret=SIRET)
    async with site.browser() as browser:
        await site.sign_in(browser, sub)
        assert (await browser.get("/api/me")).json()["organisation"] == "armees"


async def test_a_newcomer_redeems_an_access_code_once(site: Site) -> None:
    sub = await site.user("consultant@exemple.fr")
    async with site.browser() as browser:
        landed = await site.sign_in(browser, sub)
        assert landed.headers["location"] == "/auth/welcome"
        assert (await browser.get("/api/me")).status_code == 401, "no account yet"
        wrong = await browser.post("/auth/oidc/redeem", json={"code": "AAAA-BBBB-CCCC-DDDD"})
        assert wrong.status_code == 400 and "not valid" in wrong.json()["error"]["message"]
        joined = await browser.post("/auth/oidc/redeem", json={"code": site.code.lower()})
        assert joined.status_code == 200, joined.text
        assert (await browser.get("/api/me")).json()["organisation"] == "armees"
    # The code was single-use: the next newcomer is refused in plain words.
    other = await site.user("autre@exemple.fr")
    async with site.browser() as browser:
        await site.sign_in(browser, other)
        again = await browser.post("/auth/oidc/redeem", json={"code": site.code})
    assert again.status_code == 400 and "already been used" in again.json()["error"]["message"]


async def test_redeeming_without_a_pending_sign_in_is_refused(site: Site) -> None:
    async with site.browser() as browser:
        response = await browser.post("/auth/oidc/redeem", json={"code": site.code})
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "pending_sign_in_missing"


async def test_a_returning_user_gets_the_same_account(site: Site) -> None:
    sub = await site.user("fidele@culture.gouv.fr")
    ids = []
    for _ in range(2):
        async with site.browser() as browser:
            await site.sign_in(browser, sub)
            ids.append((await browser.get("/api/me")).json()["id"])
    assert ids[0] == ids[1]


async def test_a_tampered_callback_signs_nobody_in(site: Site) -> None:
    sub = await site.user("cible@culture.gouv.fr")
    async with site.browser() as browser:
        start = await browser.get("/auth/oidc/login")
        callback = await site.provider.authorize(start.headers["location"], sub)
        response = await browser.get(callback.replace("state=", "state=x"))
        assert response.status_code in (400, 401)
        assert response.json()["error"]["code"] == "oidc_state_mismatch"
        assert (await browser.get("/api/me")).status_code == 401


async def test_logout_ends_the_session_at_the_provider_too(site: Site) -> None:
    sub = await site.user("depart@culture.gouv.fr")
    async with site.browser() as browser:
        await site.sign_in(browser, sub)
        response = await browser.get("/auth/oidc/logout")
        assert response.status_code == 303
        target = urlsplit(response.headers["location"])
        params = parse_qs(target.query)
        assert response.headers["location"].startswith(site.provider.issuer)
        assert params["id_token_hint"] and params["post_logout_redirect_uri"]
        assert (await browser.get("/api/me")).status_code == 401


async def test_another_referent_cannot_capture_an_allow_listed_domain(site: Site) -> None:
    """Probed: a referent listed another organisation's domain and got its next newcomer."""
    engine = create_engine(site.autan.settings.resolved_database_url)
    async with session_factory(engine)() as session:
        await service.create_user(
            session, "referent@intradef.gouv.fr", role=Role.REFERENT, org_slug="armees"
        )
        key = (await service.create_api_key(session, "referent@intradef.gouv.fr")).secret
    await engine.dispose()
    headers = {"Authorization": f"Bearer {key}"}
    async with httpx.AsyncClient(base_url=site.autan.base_url, headers=headers) as referent:
        capture = await referent.patch(
            "/api/orgs/armees", json={"allowed_domains": ["culture.gouv.fr"]}
        )
    assert capture.status_code == 409
    sub = await site.user("nouvelle@culture.gouv.fr")
    async with site.browser() as browser:
        await site.sign_in(browser, sub)
        assert (await browser.get("/api/me")).json()["organisation"] == "culture"
