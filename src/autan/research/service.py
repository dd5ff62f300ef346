"""Deep-research runs of one person: start, read, stop. Every query is scoped to its owner."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import timedelta

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from autan.accounts import audit
from autan.accounts.models import Organisation
from autan.accounts.principal import Principal
from autan.core.db import utcnow
from autan.quotas.service import Quotas
from autan.research.errors import (
    ResearchDailyLimit,
    ResearchForbidden,
    ResearchNotFound,
    ResearchQuestionInvalid,
    TooManyResearches,
)
from autan.research.models import FINAL, ResearchJob, ResearchStatus
from autan.research.settings import ResearchSettings
from autan.websearch.chat import WebGrounding

MIN_QUESTION, MAX_QUESTION = 10, 2000
RECENT = 50  # runs listed on the page


class Research:
    """Starts and stops runs for their owners; a worker (here or elsewhere) runs them."""

    def __init__(
        self,
        factory: async_sessionmaker[AsyncSession],
        settings: ResearchSettings,
        web: WebGrounding,
        quotas: Quotas,
        wake: Callable[[], None] | None = None,
    ) -> None:
        self._factory = factory
        self._settings = settings
        self._web = web
        self._quotas = quotas
        self._wake = wake

    async def allowed(self, principal: Principal) -> bool:
        """Whether this person may start a run (deployment and organisation allow it)."""
        return self._settings.enabled and await self._web.research_allowed(principal)

    async def start(
        self, principal: Principal, question: str, model: str, lang: str
    ) -> ResearchJob:
        """Queue a run for the question; it counts as one request of the person's quota."""
        question = " ".join(question.split())
        if not await self.allowed(principal):
            raise ResearchForbidden()
        if not MIN_QUESTION <= len(question) <= MAX_QUESTION:
            raise ResearchQuestionInvalid()
        await self._quotas.check(principal)
        async with self._factory() as session:
            going = await session.scalar(
                select(func.count())
                .select_from(ResearchJob)
                .where(
                    ResearchJob.user_id == principal.user_id,
                    ResearchJob.status.in_((ResearchStatus.QUEUED, ResearchStatus.RUNNING)),
                )
            )
            if int(going or 0) >= self._settings.max_running_per_user:
                raise TooManyResearches()
            limits = await self._limits(session, principal)
            if await _runs_today(session, principal) >= limits["max_runs_per_day"]:
                raise ResearchDailyLimit(limits["max_runs_per_day"])
            job = ResearchJob(
                user_id=principal.user_id,
                org_id=principal.org_id,
                question=question,
                lang="en" if lang == "en" else "fr",
                model=model,
                status=ResearchStatus.QUEUED,
                limits=limits,
                plan=[],
                steps=[],
                sources=[],
                report="",
                progress=0.0,
                tokens_used=0,
            )
            session.add(job)
            audit.record(
                session,
                audit.Action.DEEP_RESEARCH,
                actor_id=principal.user_id,
                org_id=principal.org_id,
            )
            await session.commit()
            await session.refresh(job)
            session.expunge(job)
        if self._wake is not None:
            self._wake()
        return job

    async def _limits(self, session: AsyncSession, principal: Principal) -> dict[str, int]:
        overrides = await session.scalar(
            select(Organisation.research_limits).where(Organisation.id == principal.org_id)
        )
        return self._settings.limits(overrides)

    async def daily_runs(self, principal: Principal) -> tuple[int, int]:
        """Runs this person started in the last 24 hours, and how many they may start."""
        async with self._factory() as session:
            limit = (await self._limits(session, principal))["max_runs_per_day"]
            return await _runs_today(session, principal), limit


async def _runs_today(session: AsyncSession, principal: Principal) -> int:
    """Runs started by this person in the last 24 hours (the daily cap's window)."""
    count = await session.scalar(
        select(func.count())
        .select_from(ResearchJob)
        .where(
            ResearchJob.user_id == principal.user_id,
            ResearchJob.created_at > utcnow() - timedelta(days=1),
        )
    )
    return int(count or 0)


async def owned(session: AsyncSession, principal: Principal, job_id: uuid.UUID) -> ResearchJob:
    """A run of this person, or ResearchNotFound (whoever else's it is)."""
    job = await session.scalar(
        select(ResearchJob).where(
            ResearchJob.id == job_id, ResearchJob.user_id == principal.user_id
        )
    )
    if job is None:
        raise ResearchNotFound()
    return job


async def recent(session: AsyncSession, principal: Principal) -> list[ResearchJob]:
    """This person's latest runs, newest first."""
    rows = await session.scalars(
        select(ResearchJob)
        .where(ResearchJob.user_id == principal.user_id)
        .order_by(ResearchJob.created_at.desc())
        .limit(RECENT)
    )
    return list(rows)


async def request_stop(session: AsyncSession, principal: Principal, job_id: uuid.UUID) -> None:
    """Ask a run to stop; it keeps what it found. A queued run stops at once."""
    job = await owned(session, principal, job_id)
    if job.status in FINAL:
        return
    await session.execute(
        update(ResearchJob)
        .where(ResearchJob.id == job.id, ResearchJob.status == ResearchStatus.QUEUED)
        .values(status=ResearchStatus.STOPPED, finished_at=utcnow(), stop_requested=True)
    )
    await session.execute(
        update(ResearchJob)
        .where(ResearchJob.id == job.id, ResearchJob.status == ResearchStatus.RUNNING)
        .values(stop_requested=True)
    )
    await session.commit()


async def delete(session: AsyncSession, principal: Principal, job_id: uuid.UUID) -> None:
    """Delete a finished run of this person."""
    job = await owned(session, principal, job_id)
    await session.delete(job)
    await session.commit()
