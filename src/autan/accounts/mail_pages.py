"""'Forgot password' on the sign-in page, when an SMTP server is configured.

The forgot-password answer is the same whether or not the address has an account, and the
e-mail leaves after the response (a background task), so neither the words nor the time
tell who has an account here.
"""

from __future__ import annotations

from email.message import EmailMessage

import structlog
from fastapi import APIRouter, BackgroundTasks, Request
from fastapi.responses import HTMLResponse

from autan.accounts import links, mail, mail_links
from autan.accounts.mail_settings import MailSettings
from autan.accounts.throttle import TooManyLoginAttempts
from autan.core.error_handlers import STATUS_OF_KIND
from autan.core.errors import NotFound
from autan.deps import LoginThrottleDep, SessionDep, client_ip
from autan.services import services_of
from autan.web import forms
from autan.web.errors import translate
from autan.web.pages import templates_of
from autan.web.templating import request_language

log = structlog.get_logger(__name__)

public = APIRouter(include_in_schema=False)


class MailDisabled(NotFound):
    code = "mail_disabled"

    def __init__(self) -> None:
        super().__init__("Resetting a password by e-mail is not possible on this site.")


def _forgot_page(
    request: Request,
    *,
    email: str = "",
    sent: bool = False,
    error: str = "",
    status_code: int = 200,
) -> HTMLResponse:
    token = forms.form_token(request)
    context = {"form_token": token, "email": email, "sent": sent, "error": error}
    response = templates_of(request).render(
        request, "forgot.html", context, status_code=status_code
    )
    forms.set_form_cookie(request, response, token)
    return response


@public.get("/auth/forgot")
async def forgot_page(request: Request) -> HTMLResponse:
    """Ask for a link to choose a new password, sent by e-mail."""
    if mail_links.mail_ready(request) is None:
        raise MailDisabled()
    return _forgot_page(request)


async def _send_quietly(settings: MailSettings, message: EmailMessage) -> None:
    # Nobody waits for this answer: a failure is logged (without the address) and that is all.
    try:
        await mail.send(settings, message)
    except mail.MailUnavailable:
        log.warning("forgot_password_mail_failed")


@public.post("/auth/forgot")
async def forgot_form(
    request: Request,
    session: SessionDep,
    throttle: LoginThrottleDep,
    background: BackgroundTasks,
) -> HTMLResponse:
    """Send a reset link if the address has an account; answer the same in every case."""
    form = await request.form()
    forms.check_form_token(request, form)
    settings = mail_links.mail_ready(request)
    if settings is None:
        raise MailDisabled()
    typed = forms.typed(form, "email", limit=320)["email"]
    ip = client_ip(request)
    try:
        email = forms.text(form, "email", 320)
        if not email:
            raise forms.FormError("Enter your email address.", "email")
        # Every request counts, as a failed sign-in does: nobody floods a mailbox from here.
        key = f"forgot:{email.lower()}"
        await throttle.check(key, ip)
        await throttle.failed(key, ip)
    except (forms.FormError, TooManyLoginAttempts) as exc:
        status = STATUS_OF_KIND[exc.kind]
        return _forgot_page(request, email=typed, error=translate(request, exc), status_code=status)
    hours = services_of(request).settings.sessions.link_valid_hours
    created = await links.requested_reset(session, email, hours, ip=ip)
    if created is not None:
        lang = request_language(request)
        content = mail.LinkMail(
            to=created.user.email,
            name=created.user.display_name,
            url=settings.link_url(created.token),
            expires_at=created.row.expires_at,
            organisation="",
            reset=True,
        )
        message = mail.link_message(settings, content, mail_links.gettext_for(request, lang))
        background.add_task(_send_quietly, settings, message)
    return _forgot_page(request, email=typed, sent=True)
