"""Why a link (pasted, or a search result) was not read, in plain words for the sources area.

The reasons are `FetchRefused.reason`; the messages are catalogue ids (English), translated
where they are shown (the page's template, the chat script's strings).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

UNREADABLE = "The page could not be read."
REFUSAL_MESSAGES: dict[str, str] = {
    "address": "This address is on a private or internal network: it is never read.",
    "dns": "This address could not be found.",
    "credentials": "Links carrying a user name or a password are never read.",
    "domain": "Domain not allowed by your organisation.",
    "scheme": "Only web addresses (http, https) are read.",
    "bad_url": "This address is not a valid web address.",
    "too_large": "The page is too large to be read.",
    "content_type": "Only web pages, PDF and text files are read.",
    "timeout": "The page did not answer in time.",
    "budget": "The page did not answer in time.",
    "redirects": "The page redirects too many times.",
    "empty": "No text could be found on the page.",
}


def refusal_message(reason: str) -> str:
    """The catalogue id that says, in plain words, why a page was not read."""
    return REFUSAL_MESSAGES.get(reason, UNREADABLE)


def refused_links(refused: dict[str, str], pasted: Iterable[str]) -> list[dict[str, Any]]:
    """The links (pasted, or found by the search) that were not read, as unnumbered items of
    the answer's sources."""
    return [
        {
            "kind": "web_refused",
            "url": url,
            "reason": refused[url],
            "message": refusal_message(refused[url]),
        }
        for url in pasted
        if url in refused
    ]
