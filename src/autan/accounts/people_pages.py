"""Pages for joining and for managing people: sign-up with an access code, and one-time
links (invitation, password reset) made by referents and admins.

`public` holds the pages a visitor reaches without a session (listed in `access.py`);
`router` is the administration side, behind a session and `permissions.require_org_manager`.
"""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import HTMLResponse, RedirectResponse

from autan.accounts import codes, links, mail_links, signup
from autan.accounts.errors import LocalLoginDisabled, UserExists
from autan.accounts.models import Role
from autan.accounts.org_management import AdminRoleReserved
from autan.accounts.principal import Principal
from autan.core.error_handlers import STATUS_OF_KIND
from autan.core.errors import AutanError, InvalidRequest, NotFound
from autan.core.params import Slug
from autan.deps import (
    CurrentPrincipal,
    CurrentSession,
    LoginThrottleDep,
    SessionDep,
    SettingsDep,
    client_ip,
    principal,
    set_session_cookie,
)
from autan.services import services_of
from autan.web import forms
from autan.web.errors import translate
from autan.web.org_frame import managed_org, render_admin_page
from autan.web.pages import templates_of

public = APIRouter(include_in_schema=False)
router = APIRouter(prefix="/admin", include_in_schema=False, dependencies=[Depends(principal)])

_PAGE_SIZE = 50


class SignupDisabled(NotFound):
    code = "signup_disabled"

    def __init__(self) -> None:
        super().__init__("Creating an account is not possible on this site.")


def signup_open(request: Request) -> bool:
    """Whether visitors may create a local account with an access code."""
    sessions = services_of(request).settings.sessions
    return bool(sessions.local_login_enabled and sessions.signup_enabled)


# -- Sign-up with an access code ------------------------------------------------------------


def _signup_page(
    request: Request,
    *,
    typed: dict[str, str] | None = None,
    error: str = "",
    field: str = "",
    status_code: int = 200,
) -> HTMLResponse:
    token = forms.form_token(request)
    context = {
        "form_token": token,
        "form": typed or {},
        "error": error,
        "field": field,
        "min_length": signup.PASSWORD_MIN,
    }
    response = templates_of(request).render(
        request, "signup.html", context, status_code=status_code
    )
    forms.set_form_cookie(request, response, token)
    return response


@public.get("/auth/signup")
async def signup_page(request: Request) -> HTMLResponse:
    """Create an account with the access code an AI referent handed out."""
    if not signup_open(request):
        raise SignupDisabled()
    return _signup_page(request)


@public.post("/auth/signup")
async def signup_form(
    request: Request, session: SessionDep, throttle: LoginThrottleDep
) -> Response:
    """Create the account and sign in; what was typed (not the password) comes back on error."""
    form = await request.form()
    forms.check_form_token(request, form)
    if not signup_open(request):
        raise SignupDisabled()
    typed = forms.typed(form, "email", "name", "code", limit=320)
    ip = client_ip(request)
    try:
        email = forms.text(form, "email", 320)
        name = forms.text(form, "name", 200)
        password = forms.text(form, "password", 1024, strip=False)
        code = forms.text(form, "code", 64)
        if not email:
            raise forms.FormError("Enter your email address.", "email")
        if len(code) < 4:
            raise forms.FormError("Enter the access code your AI referent gave you.", "code")
        # Codes are guessed like passwords: the same throttle, keyed on the address.
        await throttle.check("signup", ip)
        try:
            user = await signup.sign_up(
                session, email=email, name=name, password=password, code=code, ip=ip
            )
        except codes.AccessCodeRefused:
            await throttle.failed("signup", ip)
            raise
    except AutanError as exc:
        return _signup_page(
            request,
            typed=typed,
            error=translate(request, exc),
            field=exc.param or "",
            status_code=STATUS_OF_KIND[exc.kind],
        )
    cookie, _data = services_of(request).session_codec.issue(user.id, user.session_epoch)
    # The charter guard takes the newcomer to the usage charter first.
    response = RedirectResponse("/", status_code=303)
    set_session_cookie(request, response, cookie)
    return response


# -- One-time links: set a password ---------------------------------------------------------


def _link_page(
    request: Request,
    context: dict[str, Any],
    status_code: int = 200,
) -> HTMLResponse:
    token = forms.form_token(request)
    context = {"form_token": token, "min_length": signup.PASSWORD_MIN, **context}
    response = templates_of(request).render(request, "link.html", context, status_code=status_code)
    forms.set_form_cookie(request, response, token)
    return response


_TOKEN_MAX = 128


@public.get("/auth/link/{token}")
async def link_page(token: str, request: Request, session: SessionDep) -> HTMLResponse:
    """An invitation or reset link: choose a password, or read why the link cannot be used."""
    try:
        row, user = await links.open_link(session, token[:_TOKEN_MAX])
    except links.LinkRefused as exc:
        return _link_page(request, {"refused": translate(request, exc)}, 410)
    return _link_page(request, {"kind": row.kind, "email": user.email, "token": token})


@public.post("/auth/link/{token}")
async def link_form(
    token: str, request: Request, session: SessionDep, throttle: LoginThrottleDep
) -> Response:
    """Set the password; then the person signs in with it."""
    form = await request.form()
    forms.check_form_token(request, form)
    if not services_of(request).settings.sessions.local_login_enabled:
        raise LocalLoginDisabled()
    token = token[:_TOKEN_MAX]
    ip = client_ip(request)
    try:
        password = forms.text(form, "password", 1024, strip=False)
        if password != forms.text(form, "confirm", 1024, strip=False):
            raise forms.FormError("The two passwords are not the same.", "confirm")
        await throttle.check("link", ip)
        try:
            await links.use_link(session, token, password, ip=ip)
        except links.LinkRefused:
            await throttle.failed("link", ip)
            raise
    except links.LinkRefused as exc:
        return _link_page(request, {"refused": translate(request, exc)}, 410)
    except AutanError as exc:
        await session.rollback()
        row, user = await links.open_link(session, token)
        context = {"kind": row.kind, "email": user.email, "token": token}
        context["error"] = translate(request, exc)
        return _link_page(request, context, STATUS_OF_KIND[exc.kind])
    return RedirectResponse("/login?password=set", status_code=303)


# -- Administration: invite, reset link -----------------------------------------------------


def _link_url(request: Request, token: str) -> str:
    return f"{str(request.base_url).rstrip('/')}/auth/link/{token}"


def _roles_for(me_role: Role) -> list[str]:
    roles = [Role.MEMBER, Role.REFERENT] + ([Role.ADMIN] if me_role == Role.ADMIN else [])
    return [r.value for r in roles]


@router.get("/orgs/{slug}/invite")
async def invite_page(
    slug: Slug, request: Request, me: CurrentPrincipal, data: CurrentSession, session: SessionDep
) -> HTMLResponse:
    """The form to invite a person into the organisation."""
    org = await managed_org(session, slug, me)
    context: dict[str, Any] = {"form": {"role": "member"}, "roles": _roles_for(me.role)}
    context["error"] = ""
    context["section"] = "users"  # the tab that stays lit
    context["mail_enabled"] = mail_links.mail_ready(request) is not None
    return await render_admin_page(
        request, "admin/invite.html", me, data.csrf, session, org, context
    )


@router.post("/orgs/{slug}/invite")
async def invite(
    slug: Slug,
    request: Request,
    me: CurrentPrincipal,
    data: CurrentSession,
    session: SessionDep,
    settings: SettingsDep,
) -> HTMLResponse:
    """Create the person and show their one-time link (once: it is stored hashed)."""
    org = await managed_org(session, slug, me)
    form = await request.form()
    typed = forms.typed(form, "email", "name", "role", "mail_lang", limit=320)
    # An unticked box sends nothing: tell "unticked" from "not offered" to show it again.
    if form.get("mail_offered") == "on" and form.get("send_mail") != "on":
        typed["send_mail"] = "off"
    try:
        email = forms.text(form, "email", 320)
        name = forms.text(form, "name", 200)
        role_text = forms.text(form, "role", 16) or Role.MEMBER.value
        if role_text not in _roles_for(Role.ADMIN):
            raise forms.FormError("Choose a role from the list.", "role")
        created = await links.invite(
            session,
            org,
            me,
            email=email,
            name=name,
            role=Role(role_text),
            hours=settings.sessions.link_valid_hours,
        )
    except (InvalidRequest, UserExists, AdminRoleReserved) as exc:
        await session.rollback()
        context: dict[str, Any] = {"form": typed, "roles": _roles_for(me.role)}
        context["error"] = translate(request, exc)
        context["section"] = "users"
        context["mail_enabled"] = mail_links.mail_ready(request) is not None
        return await render_admin_page(
            request, "admin/invite.html", me, data.csrf, session, org, context, 400
        )
    mail_error = ""
    if form.get("send_mail") == "on" and mail_links.mail_ready(request) is not None:
        lang = str(form.get("mail_lang", ""))
        mail_error = await mail_links.mail_invitation(request, created, org.name, lang)
        mailed = not mail_error
    else:
        mailed = False
    return await _created_page(
        request, me, data.csrf, session, slug, created, mailed=mailed, mail_error=mail_error
    )


async def _created_page(
    request: Request,
    me: Principal,
    csrf: str,
    session: SessionDep,
    slug: str,
    created: links.CreatedLink,
    *,
    mailed: bool = False,
    mail_error: str = "",
) -> HTMLResponse:
    org = await managed_org(session, slug, me)
    context = {
        "mailed": mailed,
        "mail_error": mail_error,
        "kind": created.row.kind,
        "email": created.user.email,
        "url": _link_url(request, created.token),
        "expires_at": created.row.expires_at,
        "section": "users",
    }
    return await render_admin_page(
        request, "admin/link_created.html", me, csrf, session, org, context, 201
    )


@router.post("/orgs/{slug}/users/{user_id}/reset-link")
async def reset_link(
    slug: Slug,
    user_id: uuid.UUID,
    request: Request,
    me: CurrentPrincipal,
    data: CurrentSession,
    session: SessionDep,
    settings: SettingsDep,
) -> HTMLResponse:
    """A password-reset link for a member of the organisation, shown once."""
    org = await managed_org(session, slug, me)
    created = await links.reset_link(session, org, me, user_id, settings.sessions.link_valid_hours)
    return await _created_page(request, me, data.csrf, session, slug, created)
