"""The "web access" part of an organisation's settings form: off / web search / web search
and deep research, the domains web search may or may not read, and the organisation's web
limits (deep-research runs, web search quotas) within the platform's."""

from __future__ import annotations

from typing import Any

from starlette.datastructures import FormData

from autan.accounts.models import Organisation
from autan.quotas.policy import SEARCH_LIMITS, QuotaSettings
from autan.research.settings import ORG_LIMITS, ResearchSettings
from autan.web import forms
from autan.websearch.domain_patterns import lines_of

# The three choices, as (web_search_allowed, deep_research_allowed).
WEB_ACCESS = {"off": (False, False), "search": (True, False), "research": (True, True)}
DOMAIN_LISTS = ("web_allowed_domains", "web_blocked_domains")
# Upper bound of a search quota field when the platform sets no limit.
_NO_PLATFORM_LIMIT = 1_000_000


def web_access_of(org: Organisation) -> str:
    """The organisation's choice, from its two flags."""
    if not org.web_search_allowed:
        return "off"
    return "research" if org.deep_research_allowed else "search"


def _search_max(quotas: QuotaSettings) -> dict[str, int]:
    return {name: int(getattr(quotas, name) or _NO_PLATFORM_LIMIT) for name in SEARCH_LIMITS}


def typed_web_access(form: FormData) -> dict[str, Any]:
    """What was typed in this part of the form, shown again when it is refused."""
    return {
        "web_access": str(form.get("web_access", "off"))[:20],
        "research_limits": {
            name: str(form.get(f"research_{name}", ""))[:20] for name in ORG_LIMITS
        },
        "search_limits": {name: str(form.get(name, ""))[:20] for name in SEARCH_LIMITS},
        **{name: str(form.get(name, ""))[:20_000] for name in DOMAIN_LISTS},
    }


def web_access_changes(
    form: FormData, platform: ResearchSettings, quotas: QuotaSettings
) -> dict[str, Any]:
    """The organisation fields this part of the form sets; a limit above the platform's
    maximum, or not a whole number, is refused (FormError) naming the field. The domain
    lists are lines; `org_management.update_org` checks each one."""
    choice = form.get("web_access", "off")
    if choice not in WEB_ACCESS:
        raise forms.FormError("Choose what the organisation may do on the web.", "web_access")
    search, research = WEB_ACCESS[str(choice)]
    limits: dict[str, int] = {}
    for name in ORG_LIMITS:
        value = forms.whole_number(form, f"research_{name}", 1, int(getattr(platform, name)))
        if value is not None:
            limits[name] = value
    for name, highest in _search_max(quotas).items():
        value = forms.whole_number(form, name, 1, highest)
        if value is not None:
            limits[name] = value
    domain_lists = {name: lines_of(forms.text(form, name, 20_000)) or None for name in DOMAIN_LISTS}
    return {
        "web_search_allowed": search,
        "deep_research_allowed": research,
        "research_limits": limits or None,
        **domain_lists,
    }


def web_access_context(
    org: Organisation, platform: ResearchSettings, quotas: QuotaSettings
) -> dict[str, Any]:
    """What the settings page shows of this part: the choice, the lists, the limits and
    the platform's maxima."""
    saved = org.research_limits or {}
    return {
        "web_access": web_access_of(org),
        "research_limits": {name: saved.get(name) for name in ORG_LIMITS},
        "research_max": {name: int(getattr(platform, name)) for name in ORG_LIMITS},
        "search_limits": {name: saved.get(name) for name in SEARCH_LIMITS},
        "search_max": _search_max(quotas),
        "search_platform": {name: getattr(quotas, name) or None for name in SEARCH_LIMITS},
        "domain_lists": {name: "\n".join(getattr(org, name) or ()) for name in DOMAIN_LISTS},
    }
