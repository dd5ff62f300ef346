"""In a real browser: "forgot password" through a real SMTP server, and the confirmation a
referent answers before disabling a person."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from playwright.async_api import Browser

from tests.support.browser import screenshot_folder
from tests.support.smtp import Mailbox, body, mailbox
from tests.support.web import PASSWORD, PEOPLE, Site, run_site
from tests.test_people_browser import NEW_PASSWORD, check, new_page, sign_in

pytestmark = pytest.mark.slow
__all__ = ["mailbox"]  # the fixture, imported to be found


@pytest.fixture
async def site(tmp_path: Path, sqlite_databases: object, mailbox: Mailbox) -> AsyncIterator[Site]:
    database_url: str = sqlite_databases.new()  # type: ignore[attr-defined]
    async with run_site(tmp_path, database_url, mail=mailbox.settings()) as running:
        yield running


async def test_forgot_password_by_email(
    site: Site, browser: Browser, mailbox: Mailbox, tmp_path: Path
) -> None:
    folder = screenshot_folder(tmp_path)
    base = site.autan.base_url
    errors: list[str] = []
    context, page = await new_page(browser, errors)
    await page.goto(f"{base}/login")
    await page.get_by_role("link", name="Mot de passe oublié ?").click()
    await page.wait_for_url(f"{base}/auth/forgot")
    await check(page, "people-forgot", folder)
    await page.get_by_label("Adresse électronique").fill(PEOPLE["member_a"][0])
    await page.get_by_role("button", name="M'envoyer un lien").click()
    await page.get_by_role("status").wait_for()
    await check(page, "people-forgot-sent", folder)
    [message] = await mailbox.wait_for(1)
    found = re.search(r"http://autan\.test(/auth/link/\S+)", body(message, "plain"))
    assert found
    await page.goto(base + found.group(1))
    await page.get_by_label("Mot de passe", exact=True).fill(NEW_PASSWORD)
    await page.get_by_label("Le même mot de passe, une seconde fois").fill(NEW_PASSWORD)
    await page.get_by_role("button", name="Enregistrer mon mot de passe").click()
    await page.wait_for_url(f"{base}/login?password=set")
    await sign_in(page, base, PEOPLE["member_a"][0], NEW_PASSWORD)
    await page.wait_for_url(f"{base}/")
    await context.close()
    assert errors == []


async def test_disabling_asks_first(site: Site, browser: Browser, tmp_path: Path) -> None:
    folder = screenshot_folder(tmp_path)
    base = site.autan.base_url
    errors: list[str] = []
    context, page = await new_page(browser, errors)
    await sign_in(page, base, PEOPLE["ref_a"][0], PASSWORD)
    await page.wait_for_url(f"{base}/")
    await page.goto(f"{base}/admin/orgs/agri/users")
    member = PEOPLE["member_a"][0]
    await page.get_by_role("link", name=f"Désactiver {member}").click()
    question = page.get_by_role("heading", name=f"Désactiver le compte de {member} ?")
    await question.wait_for()
    await check(page, "people-disable-confirm", folder)
    # Cancel first: nothing changes.
    await page.get_by_role("link", name="Annuler").click()
    await page.wait_for_url(f"{base}/admin/orgs/agri/users")
    await page.get_by_role("link", name=f"Désactiver {member}").click()
    await page.get_by_role("button", name="Oui, désactiver le compte").click()
    await page.wait_for_url(f"{base}/admin/orgs/agri/users")
    await page.get_by_role("button", name=f"Réactiver {member}").wait_for()
    await context.close()
    assert errors == []
