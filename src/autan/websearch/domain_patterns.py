"""The domains an organisation lets web search read, or never read, as its referents type them.

One pattern a line: `legifrance.gouv.fr` covers that site and its subdomains
(`www.legifrance.gouv.fr`); `*.gouv.fr` covers every site ending in `.gouv.fr` (and `gouv.fr`
itself, which `DomainRules` matches the same way). An IP address names one host (intranets,
tests). Anything else (an address with `https://`, a path, a star in the middle) is refused
with the line and what was typed, so the referent knows what to fix.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable

from autan.core.errors import InvalidRequest

MAX_PATTERNS = 200
MAX_LENGTH = 253
_LABEL = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)$")


# One msgid per list: the page has two, and the message says which one to fix.
_NOT_A_DOMAIN = {
    "web_allowed_domains": "“Only these sites”, line {line}: “{pattern}” is not a domain. "
    "Write one domain per line, such as legifrance.gouv.fr or *.gouv.fr, without https:// "
    "or a path.",
    "web_blocked_domains": "“Never these sites”, line {line}: “{pattern}” is not a domain. "
    "Write one domain per line, such as legifrance.gouv.fr or *.gouv.fr, without https:// "
    "or a path.",
}


class DomainPatternInvalid(InvalidRequest):
    """A line of a domain list is not a domain pattern."""

    code = "web_domain_invalid"

    def __init__(self, pattern: str, line: int, param: str) -> None:
        super().__init__(
            _NOT_A_DOMAIN.get(param, _NOT_A_DOMAIN["web_allowed_domains"]),
            param=param,
            values={"line": line, "pattern": pattern[:80]},
        )


class TooManyDomainPatterns(InvalidRequest):
    """A domain list is longer than the platform keeps."""

    code = "web_domains_too_many"

    def __init__(self, param: str) -> None:
        super().__init__(
            "A list may hold {limit} domains at most.", param=param, values={"limit": MAX_PATTERNS}
        )


def lines_of(text: str) -> list[str]:
    """The non-empty lines of a text area (commas separate too), stripped."""
    return [item.strip() for item in text.replace(",", "\n").splitlines() if item.strip()]


def _normalised(pattern: str) -> str | None:
    """The pattern in lower case and ASCII (IDN as punycode), or None if it is not one."""
    text = pattern.strip().lower().rstrip(".")
    wildcard = text.startswith("*.")
    body = text.removeprefix("*.")
    if not body or len(text) > MAX_LENGTH:
        return None
    try:
        ipaddress.ip_address(body.strip("[]"))
    except ValueError:
        pass
    else:
        return None if wildcard else body.strip("[]")
    try:
        body = body.encode("idna").decode("ascii")
    except UnicodeError:
        return None
    if not all(_LABEL.match(label) for label in body.split(".")):
        return None
    return f"*.{body}" if wildcard else body


def parse_patterns(patterns: Iterable[str], param: str) -> list[str] | None:
    """The list as stored (normalised, each once, in the order typed), None when empty;
    DomainPatternInvalid names the first line that is not a domain."""
    kept: list[str] = []
    for line, pattern in enumerate(patterns, 1):
        normalised = _normalised(pattern)
        if normalised is None:
            raise DomainPatternInvalid(pattern.strip(), line, param)
        if normalised not in kept:
            kept.append(normalised)
    if len(kept) > MAX_PATTERNS:
        raise TooManyDomainPatterns(param)
    return kept or None
