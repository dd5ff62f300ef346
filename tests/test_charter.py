"""The usage charter: accepted at first sign-in and after each change; the API is not affected."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import event, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from autan.accounts import charter
from autan.accounts import service as accounts
from autan.accounts.charter_gate import CharterGate
from autan.accounts.models import AuditEvent, Organisation, Role, User
from tests.support.library import database, principal_of, user_by_email
from tests.support.web import PEOPLE, Site, hidden, run_site

Factory = async_sessionmaker[AsyncSession]


def test_the_default_charter_states_the_rules_in_both_languages() -> None:
    french, english = charter.DEFAULT_CHARTER["fr"], charter.DEFAULT_CHARTER["en"]
    for rule in (
        "évaluation des agents",
        "notation d'élèves",
        "Diffusion restreinte",
        "secret de la défense",
        "base légale",
        "peut se tromper",
        "n'engagent pas l'administration",
    ):
        assert rule in french, rule
    for rule in ("evaluation of staff", "grading", "Diffusion restreinte", "legal basis"):
        assert rule in english, rule
    html = charter.render_html(french)
    assert html.startswith("<h2>") and "<li><strong>" in html


def test_the_charter_is_rendered_safely() -> None:
    html = charter.render_html(
        "## Titre\n\n<script>alert(1)</script> <img src=x onerror=alert(1)>\n\n"
        "[clic](javascript:alert(1)) [site](https://www.numerique.gouv.fr) **gras**"
    )
    assert "<script" not in html and "<img" not in html and "onerror=alert(1)>" not in html
    assert "&lt;script&gt;" in html  # shown as text
    assert 'href="javascript' not in html
    assert '<a href="https://www.numerique.gouv.fr"' in html and "<strong>gras</strong>" in html


async def test_accepting_and_changing_the_charter(session_maker: Factory) -> None:
    async with session_maker() as session:
        user = await accounts.create_user(session, "a@agri.fr", org_slug="agri")
        referent = await accounts.create_user(
            session, "r@agri.fr", role=Role.REFERENT, org_slug="agri"
        )
        me = principal_of(user)
        view = await charter.charter_for(session, me, "en")
        assert view.version == 1 and view.is_default and not view.accepted
        assert view.text == charter.DEFAULT_CHARTER["en"]
        assert not await charter.accept(session, me, 2, "192.0.2.1")  # not the version shown
        assert await charter.accept(session, me, 1, "192.0.2.1")
        view = await charter.charter_for(session, me, "fr")
        assert view.accepted and view.accepted_at is not None
        org = await session.get(Organisation, user.org_id)
        assert org is not None
        version = await charter.update_charter(
            session, org, "## Notre charte\n\nSoyez prudents.", principal_of(referent)
        )
        assert version == 2
        view = await charter.charter_for(session, me, "en")
        assert view.text.startswith("## Notre charte") and not view.is_default
        assert view.accepted_version == 1 and not view.accepted
        assert await charter.update_charter(session, org, "  ", principal_of(referent)) == 3
        assert (await charter.charter_for(session, me, "fr")).is_default
        events = list(await session.scalars(select(AuditEvent).order_by(AuditEvent.id)))
        assert [(e.action, e.details["version"]) for e in events[-3:]] == [
            ("charter_accepted", 1),
            ("charter_updated", 2),
            ("charter_updated", 3),
        ]
        assert events[-3].actor_id == user.id and events[-3].ip == "192.0.2.1"
        with pytest.raises(charter.CharterTooLong):
            await charter.update_charter(session, org, "x" * 20_001, principal_of(referent))


async def test_the_gate_reads_the_database_once_per_ttl_not_per_request(
    session_maker: Factory,
) -> None:
    async with session_maker() as session:
        user = await accounts.create_user(session, "a@agri.fr", org_slug="agri")
    me = principal_of(user)
    engine = session_maker.kw["bind"]
    statements: list[str] = []
    listener = lambda *args: statements.append(args[2])  # noqa: E731
    event.listen(engine.sync_engine, "before_cursor_execute", listener)
    try:
        gate = CharterGate(session_maker, ttl=60)
        assert [await gate.accepted(me) for _ in range(50)] == [False] * 50
        assert len(statements) == 2  # the user's accepted version, the organisation's version
        async with session_maker() as session:
            assert await charter.accept(session, me, 1)
        gate.forget_user(me.user_id)
        before = len(statements)
        assert [await gate.accepted(me) for _ in range(50)] == [True] * 50
        assert len(statements) == before + 1  # only the forgotten entry is read again
    finally:
        event.remove(engine.sync_engine, "before_cursor_execute", listener)


# -- Pages ----------------------------------------------------------------------------------


@pytest.fixture
async def site(tmp_path: Path, sqlite_databases: object) -> AsyncIterator[Site]:
    database_url: str = sqlite_databases.new()  # type: ignore[attr-defined]
    async with run_site(tmp_path, database_url, accept_charter=False) as running:
        yield running


async def accepted_version(site: Site, who: str) -> int | None:
    async with database(site) as session:
        user: User = await user_by_email(session, PEOPLE[who][0])
        return user.charter_accepted_version


async def test_pages_wait_for_the_charter_but_the_api_does_not(site: Site) -> None:
    async with site.signed_in("member_a") as browser:
        home = await browser.get("/")
        assert home.status_code == 303 and home.headers["location"] == "/charter"
        keys = await browser.get("/settings/keys")
        assert keys.headers["location"] == "/charter?next=/settings/keys"
        assert (await browser.get("/prompts")).headers["location"] == "/charter?next=/prompts"
        page = await browser.get("/charter", params={"next": "/settings/keys"})
        assert page.status_code == 200
        assert "Charte d&#39;utilisation" in page.text or "Charte d'utilisation" in page.text
        assert "Diffusion restreinte" in page.text and 'for="accept"' in page.text
        csrf = hidden(page.text, "csrf_token")
        # Posting without the CSRF token, or with another site as the target, is refused.
        assert (await browser.post("/charter", data={"accept": "on"})).status_code == 403
        unticked = await browser.post(
            "/charter", data={"csrf_token": csrf, "version": "1", "next": "/settings/keys"}
        )
        assert unticked.status_code == 400 and 'role="alert"' in unticked.text
        assert (
            "Cochez la case" in unticked.text and 'aria-describedby="form-error"' in unticked.text
        )
        assert await accepted_version(site, "member_a") is None
        accepted = await browser.post(
            "/charter",
            data={"csrf_token": csrf, "version": "1", "accept": "on", "next": "//evil.example"},
        )
        assert accepted.status_code == 303 and accepted.headers["location"] == "/"
        assert await accepted_version(site, "member_a") == 1
        assert (await browser.get("/settings/keys")).status_code == 200
        again = await browser.get("/charter")
        assert (
            "Vous avez accepté cette charte le" in again.text and 'name="accept"' not in again.text
        )
    # API keys are never asked to accept anything.
    async with site.autan.client() as api:
        assert (await api.get("/v1/models")).status_code == 200
    # Signing out works before accepting.
    async with site.signed_in("member_a") as other:
        await other.get("/charter")
    async with site.signed_in("ref_b") as browser:
        page = await browser.get("/charter")
        out = await browser.post("/logout", data={"csrf_token": hidden(page.text, "csrf_token")})
        assert out.status_code == 303 and out.headers["location"] == "/login"


async def test_a_referent_edits_the_charter_and_everyone_accepts_again(site: Site) -> None:
    async with site.signed_in("member_a") as member:
        page = await member.get("/charter")
        token = hidden(page.text, "csrf_token")
        data = {"csrf_token": token, "version": "1", "accept": "on"}
        assert (await member.post("/charter", data=data)).status_code == 303
        assert (await member.get("/settings/keys")).status_code == 200
        async with site.signed_in("ref_a") as referent:
            csrf = hidden((await referent.get("/charter")).text, "csrf_token")
            await referent.post("/charter", data=data | {"csrf_token": csrf})
            editor = await referent.get("/admin/orgs/agri/charter")
            assert editor.status_code == 200 and "Diffusion restreinte" in editor.text
            assert 'href="/admin/orgs/agri/feedback"' in editor.text
            empty = await referent.post(
                "/admin/orgs/agri/charter", data={"csrf_token": csrf, "text": "   "}
            )
            assert empty.status_code == 400 and 'role="alert"' in empty.text
            text = "## Charte de l'agriculture\n\n<script>alert(1)</script>\n\n- Prudence"
            saved = await referent.post(
                "/admin/orgs/agri/charter", data={"csrf_token": csrf, "text": text}
            )
            assert saved.status_code == 303
            # The referent, too, accepts the new version before going on.
            back = await referent.get("/admin/orgs/agri/charter?saved=1")
            assert back.headers["location"].startswith("/charter")
        # Same process: the member is asked again at once.
        moved = await member.get("/settings/keys")
        assert moved.status_code == 303 and moved.headers["location"].startswith("/charter")
        page = await member.get("/charter")
        assert "Charte de l&#39;agriculture" in page.text or "Charte de l'agriculture" in page.text
        assert "<script>alert(1)</script>" not in page.text and "&lt;script&gt;" in page.text
        assert "La charte a changé depuis que vous l" in page.text
        stale = await member.post("/charter", data=data)  # the version read before the edit
        assert stale.status_code == 400 and "La charte vient de changer" in stale.text
        assert (await member.post("/charter", data=data | {"version": "2"})).status_code == 303
    # Another organisation's charter and the member's access to the editor.
    async with site.signed_in("ref_b") as stranger:
        csrf = hidden((await stranger.get("/charter")).text, "csrf_token")
        assert "Charte de l" not in (await stranger.get("/charter")).text
        assert (await stranger.get("/admin/orgs/agri/charter")).status_code in (303, 404)
        await stranger.post("/charter", data={"csrf_token": csrf, "version": "1", "accept": "on"})
        assert (await stranger.get("/admin/orgs/agri/charter")).status_code == 404
        post = await stranger.post(
            "/admin/orgs/agri/charter", data={"csrf_token": csrf, "text": "pirate"}
        )
        assert post.status_code == 404
    async with site.signed_in("member_a") as member:
        csrf = hidden((await member.get("/charter")).text, "csrf_token")
        assert (await member.get("/admin/orgs/agri/charter")).status_code == 403
        post = await member.post("/admin/orgs/agri/charter", data={"csrf_token": csrf, "text": "x"})
        assert post.status_code == 403
    async with database(site) as session:
        org = await session.scalar(select(Organisation).where(Organisation.slug == "agri"))
        assert org is not None and org.charter_version == 2
        assert org.charter_text is not None and org.charter_text.startswith("## Charte de")
