"""Joining in a real browser: an invitation handed over by a referent, a sign-up with an
access code, and the referent reading both in the audit log and exporting it."""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from playwright.async_api import Browser, BrowserContext, Page, ViewportSize

from autan.accounts import codes, repository
from autan.core.db import create_engine, session_factory
from tests.support.browser import screenshot_folder, serious_violations
from tests.support.web import PASSWORD, PEOPLE, Site, run_site

pytestmark = pytest.mark.slow

SIZES = {
    "desktop": ViewportSize(width=1440, height=900),
    "phone": ViewportSize(width=375, height=812),
}
NEW_PASSWORD = "trois petits chats blancs"


@pytest.fixture
async def site(tmp_path: Path, sqlite_databases: object) -> AsyncIterator[Site]:
    database_url: str = sqlite_databases.new()  # type: ignore[attr-defined]
    async with run_site(tmp_path, database_url) as running:
        yield running


async def access_code(site: Site) -> str:
    engine = create_engine(site.autan.settings.resolved_database_url)
    try:
        async with session_factory(engine)() as session:
            org = await repository.org_by_slug(session, "agri")
            assert org is not None
            secret = site.autan.settings.resolved_secret_key()
            created = await codes.create_code(session, secret, org=org, creator=None)
            return created.code
    finally:
        await engine.dispose()


async def check(page: Page, name: str, folder: Path) -> None:
    """No serious axe-core violation, no sideways scrolling; desktop and phone screenshots."""
    for label, size in SIZES.items():
        await page.set_viewport_size(size)
        assert await serious_violations(page) == [], f"{name} at {label}"
        overflow = await page.evaluate(
            "() => document.documentElement.scrollWidth - document.documentElement.clientWidth"
        )
        assert overflow <= 0, f"{name} scrolls sideways at {size['width']} px"
        await page.screenshot(path=str(folder / f"{name}-{label}.png"), full_page=True)
    await page.set_viewport_size(SIZES["desktop"])


async def new_page(browser: Browser, errors: list[str]) -> tuple[BrowserContext, Page]:
    # axe-core is injected as an inline script, which the pages' CSP would refuse.
    context = await browser.new_context(
        viewport=SIZES["desktop"], locale="fr-FR", bypass_csp=True, accept_downloads=True
    )
    page = await context.new_page()
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    return context, page


async def sign_in(page: Page, base: str, email: str, password: str) -> None:
    await page.goto(f"{base}/login")
    await page.get_by_label("Adresse électronique").fill(email)
    await page.get_by_label("Mot de passe").fill(password)
    await page.get_by_role("button", name="Se connecter").click()


async def accept_charter(page: Page, base: str) -> None:
    await page.wait_for_url(f"{base}/charter**")
    await page.get_by_label("J'ai lu la charte d'utilisation").check()
    await page.get_by_role("button", name="Accepter et continuer").click()
    await page.wait_for_url(f"{base}/")


async def test_invite_sign_up_and_read_the_audit_log(
    site: Site, browser: Browser, tmp_path: Path
) -> None:
    folder = screenshot_folder(tmp_path)
    base = site.autan.base_url
    errors: list[str] = []
    code = await access_code(site)

    # A referent invites a person and copies the one-time link.
    ref_context, referent = await new_page(browser, errors)
    await sign_in(referent, base, PEOPLE["ref_a"][0], PASSWORD)
    await referent.wait_for_url(f"{base}/")
    await referent.goto(f"{base}/admin/orgs/agri/users")
    await referent.get_by_role("link", name="Inviter une personne").click()
    await referent.wait_for_url(f"{base}/admin/orgs/agri/invite")
    await check(referent, "people-invite", folder)
    await referent.get_by_label("Adresse électronique").fill("iris@agriculture.gouv.fr")
    await referent.get_by_label("Prénom et nom").fill("Iris Invitée")
    await referent.get_by_label("Rôle").select_option("member")
    await referent.get_by_role("button", name="Créer l'invitation").click()
    link = referent.locator("#new-link")
    await link.wait_for()
    url = (await link.text_content() or "").strip()
    assert url.startswith(f"{base}/auth/link/")
    await check(referent, "people-link-created", folder)

    # The person opens the link, chooses a password, signs in, accepts the charter.
    new_context, newcomer = await new_page(browser, errors)
    await newcomer.goto(url)
    await newcomer.get_by_role("heading", name="Terminer la création de votre compte").wait_for()
    await check(newcomer, "people-set-password", folder)
    await newcomer.get_by_label("Mot de passe", exact=True).fill(NEW_PASSWORD)
    await newcomer.get_by_label("Le même mot de passe, une seconde fois").fill("pas le même")
    await newcomer.get_by_role("button", name="Enregistrer mon mot de passe").click()
    await newcomer.get_by_text("Les deux mots de passe ne sont pas identiques.").wait_for()
    await newcomer.get_by_label("Mot de passe", exact=True).fill(NEW_PASSWORD)
    await newcomer.get_by_label("Le même mot de passe, une seconde fois").fill(NEW_PASSWORD)
    await newcomer.get_by_role("button", name="Enregistrer mon mot de passe").click()
    await newcomer.wait_for_url(f"{base}/login?password=set")
    await newcomer.get_by_text("Votre mot de passe est enregistré").wait_for()
    await sign_in(newcomer, base, "iris@agriculture.gouv.fr", NEW_PASSWORD)
    await accept_charter(newcomer, base)
    await new_context.close()

    # Another person joins with an access code, from the sign-in page.
    join_context, joiner = await new_page(browser, errors)
    await joiner.goto(f"{base}/login")
    await joiner.get_by_role("link", name="Créer un compte").click()
    await joiner.wait_for_url(f"{base}/auth/signup")
    await check(joiner, "people-signup", folder)
    await joiner.get_by_label("Adresse électronique").fill("jules@agriculture.gouv.fr")
    await joiner.get_by_label("Prénom et nom").fill("Jules Nouveau")
    await joiner.get_by_label("Mot de passe").fill(NEW_PASSWORD)
    await joiner.get_by_label("Code d'accès").fill("FAUX-CODE-0000-0000")
    await joiner.get_by_role("button", name="Créer mon compte").click()
    await joiner.get_by_role("alert").wait_for()
    # What was typed is kept, except the password.
    assert await joiner.get_by_label("Prénom et nom").input_value() == "Jules Nouveau"
    assert await joiner.get_by_label("Mot de passe").input_value() == ""
    await check(joiner, "people-signup-error", folder)
    await joiner.get_by_label("Mot de passe").fill(NEW_PASSWORD)
    await joiner.get_by_label("Code d'accès").fill(code.lower())
    await joiner.get_by_role("button", name="Créer mon compte").click()
    await accept_charter(joiner, base)
    await join_context.close()

    # The referent reads both in the audit log, filters and exports it.
    await referent.goto(f"{base}/admin/orgs/agri/audit")
    rows = referent.locator("tbody tr")
    text = await referent.locator("tbody").inner_text()
    assert "Invitation acceptée" in text and "Iris Invitée <iris@agriculture.gouv.fr>" in text
    assert "Inscription avec un code d'accès" in text and "Jules Nouveau" in text
    # The code was made by the command line, without a label: named in words, not by its id.
    assert "système" in text and "un code d'accès sans libellé" in text
    await check(referent, "people-audit", folder)
    await referent.get_by_label("Action").select_option(label="Inscription avec un code d'accès")
    await referent.get_by_role("button", name="Filtrer").click()
    await referent.wait_for_url("**/audit?action=signed_up**")
    assert await rows.count() == 1
    async with referent.expect_download() as download_info:
        await referent.get_by_role("link", name="Exporter en CSV").click()
    download = await download_info.value
    saved = tmp_path / "audit.csv"
    await download.save_as(saved)
    table = list(csv.reader(io.StringIO(saved.read_text(encoding="utf-8-sig"))))
    assert table[0][:3] == ["Date", "Auteur", "Action"]
    assert [row[2] for row in table[1:]] == ["Inscription avec un code d'accès"]
    assert table[1][3] == "jules@agriculture.gouv.fr"
    await ref_context.close()
    assert errors == []
