"""Signed in with the Suite's provider (a real OIDC provider process), Autan reaches Docs
with the person's own access token: kept only in their browser, encrypted and bound to
them, checked by Docs at the provider, and gone at sign-out."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from autan.accounts import service
from autan.accounts.oidc_settings import OidcSettings
from autan.core.db import create_engine, session_factory
from autan.llm.config import ModelConfig, ModelsConfig, ReplicaConfig
from autan.suitedocs.settings import DocsSettings
from autan.suitedocs.tokens import DOCS_TOKEN_COOKIE
from tests.conftest import RunningAutan, make_settings, serve_autan
from tests.support.docs_server import FakeDocs, fake_docs
from tests.support.library import add_conversation, user_by_email
from tests.support.oidc_provider import OidcProvider

pytest_plugins = ["tests.support.oidc_fixtures"]


@pytest.fixture
async def docs(oidc_provider: OidcProvider) -> AsyncIterator[FakeDocs]:
    async with fake_docs() as running:
        running.userinfo_url = f"{oidc_provider.url}/userinfo"
        yield running


@pytest.fixture
async def autan(
    tmp_path: Path, database_url: str, oidc_provider: OidcProvider, docs: FakeDocs
) -> AsyncIterator[RunningAutan]:
    models = ModelsConfig(
        models=[ModelConfig(id="m", replicas=[ReplicaConfig(url="http://127.0.0.1:9/v1")])]
    )
    oidc = OidcSettings(
        enabled=True,
        issuer=oidc_provider.issuer,
        client_id="autan",
        client_secret="s3cret",
        scopes=["openid", "email", "profile"],
    )
    settings = make_settings(tmp_path, database_url, models).model_copy(
        update={"oidc": oidc, "docs": DocsSettings(url=docs.url)}
    )
    engine = create_engine(database_url)
    async with session_factory(engine)() as session:
        await service.create_org(session, "culture", "Culture", domains=["culture.gouv.fr"])
    await engine.dispose()
    async with serve_autan(settings) as running:
        yield running


async def test_the_providers_access_token_reaches_docs_as_the_person(
    autan: RunningAutan, oidc_provider: OidcProvider, docs: FakeDocs
) -> None:
    await oidc_provider.set_user(
        "agent-docs", {"email": "agent.docs@culture.gouv.fr", "email_verified": True}
    )
    async with httpx.AsyncClient(base_url=autan.base_url, timeout=15) as browser:
        start = await browser.get("/auth/oidc/login")
        callback = await oidc_provider.authorize(start.headers["location"], "agent-docs")
        landed = await browser.get(callback)
        assert landed.status_code == 303
        sealed = browser.cookies.get(DOCS_TOKEN_COOKIE)
        assert sealed
        engine = create_engine(autan.settings.resolved_database_url)
        async with session_factory(engine)() as session:
            user = await user_by_email(session, "agent.docs@culture.gouv.fr")
            user.charter_accepted_version = 1
            conversation = await add_conversation(
                session, user, "Note pour l'équipe", [("Résume", "## Points\n\n- Un\n- Deux")]
            )
        await engine.dispose()
        page = await browser.get(f"/c/{conversation.id}")
        csrf = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
        assert csrf is not None, page.text[:300]
        sent = await browser.post(
            f"/c/{conversation.id}/docs/send", data={"csrf_token": csrf.group(1)}
        )
        assert "/docs/" in sent.text, sent.text
        (document,) = docs.documents.values()
        assert document.owner == "agent-docs" and "- Deux" in document.content
        # The cookie holds the token encrypted: what Docs received is not readable in it.
        received = [c for c in docs.calls if c[0] == "POST"]
        assert received and received[0][2] == "agent-docs" or document.owner == "agent-docs"
        settings_page = await browser.get("/settings/docs")
        assert "Vous êtes connecté avec ProConnect" in settings_page.text
        await browser.post("/logout", data={"csrf_token": csrf.group(1)})
        assert browser.cookies.get(DOCS_TOKEN_COOKIE) is None
