"""Reading HTML forms: bounded fields, plain-language errors, and the anonymous forms' CSRF token.

Signed-in forms carry the session's CSRF token (checked by `deps.principal`). The sign-in
and welcome forms have no session yet, so they use a signed double-submit token: a random
value in an HttpOnly cookie, signed with the deployment's secret, and the same value in a
hidden field. Another site can make a browser post a form but can neither read nor forge
the cookie, so it cannot supply a matching field (login CSRF).
"""

from __future__ import annotations

import hmac
import secrets
from typing import Any

from fastapi import Request, Response
from itsdangerous import BadSignature, URLSafeTimedSerializer
from starlette.datastructures import FormData

from autan.accounts.errors import CsrfFailed
from autan.core.cookies import set_private_cookie
from autan.core.errors import InvalidRequest
from autan.services import services_of

FORM_COOKIE = "autan_form"
_FORM_MAX_AGE = 2 * 3600


class FormError(InvalidRequest):
    """A field the user must correct; `message` is an English msgid, `values` fill it in."""

    code = "invalid_form"

    def __init__(self, message: str, param: str, **values: Any) -> None:
        super().__init__(message, param=param, values=values)


def _serializer(request: Request) -> URLSafeTimedSerializer:
    secret = services_of(request).settings.resolved_secret_key()
    return URLSafeTimedSerializer(secret, salt="autan.form-csrf")


def _cookie_nonce(request: Request) -> str | None:
    value = request.cookies.get(FORM_COOKIE)
    if not value:
        return None
    try:
        nonce = _serializer(request).loads(value, max_age=_FORM_MAX_AGE)
    except BadSignature:
        return None
    return nonce if isinstance(nonce, str) else None


def form_token(request: Request) -> str:
    """The token for an anonymous form: the browser's current one, or a new one."""
    return _cookie_nonce(request) or secrets.token_urlsafe(24)


def set_form_cookie(request: Request, response: Response, token: str) -> None:
    set_private_cookie(
        request,
        response,
        FORM_COOKIE,
        _serializer(request).dumps(token),
        max_age=_FORM_MAX_AGE,
        secure=services_of(request).settings.sessions.cookie_secure,
    )


def check_form_token(request: Request, form: FormData) -> None:
    """`CsrfFailed` unless the form's token matches the signed cookie."""
    nonce = _cookie_nonce(request)
    sent = form.get("form_token")
    if nonce is None or not isinstance(sent, str) or not hmac.compare_digest(nonce, sent):
        raise CsrfFailed()


def typed(form: FormData, *names: str, limit: int = 200) -> dict[str, str]:
    """What was typed in these fields (cut to `limit` characters), shown again on a refusal."""
    return {name: str(form.get(name, ""))[:limit] for name in names}


def text(form: FormData, name: str, max_length: int, *, strip: bool = True) -> str:
    """A text field, at most `max_length` characters; missing means empty."""
    value = form.get(name, "")
    if not isinstance(value, str):
        raise FormError("This field must be text.", name)
    value = value.strip() if strip else value
    if len(value) > max_length:
        raise FormError("This field is too long ({max} characters at most).", name, max=max_length)
    return value


def whole_number(form: FormData, name: str, low: int, high: int) -> int | None:
    """An optional whole number between `low` and `high`; empty means None."""
    value = text(form, name, 20)
    if not value:
        return None
    try:
        number = int(value)
    except ValueError:
        raise FormError("Enter a whole number.", name) from None
    if not low <= number <= high:
        raise FormError("Enter a number between {low} and {high}.", name, low=low, high=high)
    return number
