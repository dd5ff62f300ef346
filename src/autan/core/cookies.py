"""The one policy for Autan's cookies: HttpOnly, SameSite=Lax, Secure over HTTPS."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response


def set_private_cookie(
    request: Request,
    response: Response,
    name: str,
    value: str,
    *,
    max_age: int,
    secure: bool | None,
    path: str = "/",
) -> None:
    """Set a cookie scripts cannot read, sent on top-level navigations, Secure over HTTPS.

    `secure` (the setting `sessions.cookie_secure`) forces Secure on or off (e.g. behind a
    TLS-terminating proxy that does not forward the scheme); `None` follows the request's scheme.
    """
    response.set_cookie(
        name,
        value,
        max_age=max_age,
        httponly=True,
        samesite="lax",
        secure=request.url.scheme == "https" if secure is None else secure,
        path=path,
    )
