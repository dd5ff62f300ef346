"""Jinja2 templates in the reader's language (French by default, English available).

The catalogues are `.po` files read once when the application starts and compiled in memory
(`babel.messages.pofile.read_po` → `babel.support.Translations`): nothing binary is kept in
the repository, and an edited `.po` needs no separate compile step to take effect.
Message ids are the English text, so an untranslated message still reads in plain English.

Templates live beside their features: `<feature>/templates/` holds that feature's pages and
fragments, under the names the pages render them by (`chat/page.html` is
`chat/templates/chat/page.html`); `web/templates/` keeps only what every feature shares (the
layout `base.html`, error pages, shared partials and macros). One loader looks in all these
folders; a name found in two of them is refused at start, as one would silently hide the other.
"""

from __future__ import annotations

import io
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import Translations
from fastapi import Request
from fastapi.responses import HTMLResponse
from jinja2 import BaseLoader, ChoiceLoader, Environment, FileSystemLoader, select_autoescape

from autan.websearch.refusals import REFUSAL_MESSAGES, UNREADABLE

HERE = Path(__file__).parent
PACKAGE = HERE.parent
STATIC_DIR = HERE / "static"
LANGUAGES = ("fr", "en")
DEFAULT_LANGUAGE = "fr"
LANG_COOKIE = "lang"
# Pages load only their own scripts and styles: no inline script, no third party.
_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "object-src 'none'; base-uri 'none'; frame-ancestors 'none'"
)


def template_folders() -> list[Path]:
    """The shared templates folder, then each feature's, in a fixed order."""
    shared = HERE / "templates"
    features = sorted(p for p in PACKAGE.glob("*/templates") if p.is_dir() and p != shared)
    return [shared, *features]


def template_loader() -> BaseLoader:
    """One loader over every templates folder; RuntimeError if two folders hold one name."""
    folders = template_folders()
    owner: dict[str, Path] = {}
    for folder in folders:
        for path in folder.rglob("*.html"):
            name = path.relative_to(folder).as_posix()
            if name in owner:
                raise RuntimeError(f"template {name} is in both {owner[name]} and {folder}")
            owner[name] = folder
    return ChoiceLoader([FileSystemLoader(folder) for folder in folders])


_SHARED: dict[tuple[tuple[str, int], ...], Templates] = {}


def load_translations(lang: str) -> Translations:
    """The catalogue of a language, compiled in memory.

    Each feature keeps its messages in its own `.po` file beside `messages.po` (`chat.po`,
    `documents.po`, ...); they are merged into one catalogue here.
    """
    folder = HERE / "locales" / lang / "LC_MESSAGES"
    with (folder / "messages.po").open("rb") as po:
        catalog = read_po(po, locale=lang)
    for path in sorted(folder.glob("*.po")):
        if path.name == "messages.po":
            continue
        with path.open("rb") as po:
            for message in read_po(po, locale=lang):
                if message.id:
                    catalog[message.id] = message
    buffer = io.BytesIO()
    write_mo(buffer, catalog)
    buffer.seek(0)
    return Translations(buffer)


def _catalogue_stamp() -> tuple[tuple[str, int], ...]:
    """Which catalogues there are, and when each was last written."""
    return tuple(
        (str(path), path.stat().st_mtime_ns)
        for lang in LANGUAGES
        for path in sorted((HERE / "locales" / lang / "LC_MESSAGES").glob("*.po"))
    )


def request_language(request: Request) -> str:
    """The `lang` cookie, else the first supported language of `Accept-Language`, else fr."""
    chosen = request.cookies.get(LANG_COOKIE, "")
    if chosen in LANGUAGES:
        return chosen
    weighted: list[tuple[float, int, str]] = []
    for index, part in enumerate(request.headers.get("accept-language", "").split(",")):
        tag, _, params = part.strip().partition(";")
        quality = 1.0
        if params.strip().startswith("q="):
            try:
                quality = float(params.strip()[2:])
            except ValueError:
                quality = 0.0
        primary = tag.strip().lower().split("-")[0]
        if primary in LANGUAGES and quality > 0:
            weighted.append((-quality, index, primary))
    return min(weighted)[2] if weighted else DEFAULT_LANGUAGE


class Templates:
    """One Jinja2 environment per language, each with its catalogue installed."""

    # Holds no state of an application: shared by those of a process (`shared`).

    def __init__(self) -> None:
        self._envs: dict[str, Environment] = {}
        self.translations: dict[str, Translations] = {}
        loader = template_loader()
        for lang in LANGUAGES:
            env = Environment(
                loader=loader,
                autoescape=select_autoescape(default=True),
                extensions=["jinja2.ext.i18n", "jinja2.ext.do"],
                trim_blocks=True,
                lstrip_blocks=True,
            )
            translations = load_translations(lang)
            env.install_gettext_translations(translations, newstyle=True)  # type: ignore[attr-defined]
            env.globals["web_refusals"] = {**REFUSAL_MESSAGES, "other": UNREADABLE}
            self._envs[lang] = env
            self.translations[lang] = translations

    @classmethod
    def shared(cls) -> Templates:
        """The process's templates, built once: compiling every template and catalogue again
        for each application costs about a second of CPU (the tests build hundreds of them).
        Templates still reload when their file changes; a changed catalogue gives new ones."""
        key = _catalogue_stamp()
        if (found := _SHARED.get(key)) is None:
            _SHARED.clear()
            found = _SHARED[key] = cls()
        return found

    def gettext(self, lang: str, message: str) -> str:
        return self.translations[lang].gettext(message)

    def render(
        self,
        request: Request,
        name: str,
        context: Mapping[str, Any] | None = None,
        *,
        status_code: int = 200,
    ) -> HTMLResponse:
        lang = request_language(request)
        page = self._envs[lang].get_template(name)
        html = page.render({"request": request, "lang": lang, **(context or {})})
        response = HTMLResponse(html, status_code=status_code)
        response.headers["Cache-Control"] = "no-store"
        response.headers["Content-Security-Policy"] = _CSP
        response.headers["X-Frame-Options"] = "DENY"
        response.headers["Referrer-Policy"] = "same-origin"
        return response
