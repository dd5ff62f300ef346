"""The research worker of a process, built only where web search is configured."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from autan.accounts.org_policy import OrgPolicies
from autan.llm.client import ModelClient
from autan.research.worker import ResearchWorker
from autan.settings import Settings
from autan.websearch.runtime import WebRuntime


def research_runner(
    settings: Settings,
    factory: async_sessionmaker[AsyncSession],
    models: ModelClient,
    web: WebRuntime,
    policies: OrgPolicies,
) -> ResearchWorker | None:
    """A worker for deep-research runs, or None when the deployment cannot search."""
    if not settings.research.enabled or web.search is None:
        return None
    return ResearchWorker(factory, models, web.search, policies, settings.research)
