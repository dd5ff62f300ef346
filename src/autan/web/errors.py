"""Errors on the pages of the web UI: an HTML page in the reader's language, not JSON."""

from __future__ import annotations

from typing import Any

from fastapi import Request, Response
from fastapi.responses import RedirectResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from autan.core.errors import AutanError
from autan.documents.extraction.errors import ExtractionError
from autan.web.forms import FormError
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
    """The message of an error for its reader: translated, with its values filled in."""
    templates: Templates = request.state.templates
    lang = request_language(request)
    if isinstance(exc, FormError):
        return templates.gettext(lang, exc.message).format(**exc.values)
    if isinstance(exc, ExtractionError):
        return fill_in(templates, lang, exc.template, exc.values)
    if isinstance(exc, AutanError):
        return templates.gettext(lang, exc.message)
    return ""


def fill_in(templates: Templates, lang: str, template: str, values: dict[str, Any]) -> str:
    """A message template in the reader's language, its values filled in (and translated,
    for the words among them: "slides", "a Word document")."""
    if not values:
        return templates.gettext(lang, template)
    translated = {
        name: templates.gettext(lang, value) if isinstance(value, str) else value
        for name, value in values.items()
    }
    return templates.gettext(lang, template).format(**translated)


def html_page(request: Request, exc: Exception, status: int) -> Response | None:
    """The error page for a UI request; a visitor who must sign in is sent to /login."""
    templates: Templates | None = getattr(request.state, "templates", None)
    if templates is None or not wants_page(request):
        return None
    if status == 401:
        return RedirectResponse("/login", status_code=303)
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
