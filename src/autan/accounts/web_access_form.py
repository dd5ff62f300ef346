"""The "web access" part of an organisation's settings form: off / web search / web search
and deep research, and the organisation's deep-research limits within the platform's."""

from __future__ import annotations

from typing import Any

from starlette.datastructures import FormData

from autan.accounts.models import Organisation
from autan.research.settings import ORG_LIMITS, ResearchSettings
from autan.web import forms

# The three choices, as (web_search_allowed, deep_research_allowed).
WEB_ACCESS = {"off": (False, False), "search": (True, False), "research": (True, True)}


def web_access_of(org: Organisation) -> str:
    """The organisation's choice, from its two flags."""
    if not org.web_search_allowed:
        return "off"
    return "research" if org.deep_research_allowed else "search"


def typed_web_access(form: FormData) -> dict[str, Any]:
    """What was typed in this part of the form, shown again when it is refused."""
    return {
        "web_access": str(form.get("web_access", "off"))[:20],
        "research_limits": {
            name: str(form.get(f"research_{name}", ""))[:20] for name in ORG_LIMITS
        },
    }


def web_access_changes(form: FormData, platform: ResearchSettings) -> dict[str, Any]:
    """The organisation fields this part of the form sets; a limit above the platform's
    maximum, or not a whole number, is refused (FormError) naming the field."""
    choice = form.get("web_access", "off")
    if choice not in WEB_ACCESS:
        raise forms.FormError("Choose what the organisation may do on the web.", "web_access")
    search, research = WEB_ACCESS[str(choice)]
    limits: dict[str, int] = {}
    for name in ORG_LIMITS:
        value = forms.whole_number(form, f"research_{name}", 1, int(getattr(platform, name)))
        if value is not None:
            limits[name] = value
    return {
        "web_search_allowed": search,
        "deep_research_allowed": research,
        "research_limits": limits or None,
    }


def web_access_context(org: Organisation, platform: ResearchSettings) -> dict[str, Any]:
    """What the settings page shows of this part: the choice, the limits, the maxima."""
    return {
        "web_access": web_access_of(org),
        "research_limits": {name: (org.research_limits or {}).get(name) for name in ORG_LIMITS},
        "research_max": {name: int(getattr(platform, name)) for name in ORG_LIMITS},
    }
