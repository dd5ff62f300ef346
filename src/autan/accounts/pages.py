"""The pages of the web UI: sign-in, welcome (access code), home, my API keys.

Two routers: `public` holds the only pages open without a session (see `access.py`);
everything on `pages` requires one through a router-level dependency (deny by default),
and its forms carry the session's CSRF token (checked by `deps.principal`).
"""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import HTMLResponse, RedirectResponse
from sqlalchemy.ext.asyncio import AsyncSession

from autan.accounts import keys
from autan.accounts.oidc_flow import redeem_pending
from autan.accounts.principal import Principal
from autan.accounts.service import CreatedKey
from autan.core.error_handlers import STATUS_OF_KIND
from autan.core.errors import AutanError, InvalidRequest
from autan.deps import (
    CurrentPrincipal,
    CurrentSession,
    SessionDep,
    client_ip,
    end_session,
    principal,
    set_session_cookie,
)
from autan.services import services_of
from autan.suitedocs.tokens import DOCS_TOKEN_COOKIE
from autan.web import forms
from autan.web.errors import translate
from autan.web.pages import page_context, templates_of
from autan.web.templating import LANG_COOKIE, LANGUAGES

public = APIRouter(include_in_schema=False)
pages = APIRouter(include_in_schema=False, dependencies=[Depends(principal)])


def _status(exc: AutanError) -> int:
    return STATUS_OF_KIND[exc.kind]


def _local_path(target: str) -> str:
    """Only paths of this site, so the language switch cannot redirect elsewhere."""
    return target if target.startswith("/") and not target.startswith(("//", "/\\")) else "/"


# -- Public pages ---------------------------------------------------------------------------


@public.get("/lang")
async def switch_language(to: str = "fr", next: str = "/") -> RedirectResponse:
    """Remember the reader's language and go back to the page they were on."""
    response = RedirectResponse(_local_path(next), status_code=303)
    if to in LANGUAGES:
        response.set_cookie(LANG_COOKIE, to, max_age=365 * 24 * 3600, samesite="lax", path="/")
    return response


def _login_page(
    request: Request, *, email: str = "", error: str = "", status_code: int = 200
) -> HTMLResponse:
    token = forms.form_token(request)
    response = templates_of(request).render(
        request,
        "login.html",
        {
            "oidc_enabled": services_of(request).oidc is not None,
            "local_enabled": services_of(request).settings.sessions.local_login_enabled,
            "signup_enabled": services_of(request).settings.sessions.signup_enabled,
            "mail_enabled": services_of(request).settings.mail.enabled,
            "form_token": token,
            "email": email,
            "error": error,
        },
        status_code=status_code,
    )
    forms.set_form_cookie(request, response, token)
    return response


@public.get("/login")
async def login_page(request: Request) -> HTMLResponse:
    """The sign-in page: ProConnect and/or email and password."""
    return _login_page(request)


@public.post("/login")
async def login_form(request: Request, session: SessionDep) -> Response:
    """Sign in with the form; on failure the form comes back with the email kept."""
    form = await request.form()
    forms.check_form_token(request, form)
    sign_in = services_of(request).sign_in
    sign_in.ensure_enabled()
    email = ""
    try:
        email = forms.text(form, "email", 320)
        password = forms.text(form, "password", 1024, strip=False)
        if not email or not password:
            raise forms.FormError("Enter your email and your password.", "email")
        signed = await sign_in.sign_in(session, email, password, client_ip(request))
    except AutanError as exc:
        return _login_page(
            request, email=email, error=translate(request, exc), status_code=_status(exc)
        )
    response = RedirectResponse("/", status_code=303)
    set_session_cookie(request, response, signed.cookie)
    return response


def _welcome_page(
    request: Request, *, code: str = "", error: str = "", status_code: int = 200
) -> HTMLResponse:
    token = forms.form_token(request)
    response = templates_of(request).render(
        request,
        "welcome.html",
        {"form_token": token, "code": code, "error": error},
        status_code=status_code,
    )
    forms.set_form_cookie(request, response, token)
    return response


@public.get("/auth/welcome")
async def welcome_page(request: Request) -> HTMLResponse:
    """First sign-in through the identity provider: ask for an access code."""
    return _welcome_page(request)


@public.post("/auth/welcome")
async def welcome_form(request: Request, session: SessionDep) -> Response:
    """Join the organisation of an access code, as `POST /auth/oidc/redeem` does."""
    form = await request.form()
    forms.check_form_token(request, form)
    code = ""
    try:
        code = forms.text(form, "code", 64)
        if len(code) < 4:
            raise forms.FormError("Enter the access code your AI referent gave you.", "code")
        response = RedirectResponse("/", status_code=303)
        await redeem_pending(request, response, session, code)
    except AutanError as exc:
        return _welcome_page(
            request, code=code, error=translate(request, exc), status_code=_status(exc)
        )
    return response


# -- Signed-in pages ------------------------------------------------------------------------


@pages.post("/logout")
async def logout(
    request: Request, _me: CurrentPrincipal, data: CurrentSession, session: SessionDep
) -> RedirectResponse:
    """End this session; through the identity provider's logout when it is enabled."""
    await end_session(request, session, data)
    target = "/auth/oidc/logout" if services_of(request).oidc is not None else "/login"
    response = RedirectResponse(target, status_code=303)
    response.delete_cookie(services_of(request).settings.sessions.cookie_name, path="/")
    response.delete_cookie(DOCS_TOKEN_COOKIE, path="/")
    return response


async def _keys_page(
    request: Request,
    me: Principal,
    csrf: str,
    session: AsyncSession,
    *,
    created: CreatedKey | None = None,
    form: dict[str, str] | None = None,
    error: str = "",
    status_code: int = 200,
) -> HTMLResponse:
    context = await page_context(request, me, csrf, session)
    context |= {
        "keys": await keys.list_keys(session, me.user_id),
        "created": created,
        "form": form or {},
        "error": error,
    }
    return templates_of(request).render(request, "keys.html", context, status_code=status_code)


@pages.get("/settings/keys")
async def keys_page(
    request: Request, me: CurrentPrincipal, data: CurrentSession, session: SessionDep
) -> HTMLResponse:
    """My API keys."""
    return await _keys_page(request, me, data.csrf, session)


@pages.post("/settings/keys")
async def create_key(
    request: Request, me: CurrentPrincipal, data: CurrentSession, session: SessionDep
) -> HTMLResponse:
    """Create a key; its secret is shown on this page only."""
    form = await request.form()
    typed = {"name": str(form.get("name", ""))[:100], "days": str(form.get("days", ""))[:20]}
    try:
        name = forms.text(form, "name", 100)
        days = forms.whole_number(form, "days", 1, 3650)
        created = await keys.create_own_key(session, me, name, days)
    except InvalidRequest as exc:
        return await _keys_page(
            request,
            me,
            data.csrf,
            session,
            form=typed,
            error=translate(request, exc),
            status_code=400,
        )
    return await _keys_page(request, me, data.csrf, session, created=created, status_code=201)


@pages.post("/settings/keys/{key_id}/revoke")
async def revoke_key(
    key_id: uuid.UUID, me: CurrentPrincipal, session: SessionDep
) -> RedirectResponse:
    """Revoke one of my keys."""
    await keys.revoke_key(session, key_id, me)
    return RedirectResponse("/settings/keys", status_code=303)
