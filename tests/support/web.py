"""Helpers for the web UI tests: a few people in two organisations, a browser-like client."""

from __future__ import annotations

import contextlib
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import orjson

from autan.accounts import service
from autan.accounts.mail_settings import MailSettings
from autan.accounts.models import Role
from autan.accounts.oidc_settings import OidcSettings
from autan.connectors.settings import ConnectorSettings
from autan.core.db import DatabasePoolSettings, create_engine, session_factory, utcnow
from autan.llm.config import ModelConfig, ModelsConfig, ReplicaConfig
from autan.retrieval.settings import RetrievalSettings
from autan.suitedocs.settings import DocsSettings
from tests.conftest import RunningAutan, make_settings, serve_autan
from tests.support.loopback import TLS

PASSWORD = "correct horse battery staple"
PEOPLE = {
    "admin": ("admin@numerique.gouv.fr", Role.ADMIN, "dinum"),
    "ref_a": ("ref@agriculture.gouv.fr", Role.REFERENT, "agri"),
    "member_a": ("agent@agriculture.gouv.fr", Role.MEMBER, "agri"),
    "ref_b": ("ref@culture.gouv.fr", Role.REFERENT, "culture"),
}
HTML = {"Accept": "text/html,application/xhtml+xml"}


@dataclass
class Site:
    autan: RunningAutan

    def browser(self, **headers: str) -> httpx.AsyncClient:
        return httpx.AsyncClient(
            base_url=self.autan.base_url, headers={**HTML, **headers}, timeout=20, verify=TLS
        )

    @contextlib.asynccontextmanager
    async def signed_in(self, who: str) -> AsyncIterator[httpx.AsyncClient]:
        async with self.browser() as browser:
            response = await sign_in(browser, PEOPLE[who][0], PASSWORD)
            assert response.status_code == 303, response.text
            yield browser


@contextlib.asynccontextmanager
async def run_site(
    tmp_path: Path,
    database_url: str,
    models: ModelsConfig | None = None,
    quotas: dict[str, object] | None = None,
    *,
    accept_charter: bool = True,
    chat: dict[str, object] | None = None,
    database_pool: dict[str, object] | None = None,
    web: dict[str, object] | None = None,
    research: dict[str, object] | None = None,
    mail: dict[str, object] | None = None,
    retrieval: dict[str, object] | None = None,
    docs: dict[str, object] | None = None,
    gateway: dict[str, object] | None = None,
    connectors: dict[str, object] | None = None,
    documents: dict[str, object] | None = None,
    oidc: dict[str, object] | None = None,
) -> AsyncIterator[Site]:
    engine = create_engine(database_url)
    async with session_factory(engine)() as session:
        for email, role, org in PEOPLE.values():
            user = await service.create_user(
                session, email, role=role, org_slug=org, password=PASSWORD
            )
            if accept_charter:
                # Pages wait for the usage charter; most tests are about something else.
                user.charter_accepted_version = 1
                user.charter_accepted_at = utcnow()
        await session.commit()
    await engine.dispose()
    models = models or ModelsConfig(
        models=[
            ModelConfig(
                id="petit",
                display_name="Petit modèle",
                replicas=[ReplicaConfig(url="http://127.0.0.1:9/v1")],
            ),
            ModelConfig(id="grand", replicas=[ReplicaConfig(url="http://127.0.0.1:9/v1")]),
        ]
    )
    settings = make_settings(
        tmp_path,
        database_url,
        models,
        quotas,
        chat=chat,
        web=web,
        research=research,
        **(gateway or {}),
    )
    if database_pool is not None:
        settings.database_pool = DatabasePoolSettings.model_validate(database_pool)
    if mail is not None:
        settings.mail = MailSettings.model_validate(mail)
    if retrieval is not None:
        settings.retrieval = RetrievalSettings.model_validate(retrieval)
    if docs is not None:
        settings.docs = DocsSettings.model_validate(docs)
    if documents is not None:
        settings.documents = settings.documents.model_copy(update=documents)
    if connectors is not None:
        settings.connectors = ConnectorSettings.model_validate(connectors)
    if oidc is not None:
        settings.oidc = OidcSettings.model_validate(oidc)
    async with serve_autan(settings) as autan:
        yield Site(autan)


def hidden(html: str, name: str) -> str:
    """The value of a hidden field of a page."""
    found = re.search(rf'name="{name}" value="([^"]*)"', html)
    assert found, f"no field {name}"
    return found.group(1)


async def sign_in(browser: httpx.AsyncClient, email: str, password: str) -> httpx.Response:
    page = await browser.get("/login")
    token = hidden(page.text, "form_token")
    return await browser.post(
        "/login", data={"form_token": token, "email": email, "password": password}
    )


def parse_events(body: bytes) -> list[tuple[str, dict[str, Any]]]:
    """The named SSE events of a chat turn's body: (event name, JSON data)."""
    events = []
    for block in body.split(b"\n\n"):
        name, data = "message", b""
        for line in block.split(b"\n"):
            if line.startswith(b"event:"):
                name = line[6:].strip().decode()
            elif line.startswith(b"data:"):
                data += line[5:].strip()
        if data:
            events.append((name, orjson.loads(data)))
    return events
