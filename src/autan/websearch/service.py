"""Web search for one question: queries, engine results, pages read, numbered sources.

A dead or slow engine, or pages that cannot be read, never stop the answer: the findings
then carry a notice and the answer goes on with what was found (possibly nothing).
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from typing import Any, Literal
from urllib.parse import urlsplit

import structlog

from autan.websearch.addresses import DomainRules
from autan.websearch.engine import SearchEngine, SearchResult
from autan.websearch.errors import EngineUnavailable, FetchRefused
from autan.websearch.fetcher import Page, SafeFetcher
from autan.websearch.passages import best_passage, links_in, queries_for, site_of
from autan.websearch.settings import WebSettings

log = structlog.get_logger(__name__)

Notice = Literal["engine_unavailable", "nothing_read", "off_domain"]
MAX_OFF_DOMAIN_SHOWN = 5  # search results outside the organisation's domains, listed


@dataclass(frozen=True, slots=True)
class WebSource:
    """A page read for an answer, and the passage of it given to the model."""

    url: str
    title: str
    site: str
    passage: str
    published: str | None = None
    pasted: bool = False  # a link the person pasted, rather than a search result

    def as_source(self, number: int) -> dict[str, Any]:
        """As stored with the answer and shown beside it (`document_name` for older views)."""
        return {
            "number": number,
            "kind": "web",
            "url": self.url,
            "title": self.title,
            "document_name": self.title,
            "site": self.site,
            "published": self.published,
            "excerpt": self.passage,
        }

    def as_search_result(self) -> dict[str, Any]:
        """One item of the API's `search_results`."""
        return {
            "object": "web_search_result",
            "url": self.url,
            "title": self.title,
            "site": self.site,
            "published": self.published,
            "content": self.passage,
        }


@dataclass(slots=True)
class WebFindings:
    """What one search found, and what went wrong on the way (for the reader)."""

    queries: list[str] = field(default_factory=list)
    sources: list[WebSource] = field(default_factory=list)
    notice: Notice | None = None
    refused: dict[str, str] = field(default_factory=dict)  # URL -> reason, for logs and tests
    # Search results outside the organisation's domains, not read (shown to the member).
    off_domain: list[str] = field(default_factory=list)
    seconds: float = 0.0


def _interleave(lists: list[list[SearchResult]]) -> list[SearchResult]:
    """Results of several queries, best of each first, each URL once."""
    merged: list[SearchResult] = []
    seen: set[str] = set()
    for rank in range(max((len(items) for items in lists), default=0)):
        for items in lists:
            if rank < len(items) and items[rank].url not in seen:
                seen.add(items[rank].url)
                merged.append(items[rank])
    return merged


class WebSearch:
    """Searches the engine and reads the best pages under the organisation's domain rules."""

    def __init__(
        self, engine: SearchEngine | None, fetcher: SafeFetcher, settings: WebSettings
    ) -> None:
        self._engine = engine
        self._fetcher = fetcher
        self._settings = settings

    @property
    def searching(self) -> bool:
        return self._engine is not None

    async def find(
        self,
        question: str,
        rules: DomainRules,
        lang: str,
        *,
        search: bool = True,
        pages: int | None = None,
    ) -> WebFindings:
        """Pages for the question: the links it holds, then (if `search`) the engine's;
        `pages` search results read at most (default: the deployment's setting)."""
        started = time.perf_counter()
        findings = WebFindings()
        candidates: list[SearchResult] = [
            SearchResult(url=url, title=url) for url in links_in(question)
        ]
        pasted = {c.url for c in candidates}
        if search and self._engine is not None:
            findings.queries = queries_for(question)
            results = await self._search(findings, lang)
            candidates += self._within(rules, [r for r in results if r.url not in pasted], findings)
        findings.sources = await self._read(
            candidates, pasted, question, rules, findings, pages or self._settings.pages_to_read
        )
        if candidates and not findings.sources and findings.notice is None:
            findings.notice = "nothing_read"
        elif findings.off_domain and not findings.sources and findings.notice is None:
            findings.notice = "off_domain"
        findings.seconds = time.perf_counter() - started
        log.info(
            "web_search",
            queries=len(findings.queries),
            candidates=len(candidates),
            read=len(findings.sources),
            refused=sorted(set(findings.refused.values())),
            notice=findings.notice,
            seconds=round(findings.seconds, 3),
        )
        return findings

    @staticmethod
    def _within(
        rules: DomainRules, results: list[SearchResult], findings: WebFindings
    ) -> list[SearchResult]:
        """The results on the organisation's domains; the others are set aside before any
        reading, so that they take no place of a page that may be read."""
        kept = []
        for result in results:
            if rules.permits(_host(result.url)):
                kept.append(result)
            elif len(findings.off_domain) < MAX_OFF_DOMAIN_SHOWN:
                findings.refused[result.url] = "domain"
                findings.off_domain.append(result.url)
        return kept

    async def _search(self, findings: WebFindings, lang: str) -> list[SearchResult]:
        assert self._engine is not None
        engine = self._engine
        limit = self._settings.results_per_query
        answers = await asyncio.gather(
            *(engine.search(q, lang=lang, limit=limit) for q in findings.queries),
            return_exceptions=True,
        )
        lists = [a for a in answers if isinstance(a, list)]
        for answer in answers:
            if isinstance(answer, BaseException) and not isinstance(answer, EngineUnavailable):
                raise answer
        if not lists:
            findings.notice = "engine_unavailable"
        return _interleave(lists)

    async def _read(
        self,
        candidates: list[SearchResult],
        pasted: set[str],
        question: str,
        rules: DomainRules,
        findings: WebFindings,
        pages: int,
    ) -> list[WebSource]:
        wanted = pages + len(pasted)
        # A few spares are read at once, in case some pages cannot be.
        batch = candidates[: wanted + 2]
        if not batch:
            return []
        tasks = [asyncio.create_task(self._fetcher.fetch(c.url, rules)) for c in batch]
        read: dict[int, WebSource | None] = {}  # candidate -> its source (None: unusable)
        deadline = asyncio.get_running_loop().time() + self._settings.read_budget
        pending = set(tasks)
        # Early cut-off: once the best `wanted` readable candidates are known, the spares
        # still loading are not waited for.
        try:
            while pending and not _enough(read, len(batch), wanted):
                timeout = deadline - asyncio.get_running_loop().time()
                if timeout <= 0:
                    break
                done, pending = await asyncio.wait(
                    pending, timeout=timeout, return_when=asyncio.FIRST_COMPLETED
                )
                for number, task in enumerate(tasks):
                    if task in done:
                        read[number] = self._source(batch[number], task, pasted, question, findings)
        finally:
            for task in pending:
                task.cancel()
            if pending:
                await asyncio.wait(pending)
        if not _enough(read, len(batch), wanted):
            # The time budget ran out (spares cut off early were simply not needed).
            for number, candidate in enumerate(batch):
                if number not in read:
                    findings.refused[candidate.url] = "budget"
        sources = [read[n] for n in sorted(read) if read[n] is not None]
        return [s for s in sources if s is not None][:wanted]

    def _source(
        self,
        candidate: SearchResult,
        task: asyncio.Task[Page],
        pasted: set[str],
        question: str,
        findings: WebFindings,
    ) -> WebSource | None:
        """The source a finished read gives, or None (refused, or no passage)."""
        error = task.exception()
        if isinstance(error, FetchRefused):
            findings.refused[candidate.url] = error.reason
            return None
        if error is not None:
            raise error
        page = task.result()
        passage = best_passage(page.text, question)
        if not passage:
            return None
        return WebSource(
            url=page.url,
            title=page.title or candidate.title or page.url,
            site=page.site or site_of(page.url),
            passage=passage,
            published=page.published or candidate.published,
            pasted=candidate.url in pasted,
        )


def _host(url: str) -> str:
    try:
        return urlsplit(url).hostname or ""
    except ValueError:
        return ""  # not read anyway: the fetcher refuses it as a bad address


def _enough(read: dict[int, WebSource | None], size: int, wanted: int) -> bool:
    """Whether the first `wanted` usable candidates, in rank order, are all known."""
    usable = 0
    for number in range(size):
        if number not in read:
            return False
        if read[number] is not None:
            usable += 1
            if usable >= wanted:
                return True
    return True
