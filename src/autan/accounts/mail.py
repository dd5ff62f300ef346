"""E-mail of one-time links (password reset, invitation) through the configured SMTP server.

Messages are plain text with an HTML alternative, written in the recipient's language by
the caller's `gettext`. A server that is down or refuses raises `MailUnavailable`: the link
itself stays valid, so a referent can still hand it over.
"""

from __future__ import annotations

import html
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from email.message import EmailMessage
from email.utils import formatdate, make_msgid

import aiosmtplib
import structlog

from autan.accounts.mail_settings import MailSettings
from autan.core.errors import AutanError, ErrorKind

log = structlog.get_logger(__name__)

Gettext = Callable[[str], str]


def _(message: str) -> str:
    """Mark a message for the catalogue; it is translated by the caller's `gettext`."""
    return message


class MailUnavailable(AutanError):
    kind = ErrorKind.UNAVAILABLE
    code = "mail_unavailable"

    def __init__(self) -> None:
        super().__init__(
            "The e-mail could not be sent: the mail server did not accept it. "
            "The link below still works: hand it over yourself."
        )


@dataclass(frozen=True, slots=True)
class LinkMail:
    """What a link's e-mail says: to whom, which link, until when, for which organisation."""

    to: str
    name: str
    url: str
    expires_at: datetime
    organisation: str
    reset: bool  # a password reset; otherwise an invitation


_TEXTS = {
    True: (
        _("Your password on Autan"),
        _("A new password was asked for your Autan account ({email})."),
        _("Choose a new password"),
        _("If you did not ask for it, ignore this e-mail: your password does not change."),
    ),
    False: (
        _("Your invitation to Autan"),
        _("An account on Autan, the AI assistant of {organisation}, awaits you ({email})."),
        _("Choose your password"),
        _("If you do not expect this invitation, ignore this e-mail."),
    ),
}
_VALID = _("This link works once, until {date} (UTC).")
_HELLO = _("Hello {name},")
_HELLO_ANONYMOUS = _("Hello,")


def link_message(settings: MailSettings, mail: LinkMail, gettext: Gettext) -> EmailMessage:
    """The e-mail of a link, plain text and HTML, in the language of `gettext`."""
    subject, intro, action, outro = (gettext(t) for t in _TEXTS[mail.reset])
    hello = gettext(_HELLO).format(name=mail.name) if mail.name else gettext(_HELLO_ANONYMOUS)
    intro = intro.format(email=mail.to, organisation=mail.organisation)
    valid = gettext(_VALID).format(date=mail.expires_at.strftime("%d/%m/%Y %H:%M"))
    message = EmailMessage()
    message["Subject"] = subject
    message["From"] = settings.sender
    message["To"] = mail.to
    message["Date"] = formatdate(localtime=False)
    message["Message-ID"] = make_msgid(domain=settings.sender.rpartition("@")[2].strip("> "))
    message.set_content(f"{hello}\n\n{intro}\n\n{action}\n{mail.url}\n\n{valid}\n\n{outro}\n")
    e = html.escape
    message.add_alternative(
        "<!doctype html><html><body>"
        f"<p>{e(hello)}</p><p>{e(intro)}</p>"
        f'<p><a href="{e(mail.url)}">{e(action)}</a></p>'
        f"<p>{e(valid)}</p><p>{e(outro)}</p></body></html>",
        subtype="html",
    )
    return message


async def send(settings: MailSettings, message: EmailMessage) -> None:
    """Hand the message to the SMTP server, or raise `MailUnavailable`."""
    try:
        await aiosmtplib.send(
            message,
            hostname=settings.host,
            port=settings.port,
            username=settings.user or None,
            password=settings.password.get_secret_value() or None,
            use_tls=settings.tls == "tls",
            start_tls=settings.tls == "starttls",
            timeout=settings.timeout_seconds,
        )
    except (aiosmtplib.SMTPException, OSError) as exc:
        # The address is personal data: the log says what failed, not to whom.
        log.warning("mail_not_sent", host=settings.host, error=type(exc).__name__)
        raise MailUnavailable() from exc
