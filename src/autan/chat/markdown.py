"""Markdown to safe HTML on the server, for stored answers (the page renders live ones)."""

from __future__ import annotations

from functools import lru_cache

import nh3
from markdown_it import MarkdownIt

_TAGS = {
    "p",
    "br",
    "hr",
    "em",
    "strong",
    "del",
    "code",
    "pre",
    "blockquote",
    "ul",
    "ol",
    "li",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "table",
    "thead",
    "tbody",
    "tr",
    "th",
    "td",
    "a",
    "span",
}
_ATTRIBUTES = {
    "a": {"href", "title"},
    "code": {"class"},
    "th": {"style"},
    "td": {"style"},
    "ol": {"start"},
}


@lru_cache(maxsize=1)
def _parser() -> MarkdownIt:
    # No raw HTML from the model: it is text, and "html": False escapes it.
    return (
        MarkdownIt("commonmark", {"html": False, "linkify": False})
        .enable("table")
        .enable("strikethrough")
    )


def to_html(text: str) -> str:
    """Sanitised HTML of a Markdown answer: no script, no style, no foreign attributes."""
    html = _parser().render(text)
    return nh3.clean(
        html,
        tags=_TAGS,
        attributes=_ATTRIBUTES,
        url_schemes={"http", "https", "mailto"},
        link_rel="noopener noreferrer nofollow",
    )
