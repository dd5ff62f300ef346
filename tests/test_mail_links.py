"""Links by e-mail through a real SMTP server on loopback: forgot password, invitations,
a server that is down."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select

from autan.accounts.models import AuditEvent
from tests.conftest import free_port
from tests.support.smtp import Mailbox, body, mailbox
from tests.support.web import PEOPLE, Site, hidden, run_site, sign_in
from tests.test_people import NEW_PASSWORD, in_db, link_of, set_password

__all__ = ["mailbox"]  # the fixture, imported to be found


@pytest.fixture
async def site(tmp_path: Path, database_url: str, mailbox: Mailbox) -> AsyncIterator[Site]:
    async with run_site(tmp_path, database_url, mail=mailbox.settings()) as running:
        yield running


async def ask_reset(browser: httpx.AsyncClient, email: str) -> httpx.Response:
    page = await browser.get("/auth/forgot")
    assert page.status_code == 200
    return await browser.post(
        "/auth/forgot", data={"form_token": hidden(page.text, "form_token"), "email": email}
    )


def link_in(text: str) -> str:
    found = re.search(r"http://autan\.test(/auth/link/[A-Za-z0-9_-]+)", text)
    assert found, text
    return found.group(1)


async def test_forgot_password_sends_a_link_and_answers_alike(site: Site, mailbox: Mailbox) -> None:
    member = PEOPLE["member_a"][0]
    async with site.browser() as browser:
        login = await browser.get("/login")
        assert 'href="/auth/forgot"' in login.text and "Mot de passe oublié ?" in login.text
        known = await ask_reset(browser, member.upper())
        unknown = await ask_reset(browser, "personne@agriculture.gouv.fr")
    assert known.status_code == unknown.status_code == 200
    # The same words for an address with an account and one without.
    assert known.text.replace(member.upper(), "X") == unknown.text.replace(
        "personne@agriculture.gouv.fr", "X"
    )
    [message] = await mailbox.wait_for(1)
    assert message["To"] == member and message["Subject"] == "Votre mot de passe sur Autan"
    text, html = body(message, "plain"), body(message, "html")
    assert "Choisir un nouveau mot de passe" in text and "Choisir un nouveau mot de passe" in html
    path = link_in(text)
    assert f'href="http://autan.test{path}"' in html
    async with site.browser() as browser:
        done = await set_password(browser, path, NEW_PASSWORD)
        assert done.status_code == 303
        assert (await sign_in(browser, member, NEW_PASSWORD)).status_code == 303
    events = await in_db(
        site, select(AuditEvent).where(AuditEvent.action == "reset_link_requested")
    )
    assert [e.target for e in events if isinstance(e, AuditEvent)] == [member]
    assert len(mailbox.messages) == 1  # nothing was sent for the unknown address


async def test_the_reset_email_speaks_the_language_of_the_page(
    site: Site, mailbox: Mailbox
) -> None:
    async with site.browser() as browser:
        browser.cookies.set("lang", "en")
        answer = await ask_reset(browser, PEOPLE["member_a"][0])
        assert "a link to choose a new password is on its way" in answer.text
    [message] = await mailbox.wait_for(1)
    assert message["Subject"] == "Your password on Autan"
    assert "Choose a new password" in body(message, "plain")


async def test_forgot_password_is_throttled(site: Site, mailbox: Mailbox) -> None:
    statuses = []
    async with site.browser() as browser:
        for _ in range(6):
            statuses.append((await ask_reset(browser, PEOPLE["member_a"][0])).status_code)
        refused = await ask_reset(browser, PEOPLE["member_a"][0])
    assert statuses[:3] == [200, 200, 200] and 429 in statuses + [refused.status_code]
    assert len(mailbox.messages) < 7


async def test_a_referent_invites_by_email(site: Site, mailbox: Mailbox) -> None:
    async with site.signed_in("ref_a") as referent:
        form = await referent.get("/admin/orgs/agri/invite")
        assert "Envoyer aussi le lien par e-mail" in form.text
        created = await referent.post(
            "/admin/orgs/agri/invite",
            data={
                "csrf_token": hidden(form.text, "csrf_token"),
                "email": "iris@agriculture.gouv.fr",
                "name": "Iris",
                "send_mail": "on",
                "mail_lang": "en",
                "mail_offered": "on",
            },
        )
        assert created.status_code == 201
        assert "Le lien a été envoyé par e-mail à iris@agriculture.gouv.fr" in created.text
    [message] = await mailbox.wait_for(1)
    assert message["Subject"] == "Your invitation to Autan"
    text = body(message, "plain")
    assert "Hello Iris," in text and "assistant of agri" in text
    async with site.browser() as newcomer:
        assert (await set_password(newcomer, link_in(text), NEW_PASSWORD)).status_code == 303


@pytest.fixture
async def site_without_smtp(tmp_path: Path, sqlite_databases: object) -> AsyncIterator[Site]:
    database_url: str = sqlite_databases.new()  # type: ignore[attr-defined]
    # Nothing listens on a port the OS just handed out and took back: the server is down.
    down = Mailbox(port=free_port()).settings(timeout_seconds=5)
    async with run_site(tmp_path, database_url, mail=down) as running:
        yield running


async def test_a_server_that_is_down_is_said_and_the_link_still_works(
    site_without_smtp: Site,
) -> None:
    site = site_without_smtp
    async with site.signed_in("ref_a") as referent:
        form = await referent.get("/admin/orgs/agri/invite")
        created = await referent.post(
            "/admin/orgs/agri/invite",
            data={
                "csrf_token": hidden(form.text, "csrf_token"),
                "email": "iris@agriculture.gouv.fr",
                "send_mail": "on",
            },
        )
        assert created.status_code == 201
        assert "n&#39;a pas pu être envoyé" in created.text
        path = link_of(created.text)
    async with site.browser() as newcomer:
        assert (await set_password(newcomer, path, NEW_PASSWORD)).status_code == 303
        # Asking for a reset still answers as usual: the failure is only logged.
        answer = await ask_reset(newcomer, "iris@agriculture.gouv.fr")
        assert answer.status_code == 200


async def test_without_smtp_there_is_no_forgot_page(
    tmp_path: Path, sqlite_databases: object
) -> None:
    database_url: str = sqlite_databases.new()  # type: ignore[attr-defined]
    async with run_site(tmp_path, database_url) as site, site.browser() as browser:
        assert (await browser.get("/auth/forgot")).status_code == 404
        login = await browser.get("/login")
        assert "/auth/forgot" not in login.text and "référent IA" in login.text
