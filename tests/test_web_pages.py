"""The web UI through HTTP: sign-in, welcome, home, API keys, languages, error pages."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from itsdangerous import URLSafeTimedSerializer
from sqlalchemy import func, select

from autan.accounts import codes, repository
from autan.accounts.models import ApiKey, User
from autan.core.db import create_engine, session_factory
from autan.web.templating import Templates, request_language
from tests.support.web import PASSWORD, PEOPLE, Site, hidden, run_site, sign_in


@pytest.fixture
async def site(tmp_path: Path, sqlite_databases: object) -> AsyncIterator[Site]:
    database_url: str = sqlite_databases.new()  # type: ignore[attr-defined]
    async with run_site(tmp_path, database_url) as running:
        yield running


async def count_keys(site: Site) -> int:
    engine = create_engine(site.autan.settings.resolved_database_url)
    try:
        async with session_factory(engine)() as session:
            return int(await session.scalar(select(func.count()).select_from(ApiKey)) or 0)
    finally:
        await engine.dispose()


async def test_login_page_speaks_french_by_default_and_english_on_request(site: Site) -> None:
    async with site.browser() as browser:
        page = await browser.get("/login")
        assert page.status_code == 200
        assert '<html lang="fr">' in page.text and "Se connecter à Autan" in page.text
        assert 'href="#main"' in page.text and 'for="email"' in page.text
    async with site.browser() as browser:
        browser.cookies.set("lang", "en")
        english = await browser.get("/login")
        assert '<html lang="en">' in english.text and "Sign in to Autan" in english.text
    async with site.browser() as browser:
        by_header = await browser.get("/login", headers={"Accept-Language": "en-GB,fr;q=0.5"})
        assert "Sign in to Autan" in by_header.text
        switched = await browser.get("/lang", params={"to": "en", "next": "//evil.example"})
        assert switched.status_code == 303 and switched.headers["location"] == "/"
        assert "lang=en" in switched.headers["set-cookie"]


def test_language_choice() -> None:
    class Fake:
        def __init__(self, cookies: dict[str, str], headers: dict[str, str]) -> None:
            self.cookies, self.headers = cookies, headers

    cases = [
        ({}, {}, "fr"),
        ({}, {"accept-language": "de-DE,en;q=0.8,fr;q=0.9"}, "fr"),
        ({}, {"accept-language": "de-DE,en;q=0.8"}, "en"),
        ({"lang": "en"}, {"accept-language": "fr"}, "en"),
        ({"lang": "xx"}, {"accept-language": "en;q=bad"}, "fr"),
    ]
    for cookies, headers, expected in cases:
        assert request_language(Fake(cookies, headers)) == expected  # type: ignore[arg-type]


def test_every_message_of_the_templates_is_translated() -> None:
    from babel.messages.extract import extract_from_dir
    from babel.messages.pofile import read_po

    web = Path(__file__).parents[1] / "src" / "autan" / "web"
    extracted = extract_from_dir(
        str(web / "templates"),
        method_map=[("**.html", "jinja2")],
        # The page's own extensions, and loud: a template the extractor cannot parse must
        # fail here, not be skipped with its messages unchecked.
        options_map={"**.html": {"extensions": "jinja2.ext.i18n,jinja2.ext.do", "silent": "false"}},
    )
    ids = {message for _file, _line, message, _comments, _context in extracted}
    assert len(ids) > 50
    french: dict[str, str] = {}
    for path in (web / "locales" / "fr" / "LC_MESSAGES").glob("*.po"):
        with path.open("rb") as po:
            french.update({str(m.id): str(m.string) for m in read_po(po) if m.id})
    untranslated = sorted(str(m) for m in ids if not french.get(str(m)))
    assert untranslated == []
    assert Templates().gettext("fr", "Sign in") == "Se connecter"


async def test_password_sign_in_success_and_failure(site: Site) -> None:
    email = PEOPLE["member_a"][0]
    async with site.browser() as browser:
        wrong = await sign_in(browser, email, "not the password 123")
        assert wrong.status_code == 401
        assert 'role="alert"' in wrong.text
        assert "Adresse électronique ou mot de passe incorrect." in wrong.text
        assert f'value="{email}"' in wrong.text
        assert "not the password 123" not in wrong.text
        assert "autan_session" not in wrong.headers.get("set-cookie", "")
        empty = await sign_in(browser, email, "")
        assert empty.status_code == 400 and "Saisissez votre adresse" in empty.text
        ok = await sign_in(browser, email.upper(), PASSWORD)
        assert ok.status_code == 303 and ok.headers["location"] == "/"
        home = await browser.get("/")
        assert home.status_code == 200
        assert email in home.text and "Nouvelle conversation" in home.text
        assert "Administration" not in home.text  # members do not manage anything
        logout = await browser.post("/logout", data={"csrf_token": hidden(home.text, "csrf_token")})
        assert logout.status_code == 303 and logout.headers["location"] == "/login"
        browser.cookies.delete("autan_session")
        assert (await browser.get("/")).headers["location"] == "/login"


async def test_sign_in_form_needs_its_csrf_token(site: Site) -> None:
    email = PEOPLE["member_a"][0]
    async with site.browser() as browser:
        missing = await browser.post("/login", data={"email": email, "password": PASSWORD})
        assert missing.status_code == 403
        assert "Ce formulaire a expiré" in missing.text and "autan_session" not in str(
            missing.headers.get("set-cookie")
        )
        await browser.get("/login")
        forged = await browser.post(
            "/login", data={"form_token": "forged", "email": email, "password": PASSWORD}
        )
        assert forged.status_code == 403
    # A token from another browser does not match this browser's cookie.
    async with site.browser() as attacker, site.browser() as victim:
        token = hidden((await attacker.get("/login")).text, "form_token")
        await victim.get("/login")
        crossed = await victim.post(
            "/login", data={"form_token": token, "email": email, "password": PASSWORD}
        )
        assert crossed.status_code == 403


async def test_oversize_sign_in_fields_are_refused_plainly(site: Site) -> None:
    async with site.browser() as browser:
        response = await sign_in(browser, "a" * 400 + "@x.fr", PASSWORD)
        assert response.status_code == 400
        assert "trop long (320 caractères au maximum)" in response.text


async def test_anonymous_visitors_are_sent_to_the_sign_in_page(site: Site) -> None:
    async with site.browser() as browser:
        for path in ("/", "/settings/keys", "/admin", "/admin/orgs/agri/users"):
            response = await browser.get(path)
            assert response.status_code == 303, path
            assert response.headers["location"] == "/login"
        assert (await browser.post("/settings/keys", data={"name": "x"})).status_code == 303


async def test_error_pages_are_html_on_pages_and_json_on_the_api(site: Site) -> None:
    async with site.browser() as browser:
        missing = await browser.get("/no-such-page")
        assert missing.status_code == 404
        assert missing.headers["content-type"].startswith("text/html")
        assert "Page introuvable" in missing.text
        api = await browser.get("/api/me")
        assert api.status_code == 401 and api.json()["error"]["code"] == "not_signed_in"
        v1 = await browser.get("/v1/models")
        assert v1.status_code == 401 and "error" in v1.json()
        css = await browser.get("/static/autan.css")
        assert css.status_code == 200 and "--blue" in css.text
        assert (await browser.get("/static/vendor/htmx-2.0.11.min.js")).status_code == 200


async def test_my_api_keys_page(site: Site) -> None:
    async with site.signed_in("member_a") as browser:
        page = await browser.get("/settings/keys")
        assert page.status_code == 200 and "Mes clés d'API" in page.text.replace("&#39;", "'")
        csrf = hidden(page.text, "csrf_token")
        created = await browser.post(
            "/settings/keys", data={"csrf_token": csrf, "name": "notebook", "days": "30"}
        )
        assert created.status_code == 201
        assert "sk-autan-" in created.text and "data-copy" in created.text
        assert "notebook" in created.text
        before = await count_keys(site)
        too_long = await browser.post(
            "/settings/keys", data={"csrf_token": csrf, "name": "n" * 101, "days": ""}
        )
        assert too_long.status_code == 400 and "trop long" in too_long.text
        bad_days = await browser.post(
            "/settings/keys", data={"csrf_token": csrf, "name": "x", "days": "99999"}
        )
        assert bad_days.status_code == 400 and "entre 1 et 3\u202f650" in bad_days.text
        assert 'value="x"' in bad_days.text  # what was typed is kept
        no_csrf = await browser.post("/settings/keys", data={"name": "sneaky"})
        assert no_csrf.status_code == 403 and "Ce formulaire a expiré" in no_csrf.text
        assert await count_keys(site) == before
        key_id = created.text.split("/settings/keys/")[1].split("/revoke")[0]
        forged = await browser.post(f"/settings/keys/{key_id}/revoke", data={"csrf_token": "x"})
        assert forged.status_code == 403
        revoked = await browser.post(f"/settings/keys/{key_id}/revoke", data={"csrf_token": csrf})
        assert revoked.status_code == 303 and revoked.headers["location"] == "/settings/keys"
        assert "Révoquée" in (await browser.get("/settings/keys")).text
    async with site.signed_in("member_a") as browser, site.browser() as english:
        english.cookies.update(browser.cookies)
        english.cookies.set("lang", "en")
        assert "My API keys" in (await english.get("/settings/keys")).text


async def test_welcome_page_redeems_an_access_code(site: Site) -> None:
    settings = site.autan.settings
    secret = settings.resolved_secret_key()
    engine = create_engine(settings.resolved_database_url)
    async with session_factory(engine)() as session:
        org = await repository.org_by_slug(session, "agri")
        assert org is not None
        created = await codes.create_code(session, secret, org=org, creator=None, max_uses=1)
    identity = {
        "issuer": "https://idp.example",
        "subject": "sub-123",
        "email": "nouvelle@agriculture.gouv.fr",
        "given_name": "Camille",
        "family_name": "Martin",
        "organisation_id": None,
        "id_token": "x.y.z",
    }
    pending = URLSafeTimedSerializer(secret, salt="newcomer").dumps(identity)
    async with site.browser() as browser:
        browser.cookies.set("autan_newcomer", pending, path="/auth")
        page = await browser.get("/auth/welcome")
        assert page.status_code == 200 and "référent IA" in page.text
        token = hidden(page.text, "form_token")
        no_token = await browser.post("/auth/welcome", data={"code": created.code})
        assert no_token.status_code == 403
        wrong = await browser.post(
            "/auth/welcome", data={"form_token": token, "code": "ZZZZ-ZZZZ-ZZZZ-ZZZZ"}
        )
        assert wrong.status_code == 400 and 'role="alert"' in wrong.text
        assert "n'est pas valide" in wrong.text.replace("&#39;", "'")
        assert 'value="ZZZZ-ZZZZ-ZZZZ-ZZZZ"' in wrong.text
        joined = await browser.post(
            "/auth/welcome", data={"form_token": token, "code": created.code.lower()}
        )
        assert joined.status_code == 303 and joined.headers["location"] == "/"
        first = await browser.get("/", follow_redirects=True)
        assert "nouvelle@agriculture.gouv.fr" in first.text
    async with session_factory(engine)() as session:
        user = await session.scalar(select(User).where(User.email == identity["email"]))
        assert user is not None and user.org_id == org.id
    await engine.dispose()
    async with site.browser() as stranger:
        page = await stranger.get("/auth/welcome")
        token = hidden(page.text, "form_token")
        expired = await stranger.post("/auth/welcome", data={"form_token": token, "code": "ABCD"})
        assert expired.status_code == 401 and "Votre connexion a expiré" in expired.text
