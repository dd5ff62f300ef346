"""Errors on the pages of the web UI: an HTML page in the reader's language, not JSON."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from babel.numbers import format_decimal
from babel.support import Translations
from fastapi import Request, Response
from fastapi.responses import RedirectResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from autan.core.errors import AutanError, Plural
from autan.services import Services, services_of
from autan.web.templating import Templates, request_language

# Paths whose clients are programs: they keep the JSON errors.
_API_PREFIXES = ("/v1", "/api", "/auth/", "/health", "/metrics", "/openapi.json", "/docs", "/redoc")
_PAGE_PATHS = ("/auth/welcome",)

_TITLES = {
    400: "The request could not be processed",
    401: "Please sign in",
    403: "Access denied",
    404: "Page not found",
    405: "Page not found",
    413: "Too much data",
    429: "Too many attempts",
    500: "Something went wrong",
    503: "Service temporarily unavailable",
}

_GENERIC = {
    400: "Some of the information sent is not valid.",
    404: "This page does not exist, or you do not have access to it.",
    405: "This page does not exist, or you do not have access to it.",
    500: "Something went wrong on our side. Please try again.",
    503: "The service is temporarily unavailable. Please try again in a moment.",
}


def wants_page(request: Request) -> bool:
    """A browser on a page of the UI, as opposed to a program calling the API."""
    path = request.url.path
    if path not in _PAGE_PATHS and path.startswith(_API_PREFIXES):
        return False
    accept = request.headers.get("accept", "")
    return not accept or "text/html" in accept or "*/*" in accept


def translate(request: Request, exc: Exception) -> str:
    """The message of an error for its reader: translated whole, with its values filled in."""
    if not isinstance(exc, AutanError):
        return ""
    templates: Templates = services_of(request).templates
    return fill_in(templates, request_language(request), exc.template, exc.values)


def fill_in(templates: Templates, lang: str, template: str, values: Mapping[str, Any]) -> str:
    """A message template in the reader's language, its values filled in: words translated
    ("slides", "a Word document"), counted words in the language's plural form."""
    translations = templates.translations[lang]
    text = translations.gettext(template)
    if not values:
        return text
    return text.format(**{name: _value(translations, v, lang) for name, v in values.items()})


def _value(translations: Translations, value: Any, lang: str) -> Any:
    plural = _as_plural(value)
    if plural is not None:
        return translations.ngettext(plural.singular, plural.plural, plural.number).format(
            count=plural.number
        )
    if isinstance(value, tuple | list):
        # Several counted words ("2 hours 5 minutes"); lists come back from JSON columns.
        return " ".join(str(_value(translations, part, lang)) for part in value)
    if isinstance(value, str):
        return translations.gettext(value)
    if isinstance(value, int) and not isinstance(value, bool):
        # Digits grouped as the reader's language does (French: a narrow space).
        return format_decimal(value, locale=lang)
    return value


def _as_plural(value: Any) -> Plural | None:
    if isinstance(value, Plural):
        return value
    # A Plural stored in a JSON column reads back as a list of three.
    if (
        isinstance(value, list)
        and len(value) == 3
        and isinstance(value[0], str)
        and isinstance(value[1], str)
        and isinstance(value[2], int)
    ):
        return Plural(*value)
    return None


def html_page(request: Request, exc: Exception, status: int) -> Response | None:
    """The error page for a UI request; a visitor who must sign in is sent to /login."""
    # Without a running lifespan there are no templates to render a page with.
    services: Services | None = getattr(request.state, "services", None)
    if services is None or not wants_page(request):
        return None
    if status == 401:
        return RedirectResponse("/login", status_code=303)
    templates = services.templates
    message = translate(request, exc) if isinstance(exc, AutanError) else ""
    if not message:
        lang = request_language(request)
        message = templates.gettext(lang, _GENERIC.get(status, _GENERIC[500]))
    page = templates.render(
        request,
        "error.html",
        {"status": status, "title": _TITLES.get(status, _TITLES[500]), "message": message},
        status_code=status,
    )
    if isinstance(exc, StarletteHTTPException) and exc.headers:
        page.headers.update(exc.headers)
    if status == 503:
        page.headers["Retry-After"] = "5"
    return page
