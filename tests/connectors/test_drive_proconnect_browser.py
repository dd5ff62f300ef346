"""The Suite's drive connected with ProConnect in a real browser (French): no password, the
sync state, the session that ends at the provider and "Reconnecter avec ProConnect".

Real parts on loopback: the RFC 8693 token endpoint of tests/support/exchange_provider.py,
wsgidav behind its bearer check, the real server and embedded models; axe-core on each page.
The browser carries the encrypted cookie a ProConnect sign-in leaves (the sign-in itself is
covered by tests/suitedocs/test_docs_oidc.py against a real OIDC provider).
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from playwright.async_api import Browser

from autan.llm.config import ModelsConfig
from autan.suitedocs.tokens import DOCS_TOKEN_COOKIE
from tests.connectors.drive_journeys import SIZES, check
from tests.connectors.test_drive_exchange import Stored, sign_in_cookie
from tests.support.browser import screenshot_folder
from tests.support.exchange_provider import ExchangeProvider
from tests.support.rag import FICHE_MD
from tests.support.web import PASSWORD, PEOPLE, Site, run_site
from tests.support.webdav_server import DavServer

pytestmark = pytest.mark.slow


@pytest.fixture
async def provider() -> AsyncIterator[ExchangeProvider]:
    running = ExchangeProvider(subjects={"proconnect-at-1"})
    await running.start()
    yield running
    await running.stop()


@pytest.fixture
def drive(tmp_path: Path, provider: ExchangeProvider) -> Iterator[DavServer]:
    root = tmp_path / "Fichiers"
    root.mkdir()
    (root / "carte-identite.md").write_text(FICHE_MD, encoding="utf-8")
    with DavServer(root, bearer=lambda token: token in provider.issued) as server:
        yield server


@pytest.fixture
async def site(
    tmp_path: Path,
    sqlite_databases: object,
    embedded_models: ModelsConfig,
    drive: DavServer,
    provider: ExchangeProvider,
) -> AsyncIterator[Site]:
    database_url: str = sqlite_databases.new()  # type: ignore[attr-defined]
    connectors = {
        "allowed_hosts": drive.host,
        "poll_interval": 0.2,
        "token_exchange": True,
        "exchange_audience": provider.audience,
    }
    oidc = {
        "enabled": True,
        "issuer": provider.issuer,
        "client_id": provider.client_id,
        "client_secret": provider.client_secret,
    }
    async with run_site(
        tmp_path, database_url, embedded_models, connectors=connectors, oidc=oidc
    ) as running:
        yield running


async def test_a_member_connects_the_suite_drive_with_proconnect(
    site: Site, browser: Browser, drive: DavServer, provider: ExchangeProvider, tmp_path: Path
) -> None:
    folder = screenshot_folder(tmp_path)
    base = site.autan.base_url
    settings = site.autan.settings
    email = PEOPLE["member_a"][0]
    problems: list[str] = []
    context = await browser.new_context(viewport=SIZES["desktop"], locale="fr-FR", bypass_csp=True)
    page = await context.new_page()
    page.on("pageerror", lambda e: problems.append(str(e)))
    page.set_default_timeout(120_000)
    await page.goto(f"{base}/login")
    await page.get_by_label("Adresse électronique").fill(email)
    await page.get_by_label("Mot de passe").fill(PASSWORD)
    await page.get_by_role("button", name="Se connecter", exact=True).click()
    await page.wait_for_url(f"{base}/")

    async def signed_in_with(token: str) -> None:
        cookie = await sign_in_cookie(settings, token, email)
        await context.add_cookies([{"name": DOCS_TOKEN_COOKIE, "value": cookie, "url": base}])

    await signed_in_with("proconnect-at-1")
    await page.goto(f"{base}/collections")
    await page.get_by_label("Nom").fill("Fichiers du service")
    await page.get_by_role("button", name="Créer la collection").click()
    await page.wait_for_url(re.compile(r".*/collections/[0-9a-f-]{36}$"))
    collection_url = page.url
    await page.get_by_role("link", name="Connecter un dossier de drive").click()
    await page.wait_for_url(f"{collection_url}/drive")

    # Only the folder's address: no user name, no password.
    await page.get_by_label("Adresse du dossier (WebDAV)").fill(drive.url)
    button = page.get_by_role("button", name="Connecter avec ProConnect (sans mot de passe)")
    await button.wait_for()
    await check(page, "drive-connect-proconnect", folder)
    await button.click()
    await page.wait_for_url(re.compile(r".*\?done=drive$"))
    state = page.locator("#drive-state")
    await state.get_by_text("À jour", exact=True).wait_for()
    assert "1 ajouté" in await state.inner_text()

    # The session ends at the provider and the drive's token reaches its end: the next
    # sync stops and says so, with the way back.
    provider.end_session()
    drive_id = re.search(r"/drives/([0-9a-f-]{36})/", await state.inner_html())
    assert drive_id is not None
    await Stored(settings, drive_id.group(1)).expire()
    await state.get_by_role("button", name="Synchroniser maintenant").click()
    await page.wait_for_url(re.compile(r".*\?done=sync$"))
    stopped = state.get_by_text("Les synchronisations sont arrêtées : reconnectez le dossier.")
    await stopped.wait_for()
    await state.get_by_role("button", name="Reconnecter avec ProConnect").wait_for()
    text = await state.inner_text()
    assert "Reconnectez-vous avec ProConnect" in text, text
    assert await state.get_by_role("button", name="Synchroniser maintenant").count() == 0
    await check(page, "drive-reconnect", folder)

    # A new ProConnect sign-in, and one click: the folder syncs again.
    provider.subjects.add("proconnect-at-2")
    await signed_in_with("proconnect-at-2")
    await state.get_by_role("button", name="Reconnecter avec ProConnect").click()
    await page.wait_for_url(re.compile(r".*\?done=sync$"))
    await state.get_by_text("À jour", exact=True).wait_for()
    assert await stopped.count() == 0
    assert problems == []
    await context.close()
