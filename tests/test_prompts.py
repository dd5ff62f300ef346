"""The prompt library: built-in templates, private and shared ones, who sees and edits what."""

from __future__ import annotations

import re
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from autan.accounts import service as accounts
from autan.accounts.models import Role
from autan.prompts import service as prompts
from autan.prompts.errors import InvalidPrompt, PromptNotFound, SharingNotAllowed
from autan.prompts.library import BUILTINS, CATEGORIES
from autan.prompts.models import Visibility
from tests.support.library import database, principal_of, user_by_email
from tests.support.web import PEOPLE, Site, hidden, run_site

Factory = async_sessionmaker[AsyncSession]


def test_built_in_templates_follow_the_structure_in_both_languages() -> None:
    assert len(BUILTINS) >= 10
    slugs = {p.slug for p in BUILTINS}
    for needed in ("reformuler-courriel", "compte-rendu-reunion", "note-administrative"):
        assert needed in slugs
    for prompt in BUILTINS:
        assert prompt.category in CATEGORIES
        french, english = prompt.body["fr"], prompt.body["en"]
        for part in ("Rôle", "Objectif", "Contexte", "Consignes"):
            assert part in french, (prompt.slug, part)
        for part in ("Role", "Goal", "Context", "Instructions"):
            assert part in english, (prompt.slug, part)
        assert re.search(r"\[\[[^\]]+\]\]", french) and re.search(r"\[\[[^\]]+\]\]", english)
        # The charter forbids evaluating people; no template invites it.
        assert "évaluation" not in french.lower() and "entretien annuel" not in french.lower()


async def test_private_shared_and_foreign_templates(session_maker: Factory) -> None:
    async with session_maker() as session:
        member = principal_of(await accounts.create_user(session, "a@agri.fr", org_slug="agri"))
        colleague = principal_of(await accounts.create_user(session, "b@agri.fr", org_slug="agri"))
        referent = principal_of(
            await accounts.create_user(session, "r@agri.fr", role=Role.REFERENT, org_slug="agri")
        )
        stranger = principal_of(
            await accounts.create_user(session, "c@culture.fr", role=Role.REFERENT, org_slug="cu")
        )
        mine = await prompts.create_prompt(
            session, member, title="Mon modèle 100%", body="Rôle : [[x]]", category="writing"
        )
        with pytest.raises(SharingNotAllowed):
            await prompts.create_prompt(
                session, member, title="t", body="b", category="other", visibility="organisation"
            )
        shared = await prompts.create_prompt(
            session,
            referent,
            title="Modèle du service",
            body="Consignes",
            category="analysis",
            visibility=Visibility.ORGANISATION,
        )

        def refs(views: list[prompts.PromptView]) -> set[str]:
            return {v.ref for v in views if not v.builtin}

        assert refs(await prompts.list_prompts(session, member, "fr")) == {
            str(mine.id),
            str(shared.id),
        }
        assert refs(await prompts.list_prompts(session, colleague, "fr")) == {str(shared.id)}
        assert refs(await prompts.list_prompts(session, stranger, "fr")) == set()
        # Search: case-insensitive, '%' is a character, not a wildcard; categories filter.
        assert refs(await prompts.list_prompts(session, member, "fr", "100%")) == {str(mine.id)}
        assert refs(await prompts.list_prompts(session, member, "fr", "0%M")) == set()
        assert refs(await prompts.list_prompts(session, member, "fr", "MODÈLE DU")) == {
            str(shared.id)
        }
        writing = await prompts.list_prompts(session, member, "fr", category="writing")
        assert {v.category for v in writing} == {"writing"} and str(mine.id) in refs(writing)
        found = await prompts.list_prompts(session, member, "en", "minutes")
        assert [v.ref for v in found] == ["builtin:compte-rendu-reunion"]

        # Using: a colleague may use the shared one, nobody else's private one.
        view = await prompts.usable_prompt(session, colleague, str(shared.id), "fr")
        assert view.title == "Modèle du service" and not view.editable
        for who, ref in ((colleague, str(mine.id)), (stranger, str(shared.id))):
            with pytest.raises(PromptNotFound):
                await prompts.usable_prompt(session, who, ref, "fr")
        for bad in ("builtin:nope", "not-a-uuid", str(uuid.uuid4())):
            with pytest.raises(PromptNotFound):
                await prompts.usable_prompt(session, member, bad, "fr")
        english = await prompts.usable_prompt(session, member, "builtin:traduire", "en")
        assert english.title == "Translate a text" and english.builtin

        # Editing: the author; for shared templates the organisation's referent too.
        with pytest.raises(PromptNotFound):
            await prompts.delete_prompt(session, colleague, shared.id)
        with pytest.raises(PromptNotFound):
            await prompts.delete_prompt(session, stranger, mine.id)
        with pytest.raises(PromptNotFound):
            await prompts.update_prompt(
                session,
                referent,
                mine.id,
                title="x",
                body="y",
                category="other",
                visibility="private",
            )
        updated = await prompts.update_prompt(
            session,
            referent,
            shared.id,
            title="Nouveau titre",
            body="Nouveau texte",
            category="other",
            visibility="organisation",
        )
        assert updated.title == "Nouveau titre"
        await prompts.delete_prompt(session, member, mine.id)
        assert refs(await prompts.list_prompts(session, member, "fr")) == {str(shared.id)}


async def test_template_fields_are_checked(session_maker: Factory) -> None:
    async with session_maker() as session:
        me = principal_of(await accounts.create_user(session, "a@agri.fr", org_slug="agri"))
        cases = [
            ({"title": " ", "body": "b", "category": "other"}, "title"),
            ({"title": "t" * 201, "body": "b", "category": "other"}, "title"),
            ({"title": "t", "body": "", "category": "other"}, "body"),
            ({"title": "t", "body": "b" * 20_001, "category": "other"}, "body"),
            ({"title": "t", "body": "b", "category": "unknown"}, "category"),
            ({"title": "t", "body": "b", "category": "other", "visibility": "world"}, "visibility"),
        ]
        for fields, param in cases:
            with pytest.raises(InvalidPrompt) as caught:
                await prompts.create_prompt(session, me, **fields)
            assert caught.value.param == param


# -- Pages ----------------------------------------------------------------------------------


@pytest.fixture
async def site(tmp_path: Path, sqlite_databases: object) -> AsyncIterator[Site]:
    database_url: str = sqlite_databases.new()  # type: ignore[attr-defined]
    async with run_site(tmp_path, database_url) as running:
        yield running


async def test_library_pages_create_use_edit_delete(site: Site) -> None:
    async with site.signed_in("member_a") as browser:
        page = await browser.get("/prompts")
        assert page.status_code == 200
        assert "Modèles de prompts" in page.text and "Reformuler un courriel" in page.text
        assert 'href="/?prompt=builtin%3Areformuler-courriel"' in page.text
        csrf = hidden(page.text, "csrf_token")
        # A mistake comes back with the typed text, the error announced and tied to the field.
        failed = await browser.post(
            "/prompts/new",
            data={
                "csrf_token": csrf,
                "title": "",
                "body": "Mon texte [[x]]",
                "category": "writing",
            },
        )
        assert failed.status_code == 400
        assert 'role="alert"' in failed.text and "Donnez un titre au modèle." in failed.text
        assert 'id="title" name="title"' in failed.text
        assert re.search(
            r'id="title"[^>]*aria-invalid="true" aria-describedby="form-error"', failed.text
        )
        assert "Mon texte [[x]]</textarea>" in failed.text
        shared = await browser.post(
            "/prompts/new",
            data={
                "csrf_token": csrf,
                "title": "Partagé",
                "body": "b",
                "category": "other",
                "visibility": "organisation",
            },
        )
        assert shared.status_code == 403 and "référents IA" in shared.text
        created = await browser.post(
            "/prompts/new",
            data={
                "csrf_token": csrf,
                "title": "Mon modèle",
                "body": "Texte",
                "category": "writing",
            },
        )
        assert created.status_code == 303 and created.headers["location"] == "/prompts?saved=1"
        async with database(site) as session:
            me = principal_of(await user_by_email(session, PEOPLE["member_a"][0]))
            [view] = [v for v in await prompts.list_prompts(session, me, "fr") if not v.builtin]
        listed = await browser.get("/prompts", params={"q": "mon modèle"})
        assert (
            f'href="/?prompt={view.ref}"' in listed.text
            and "Le modèle est enregistré" not in listed.text
        )
        assert "Modèles trouvés : 1" in listed.text
        copy = await browser.get("/prompts/new", params={"start": "builtin:resumer"})
        assert "Résumer un document" in copy.text
        edit = await browser.get(f"/prompts/{view.ref}/edit")
        assert edit.status_code == 200 and 'value="Mon modèle"' in edit.text
        saved = await browser.post(
            f"/prompts/{view.ref}/edit",
            data={"csrf_token": csrf, "title": "Renommé", "body": "Texte", "category": "other"},
        )
        assert saved.status_code == 303
        assert "Renommé" in (await browser.get("/prompts")).text
        # Without the CSRF token nothing changes.
        assert (await browser.post(f"/prompts/{view.ref}/delete")).status_code == 403
    # Another person, even a referent of another organisation, gets "not found".
    for who in ("ref_b", "admin"):
        async with site.signed_in(who) as other:
            token = hidden((await other.get("/prompts")).text, "csrf_token")
            for method, path in (
                ("GET", f"/prompts/{view.ref}/edit"),
                ("POST", f"/prompts/{view.ref}/edit"),
                ("GET", f"/prompts/{view.ref}/delete"),
                ("POST", f"/prompts/{view.ref}/delete"),
                ("GET", f"/prompts/new?start={view.ref}"),
            ):
                data = {"csrf_token": token, "title": "x", "body": "y", "category": "other"}
                answer = await other.request(method, path, data=data if method == "POST" else None)
                assert answer.status_code == 404, (who, method, path)
            assert "Renommé" not in (await other.get("/prompts")).text
    async with site.signed_in("member_a") as browser:
        confirm = await browser.get(f"/prompts/{view.ref}/delete")
        assert "Renommé" in confirm.text
        token = hidden(confirm.text, "csrf_token")
        gone = await browser.post(f"/prompts/{view.ref}/delete", data={"csrf_token": token})
        assert gone.status_code == 303 and gone.headers["location"] == "/prompts?deleted=1"
        assert (await browser.get(f"/prompts/{view.ref}/edit")).status_code == 404


async def test_a_referent_shares_with_the_organisation(site: Site) -> None:
    async with site.signed_in("ref_a") as referent:
        csrf = hidden((await referent.get("/prompts/new")).text, "csrf_token")
        made = await referent.post(
            "/prompts/new",
            data={
                "csrf_token": csrf,
                "title": "Note du service",
                "body": "Rôle",
                "category": "writing",
                "visibility": "organisation",
            },
        )
        assert made.status_code == 303
    async with site.signed_in("member_a") as member:
        page = await member.get("/prompts")
        assert "Note du service" in page.text
        assert "Partagé avec l'organisation" in page.text
        member.cookies.set("lang", "en")
        english = await member.get("/prompts", params={"category": "languages"})
        assert "Translate a text" in english.text and "Rewrite an email" not in english.text
    async with site.signed_in("ref_b") as stranger:
        assert "Note du service" not in (await stranger.get("/prompts")).text
