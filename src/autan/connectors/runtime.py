"""The connectors' long-lived parts: the drives' HTTP session, the key box, the schedule."""

from __future__ import annotations

from dataclasses import dataclass

import aiohttp
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from autan.accounts.oidc_settings import OidcSettings
from autan.connectors.crypto import CredentialBox
from autan.connectors.exchange import TokenExchange
from autan.connectors.loop import DriveSyncer
from autan.connectors.service import DriveAccess
from autan.connectors.settings import ConnectorSettings
from autan.connectors.sync import DriveSync
from autan.connectors.webdav import WebDav, client_session
from autan.documents.storage import FileStore


@dataclass(frozen=True, slots=True)
class Drives:
    """One per process: what connecting and syncing drives use."""

    http: aiohttp.ClientSession
    access: DriveAccess
    syncer: DriveSyncer
    provider_http: aiohttp.ClientSession

    async def close(self) -> None:
        """Stop the schedule and close the sessions."""
        await self.syncer.stop()
        await self.http.close()
        await self.provider_http.close()


def build_drives(
    factory: async_sessionmaker[AsyncSession],
    store: FileStore,
    settings: ConnectorSettings,
    secret_key: str,
    max_file_bytes: int,
    oidc: OidcSettings | None = None,
) -> Drives:
    """The drives' runtime (the schedule is not started: `drives.syncer.start()`)."""
    http = client_session(settings)
    dav = WebDav(http, settings)
    box = CredentialBox(secret_key)
    # The provider is the deployment's own, named by the administrator: reached directly,
    # not through the drives' address rules.
    provider_http = aiohttp.ClientSession(trust_env=False, cookie_jar=aiohttp.DummyCookieJar())
    exchange = TokenExchange(provider_http, oidc or OidcSettings(), settings)
    access = DriveAccess(dav, box, exchange)
    sync = DriveSync(
        factory,
        store,
        dav,
        box,
        exchange,
        max_bytes=max_file_bytes,
        concurrency=settings.concurrency,
    )
    return Drives(http, access, DriveSyncer(factory, sync, settings), provider_http)
