"""The Suite's drive connected with the person's ProConnect sign-in (RFC 8693 token exchange).

Real parts on loopback, both engines: an OIDC provider's token endpoint speaking RFC 8693
(tests/support/exchange_provider.py), wsgidav behind a bearer check that asks that provider
(the drive as a resource server), the real server, worker, sync schedule and embedded e5.
Shown: the exchange's exact request, the exchanged token cached across a whole sync, renewed
by its refresh token once about to end, the session ended at the provider (the sync stops
and the person is told to reconnect), reconnecting, and no token stored in clear.
"""

from __future__ import annotations

import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select, update

from autan.accounts.models import User
from autan.accounts.oidc_settings import OidcSettings
from autan.connectors.crypto import CredentialBox
from autan.connectors.exchange import ACCESS_TOKEN, GRANT, TokenState
from autan.connectors.models import DriveConnection
from autan.connectors.settings import ConnectorSettings
from autan.core.db import create_engine, session_factory
from autan.llm.config import ModelsConfig
from autan.settings import Settings
from autan.suitedocs.tokens import DOCS_TOKEN_COOKIE, seal
from tests.conftest import make_settings, serve_autan
from tests.connectors.test_drive_sync import names, sync_now, wait_sync, write
from tests.support.exchange_provider import ExchangeProvider
from tests.support.rag import FICHE_MD, new_collection
from tests.support.webdav_server import DavServer

pytestmark = pytest.mark.slow


def exchange_settings(settings: Settings, provider: ExchangeProvider, dav: DavServer) -> Settings:
    connectors = ConnectorSettings(
        allowed_hosts=dav.host,
        poll_interval=0.1,
        token_exchange=True,
        exchange_audience=provider.audience,
        exchange_scope="openid items",
    )
    oidc = OidcSettings(
        enabled=True,
        issuer=provider.issuer,
        client_id=provider.client_id,
        client_secret=provider.client_secret,
    )
    documents = settings.documents.model_copy(update={"poll_interval": 0.2})
    return settings.model_copy(
        update={"connectors": connectors, "oidc": oidc, "documents": documents}
    )


class Stored:
    """The connection's row as the database holds it, opened with the server's key."""

    def __init__(self, settings: Settings, drive: str) -> None:
        self.url = settings.resolved_database_url
        self.box = CredentialBox(settings.resolved_secret_key())
        self.drive = uuid.UUID(drive)

    async def secret(self) -> str:
        engine = create_engine(self.url)
        try:
            async with session_factory(engine)() as session:
                query = select(DriveConnection.secret).where(DriveConnection.id == self.drive)
                return str(await session.scalar(query))
        finally:
            await engine.dispose()

    async def state(self) -> TokenState:
        return TokenState.loads(self.box.open(await self.secret()))

    async def expire(self) -> None:
        """The drive's token reaches its end (as time passing would make it)."""
        state = await self.state()
        ended = TokenState(state.subject, state.subject_expires, state.access, 1.0, state.refresh)
        engine = create_engine(self.url)
        try:
            async with session_factory(engine)() as session:
                await session.execute(
                    update(DriveConnection)
                    .where(DriveConnection.id == self.drive)
                    .values(secret=self.box.seal(ended.dumps()))
                )
                await session.commit()
        finally:
            await engine.dispose()


async def sign_in_cookie(settings: Settings, token: str, email: str) -> str:
    """The encrypted cookie a ProConnect sign-in leaves with the person's access token."""
    engine = create_engine(settings.resolved_database_url)
    try:
        async with session_factory(engine)() as session:
            user_id = await session.scalar(select(User.id).where(User.email == email))
    finally:
        await engine.dispose()
    assert user_id is not None
    return seal(settings.resolved_secret_key(), token, time.time() + 3600, user_id)


def drive_requests(provider: ExchangeProvider) -> list[dict[str, str]]:
    return [r for r in provider.requests if "grant_type" in r]


async def test_suite_drive_through_token_exchange(
    tmp_path: Path, database_url: str, embedded_models: ModelsConfig
) -> None:
    root = tmp_path / "fichiers"
    write(root / "carte.md", FICHE_MD, 1_000)
    provider = ExchangeProvider(subjects={"proconnect-at-1"})
    await provider.start()
    try:
        with DavServer(root, bearer=lambda token: token in provider.issued) as dav:
            base = make_settings(tmp_path, database_url, embedded_models)
            settings = exchange_settings(base, provider, dav)
            async with serve_autan(settings) as autan, autan.client() as client:
                await _journey(client, settings, provider, dav, root)
    finally:
        await provider.stop()


async def _journey(
    client: httpx.AsyncClient,
    settings: Settings,
    provider: ExchangeProvider,
    dav: DavServer,
    root: Path,
) -> None:
    collection = await new_collection(client)
    folder: dict[str, Any] = {"collection_id": collection, "url": dav.url, "auth": "oidc"}

    # Not signed in with ProConnect: told so in plain words, nothing stored.
    missing = await client.post("/api/drives", json=folder)
    assert missing.status_code == 400, missing.text
    assert missing.json()["error"]["code"] == "drive_no_suite_token"
    assert "sign in with ProConnect" in missing.json()["error"]["message"]
    assert provider.requests == []

    cookie = await sign_in_cookie(settings, "proconnect-at-1", "agent@example.org")
    client.cookies.set(DOCS_TOKEN_COOKIE, cookie)
    made = await client.post("/api/drives", json=folder)
    assert made.status_code == 201, made.text
    drive = made.json()["id"]
    assert made.json()["auth"] == "oidc" and made.json()["username"] == "agent@example.org"

    # The exchange as RFC 8693 writes it (the provider checked the client's Basic auth).
    [exchange] = drive_requests(provider)
    assert exchange == {
        "grant_type": GRANT,
        "subject_token": "proconnect-at-1",
        "subject_token_type": ACCESS_TOKEN,
        "requested_token_type": ACCESS_TOKEN,
        "audience": "drive",
        "scope": "openid items",
    }

    # The first sync: every request to the drive carries the one exchanged token (cached).
    state = await wait_sync(client, drive, None)
    assert state["last_outcome"] == "ok" and state["files"]["added"] == 1, state
    assert await names(client, collection) == ["carte.md"]
    assert set(dav.tokens_seen) == {"drive-token-1"} and len(dav.tokens_seen) > 2
    assert len(drive_requests(provider)) == 1

    # Stored encrypted: neither the person's token nor the drive's appears in clear.
    stored = Stored(settings, drive)
    secret = await stored.secret()
    assert secret.startswith("gAAAA")
    for clear in ("proconnect-at-1", "drive-token-1", "refresh-1"):
        assert clear not in secret
    assert (await stored.state()).access == "drive-token-1"

    # About to end: renewed by the refresh token, and the renewed one is kept sealed.
    await stored.expire()
    write(root / "agenda.md", "# Agenda\n\nConseil municipal le 12 mars.", 2_000)
    state = await sync_now(client, drive)
    assert state["last_outcome"] == "ok" and state["files"]["added"] == 1, state
    renewal = drive_requests(provider)[-1]
    assert renewal == {"grant_type": "refresh_token", "refresh_token": "refresh-1"}
    assert dav.tokens_seen[-1] == "drive-token-2"
    assert (await stored.state()).access == "drive-token-2"

    # The session ended at the provider: refresh and exchange are refused (invalid_grant),
    # the sync stops and says to reconnect; the schedule leaves it alone.
    provider.end_session()
    await stored.expire()
    before = state["syncs"]
    state = await sync_now(client, drive)
    assert state["syncs"] == before + 1
    assert state["last_outcome"] == "failed" and state["status"] == "expired", state
    assert "reconnect the folder" in state["last_error"]
    assert "invalid_grant" in state["last_error"]
    assert [r["grant_type"] for r in drive_requests(provider)[-2:]] == ["refresh_token", GRANT]
    refused = await client.post(f"/api/drives/{drive}/sync")
    assert refused.json()["error"]["code"] == "drive_reconnect", refused.text
    assert await names(client, collection) == ["agenda.md", "carte.md"]  # documents kept

    # Reconnecting needs a sign-in the provider honours: the old one is refused...
    again = await client.post(f"/api/drives/{drive}/reconnect", json={})
    assert again.json()["error"]["code"] == "drive_reconnect", again.text
    # ...a new ProConnect sign-in is exchanged and syncs start again.
    provider.subjects.add("proconnect-at-2")
    client.cookies.set(
        DOCS_TOKEN_COOKIE, await sign_in_cookie(settings, "proconnect-at-2", "agent@example.org")
    )
    again = await client.post(f"/api/drives/{drive}/reconnect", json={})
    assert again.status_code == 200 and again.json()["status"] == "active", again.text
    state = await wait_sync(client, drive, state["syncs"])
    assert state["last_outcome"] == "ok" and state["status"] == "active", state
    assert drive_requests(provider)[-1]["subject_token"] == "proconnect-at-2"
    assert dav.tokens_seen[-1] in provider.issued


def test_token_state_sealed_round_trip_and_renewal_margin() -> None:
    """What is sealed reads back; garbage is "connect again", never a crash of the schedule;
    a token is renewed `exchange_margin` seconds before its end, not after."""
    from autan.connectors.errors import CredentialUnreadable
    from autan.connectors.exchange import TokenExchange

    state = TokenState("subject", 2_000.0, "access", 1_000.0, "refresh")
    assert TokenState.loads(state.dumps()) == state
    with pytest.raises(CredentialUnreadable):
        TokenState.loads('{"subject": "s"}')
    exchange = TokenExchange(
        None,  # type: ignore[arg-type]  # no request is made
        OidcSettings(),
        ConnectorSettings(exchange_margin=120),
    )
    assert exchange.fresh(state, now=879.0)
    assert not exchange.fresh(state, now=881.0)
    assert exchange.fresh(TokenState("s", 0.0, "a", 0.0), now=10**12)  # no end given
