"""Disabling a person and withdrawing a code ask first, naming them, on a page without JS."""

from __future__ import annotations

import html
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import select, update

from autan.accounts.models import AccessCode, User
from tests.support.web import PEOPLE, Site, hidden, run_site
from tests.test_people import in_db, new_code


@pytest.fixture
async def site(tmp_path: Path, database_url: str) -> AsyncIterator[Site]:
    async with run_site(tmp_path, database_url) as running:
        yield running


async def user_of(site: Site, email: str) -> User:
    rows = await in_db(site, select(User).where(User.email == email))
    assert isinstance(rows[0], User)
    return rows[0]


async def test_disabling_asks_first_with_the_persons_name(site: Site) -> None:
    member = await user_of(site, PEOPLE["member_a"][0])
    await in_db(site, update(User).where(User.id == member.id).values(display_name="Agathe Agent"))
    async with site.signed_in("ref_a") as browser:
        users = await browser.get("/admin/orgs/agri/users", params={"q": "agent"})
        link = f"/admin/orgs/agri/users/{member.id}/disable?q=agent"
        assert f'href="{link}"' in users.text
        csrf = hidden(users.text, "csrf_token")
        # A form posted without the confirmation (an old page, a script) is sent to ask.
        target = f"/admin/orgs/agri/users/{member.id}"
        unconfirmed = await browser.post(
            target, data={"csrf_token": csrf, "is_active": "false", "q": "agent"}
        )
        assert unconfirmed.status_code == 303 and unconfirmed.headers["location"] == link
        assert (await user_of(site, member.email)).is_active
        page = await browser.get(link)
        assert page.status_code == 200
        assert "Désactiver le compte de Agathe Agent ?" in page.text
        assert 'name="confirmed" value="yes"' in page.text
        assert 'href="/admin/orgs/agri/users?q=agent"' in page.text  # cancel keeps the search
        confirmed = await browser.post(
            target,
            data={
                "csrf_token": hidden(page.text, "csrf_token"),
                "is_active": "false",
                "q": "agent",
                "confirmed": "yes",
            },
        )
        assert confirmed.status_code == 303
        assert confirmed.headers["location"] == "/admin/orgs/agri/users?q=agent"
    assert not (await user_of(site, member.email)).is_active


async def test_withdrawing_a_code_asks_first(site: Site) -> None:
    await new_code(site)
    rows = await in_db(site, select(AccessCode))
    assert isinstance(rows[0], AccessCode)
    code_id = rows[0].id
    async with site.signed_in("ref_a") as browser:
        listing = await browser.get("/admin/orgs/agri/codes")
        link = f"/admin/orgs/agri/codes/{code_id}/revoke"
        assert f'href="{link}"' in listing.text
        page = await browser.get(link)
        assert page.status_code == 200
        assert "Retirer le code d'accès « Accueil » ?" in html.unescape(page.text)
        csrf = hidden(page.text, "csrf_token")
        unconfirmed = await browser.post(link, data={"csrf_token": csrf})
        assert unconfirmed.status_code == 303 and unconfirmed.headers["location"] == link
        still = await in_db(site, select(AccessCode.revoked_at))
        assert still == [None]
        done = await browser.post(link, data={"csrf_token": csrf, "confirmed": "yes"})
        assert done.status_code == 303
    assert (await in_db(site, select(AccessCode.revoked_at)))[0] is not None


async def test_confirmation_pages_stay_in_their_organisation(site: Site) -> None:
    member = await user_of(site, PEOPLE["member_a"][0])
    await new_code(site)
    code_id = (await in_db(site, select(AccessCode.id)))[0]
    pages = [
        f"/admin/orgs/agri/users/{member.id}/disable",
        f"/admin/orgs/agri/codes/{code_id}/revoke",
    ]
    async with site.signed_in("ref_b") as stranger:
        for path in pages:
            assert (await stranger.get(path)).status_code == 404, path
        # Their own organisation's pages do not reach agri's people or codes either.
        for path in (
            f"/admin/orgs/culture/users/{member.id}/disable",
            f"/admin/orgs/culture/codes/{code_id}/revoke",
            f"/admin/orgs/culture/users/{uuid.uuid4()}/disable",
        ):
            assert (await stranger.get(path)).status_code == 404, path
    async with site.signed_in("member_a") as member_browser:
        for path in pages:
            assert (await member_browser.get(path)).status_code == 403, path
