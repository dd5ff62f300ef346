"""E-mailing one-time links from the pages: whether mail is on, and an invitation's e-mail."""

from __future__ import annotations

from fastapi import Request

from autan.accounts import links, mail
from autan.accounts.mail_settings import MailSettings
from autan.core.errors import AutanError
from autan.services import services_of
from autan.web.errors import translate
from autan.web.pages import templates_of
from autan.web.templating import LANGUAGES, request_language


def mail_ready(request: Request) -> MailSettings | None:
    """The mail settings when links may be e-mailed (a server, and local accounts)."""
    settings = services_of(request).settings
    if settings.mail.enabled and settings.sessions.local_login_enabled:
        return settings.mail
    return None


def gettext_for(request: Request, lang: str) -> mail.Gettext:
    """Translate into `lang` (a mail's recipient may read another language than the page)."""
    templates = templates_of(request)
    return lambda message: templates.gettext(lang, message)


async def mail_invitation(
    request: Request, created: links.CreatedLink, organisation: str, lang: str
) -> str:
    """E-mail an invitation (or a reset made by a referent); "" when sent, else why not,
    in the referent's language."""
    settings = mail_ready(request)
    if settings is None:
        return ""
    lang = lang if lang in LANGUAGES else request_language(request)
    content = mail.LinkMail(
        to=created.user.email,
        name=created.user.display_name,
        url=settings.link_url(created.token),
        expires_at=created.row.expires_at,
        organisation=organisation,
        reset=created.row.kind == links.LinkKind.RESET,
    )
    try:
        await mail.send(settings, mail.link_message(settings, content, gettext_for(request, lang)))
    except AutanError as exc:
        return translate(request, exc)
    return ""
