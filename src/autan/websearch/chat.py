"""Web search in a chat turn or an API request: policy, quota, audit, then the findings."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from autan.accounts import audit
from autan.accounts.org_policy import OrgPolicies
from autan.accounts.principal import Principal
from autan.llm.client import ChatMessage
from autan.quotas.service import Quotas
from autan.retrieval.grounding import Lang
from autan.websearch.errors import WebSearchForbidden, WebSearchOff
from autan.websearch.passages import links_in
from autan.websearch.prompt import notice_text, with_web_sources
from autan.websearch.refusals import refused_links
from autan.websearch.service import WebFindings, WebSearch


@dataclass(slots=True)
class WebGrounded:
    """The messages with web sources, those sources, and what to say before the answer."""

    messages: list[ChatMessage]
    findings: WebFindings
    sources: list[dict[str, Any]] = field(default_factory=list)
    preface: str = ""


class WebGrounding:
    """Checks that a person may search, counts and records the search, then runs it."""

    def __init__(
        self,
        search: WebSearch | None,
        policies: OrgPolicies,
        quotas: Quotas,
        factory: async_sessionmaker[AsyncSession],
    ) -> None:
        self._search = search
        self._policies = policies
        self._quotas = quotas
        self._factory = factory

    @property
    def available(self) -> bool:
        """Whether the deployment has a search engine at all."""
        return self._search is not None

    async def allowed(self, principal: Principal) -> bool:
        """Whether this person's organisation lets them use web search here."""
        if self._search is None:
            return False
        return (await self._policies.of(principal.org_id)).web_search_allowed

    async def research_allowed(self, principal: Principal) -> bool:
        """Whether this person's organisation lets them run deep research too."""
        if not await self.allowed(principal):
            return False
        return (await self._policies.of(principal.org_id)).deep_research_allowed

    async def check(self, principal: Principal) -> None:
        """WebSearchOff or WebSearchForbidden unless this person may search the web."""
        if self._search is None:
            raise WebSearchOff()
        if not await self.allowed(principal):
            raise WebSearchForbidden()

    async def count_search(self, principal: Principal) -> None:
        """Count one web search against the person's quotas, or raise QuotaExceeded."""
        await self._quotas.check_search(principal)

    async def ground(
        self,
        principal: Principal,
        messages: list[ChatMessage],
        question: str,
        lang: Lang,
        first: int = 1,
        *,
        search: bool = True,
        pages: int | None = None,
        counted: bool = False,
    ) -> WebGrounded:
        """Search for the question (unless not `search`: then only the links pasted in it
        are read) and put the pages read, numbered from `first`, in the prompt.

        A search counts against the person's web search quotas, apart from model requests
        (`counted`: the caller already counted it with `count_search`, before storing the
        question); reading pasted links alone does not. Pasted links that could not be
        read, and search results outside the organisation's domains, join the sources,
        unnumbered, with the reason in plain words."""
        await self.check(principal)
        assert self._search is not None
        if search and not counted:
            await self._quotas.check_search(principal)
        async with self._factory() as session:
            audit.record(
                session,
                audit.Action.WEB_SEARCH,
                actor_id=principal.user_id,
                org_id=principal.org_id,
            )
            await session.commit()
        policy = await self._policies.of(principal.org_id)
        findings = await self._search.find(
            question, policy.web_domains, lang, search=search, pages=pages
        )
        sources = [s.as_source(n) for n, s in enumerate(findings.sources, first)]
        sources += refused_links(findings.refused, links_in(question))
        sources += refused_links(findings.refused, findings.off_domain)
        return WebGrounded(
            messages=with_web_sources(messages, findings.sources, first, lang, question),
            findings=findings,
            sources=sources,
            preface=notice_text(findings.notice, lang, bool(findings.sources)),
        )
