"""The WebDAV share of the drive journeys in the browser, and a site allowed to reach it."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from autan.llm.config import ModelsConfig
from tests.connectors.drive_journeys import APP_PASSWORD, share
from tests.support.web import Site, run_site
from tests.support.webdav_server import DavServer


@pytest.fixture
def share_server(tmp_path: Path) -> Iterator[DavServer]:
    with DavServer(share(tmp_path), APP_PASSWORD) as server:
        yield server


@pytest.fixture
async def share_site(
    tmp_path: Path, sqlite_databases: object, embedded_models: ModelsConfig, share_server: DavServer
) -> AsyncIterator[Site]:
    database_url: str = sqlite_databases.new()  # type: ignore[attr-defined]
    connectors = {"allowed_hosts": share_server.host, "poll_interval": 0.2}
    async with run_site(tmp_path, database_url, embedded_models, connectors=connectors) as running:
        yield running
