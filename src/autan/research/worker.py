"""The deep-research job runner: plan, rounds of search and reading, then the report.

A job is a `research_jobs` row, claimed like an ingestion job with a conditional UPDATE
(queued -> running) whose row count says whether this process won it. Each step is written
to the row as it happens, so the page shows it and a reload loses nothing. While it works
the runner refreshes `updated_at` and reads `stop_requested`; a run whose heartbeat stopped
(its process died) is marked interrupted, its report written from what it had found.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass, field
from typing import Any

import structlog
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from autan.accounts.models import User
from autan.accounts.org_policy import OrgPolicies
from autan.accounts.principal import Principal
from autan.core.db import rowcount, utcnow
from autan.core.errors import AutanError
from autan.core.job_loop import JobLoop, claim_oldest
from autan.core.tasks import cancel_and_wait
from autan.llm.client import ChatMessage, ModelClient
from autan.research import report as writing
from autan.research.followup import follow_ups
from autan.research.models import ResearchJob, ResearchStatus
from autan.research.settings import ResearchSettings
from autan.websearch.addresses import DomainRules
from autan.websearch.service import WebSearch

log = structlog.get_logger(__name__)

_CHARS_PER_TOKEN = 4  # the estimate of tokens used, for the run's budget


class _Gone(Exception):
    """The run was deleted, or taken from this process (marked interrupted), meanwhile."""


class _Halt(Exception):
    """The run must end now: `why` is "stopped" (its owner) or "limit" (time)."""

    def __init__(self, why: str) -> None:
        super().__init__(why)
        self.why = why


@dataclass
class _Run:
    job: ResearchJob
    deadline: float
    stop: asyncio.Event = field(default_factory=asyncio.Event)
    tokens: int = 0
    summary: str | None = None  # the model's, once checked


def _tokens(messages: list[ChatMessage], answer: str) -> int:
    size = sum(len(str(m.get("content", ""))) for m in messages) + len(answer)
    return size // _CHARS_PER_TOKEN + 1


class ResearchWorker(JobLoop[ResearchJob]):
    """Runs deep-research jobs in this process, `concurrency` at once.

    Stopped, it marks the runs in progress interrupted with what they found.
    """

    def __init__(
        self,
        factory: async_sessionmaker[AsyncSession],
        models: ModelClient,
        search: WebSearch,
        policies: OrgPolicies,
        settings: ResearchSettings,
    ) -> None:
        super().__init__("research", settings.poll_interval, settings.concurrency)
        self._factory = factory
        self._models = models
        self._search = search
        self._policies = policies
        self._settings = settings

    async def recover(self) -> int:
        """Mark interrupted the runs whose process stopped; their report keeps what they had."""
        stale = utcnow().timestamp() - self._settings.stale_after
        marked = 0
        async with self._factory() as session:
            rows = await session.scalars(
                select(ResearchJob).where(ResearchJob.status == ResearchStatus.RUNNING)
            )
            for job in [j for j in rows if j.updated_at.timestamp() < stale]:
                marked += await self._interrupt(session, job)
        if marked:
            log.warning("research_interrupted", runs=marked)
        return marked

    async def _interrupt(self, session: AsyncSession, job: ResearchJob) -> int:
        report = writing.build_report(
            job.question, job.plan, job.sources, job.lang, ended="interrupted"
        )
        done = await session.execute(
            update(ResearchJob)
            .where(ResearchJob.id == job.id, ResearchJob.status == ResearchStatus.RUNNING)
            .values(status=ResearchStatus.INTERRUPTED, report=report, finished_at=utcnow())
        )
        await session.commit()
        return rowcount(done)

    async def claim(self) -> ResearchJob | None:
        """Take the oldest queued run, unless another process takes it first."""
        return await claim_oldest(
            self._factory, ResearchJob, ResearchStatus.QUEUED, ResearchStatus.RUNNING
        )

    # --- one run -----------------------------------------------------------------------

    async def process(self, job: ResearchJob) -> None:
        """Run one claimed job to its end; never raises (but cancellation)."""
        loop = asyncio.get_running_loop()
        run = _Run(job, loop.time() + job.limits.get("max_seconds", self._settings.max_seconds))
        heartbeat = asyncio.create_task(self._heartbeat(run))
        try:
            await self._run(run)
        except _Gone:
            log.info("research_dropped", job_id=str(job.id))
        except asyncio.CancelledError:
            with contextlib.suppress(Exception):
                async with self._factory() as session:
                    await asyncio.shield(self._interrupt(session, job))
            raise
        except Exception as exc:
            log.exception("research_failed", job_id=str(job.id))
            with contextlib.suppress(_Gone):
                await self._finish(run, ResearchStatus.FAILED, None, error=repr(exc)[:500])
        finally:
            await cancel_and_wait(heartbeat)

    async def _heartbeat(self, run: _Run) -> None:
        """Show the run is alive, and notice when its owner asks it to stop."""
        while True:
            await asyncio.sleep(self._settings.heartbeat_interval)
            with contextlib.suppress(Exception):
                async with self._factory() as session:
                    await session.execute(
                        update(ResearchJob)
                        .where(ResearchJob.id == run.job.id)
                        .values(updated_at=utcnow())
                    )
                    wanted = await session.scalar(
                        select(ResearchJob.stop_requested).where(ResearchJob.id == run.job.id)
                    )
                    await session.commit()
                if wanted is None or wanted:
                    run.stop.set()

    async def _run(self, run: _Run) -> None:
        job = run.job
        principal = await self._principal(job)
        limits = job.limits
        ended: str | None = None
        try:
            job.plan = await self._bounded(run, self._plan(run, principal))
            await self._step(run, {"kind": "plan", "questions": job.plan}, plan=job.plan)
            rules = (await self._policies.of(job.org_id)).web_domains
            for index, sub in enumerate(job.plan):
                if len(job.sources) >= limits.get("max_pages", self._settings.max_pages):
                    await self._step(run, {"kind": "limit", "what": "pages"})
                    break
                await self._step(run, {"kind": "search", "query": sub})
                findings = await self._bounded(run, self._search.find(sub, rules, job.lang))
                await self._read(run, sub, findings.sources, findings.refused)
                job.progress = (index + 1) / (len(job.plan) + 1)
                await self._save(run, progress=job.progress, sources=job.sources)
            await self._follow_up(run, rules)
        except _Halt as halt:
            ended = halt.why
            if halt.why == "limit":
                await self._step(run, {"kind": "limit", "what": "time"})
        if ended is None and job.sources:
            run.summary = await self._summary(run, principal)
        status = ResearchStatus.STOPPED if ended == "stopped" else ResearchStatus.DONE
        await self._finish(run, status, ended)

    async def _follow_up(self, run: _Run, rules: DomainRules) -> None:
        """A second round for what the first missed, within the run's page and time limits
        (and its question limit: one follow-up per sub-question at most)."""
        job = run.job
        room = job.limits.get("max_pages", self._settings.max_pages)
        count = job.limits.get("max_questions", self._settings.max_questions)
        if len(job.sources) >= room:
            return  # the first round used every page (its limit step says so)
        for query, sub in follow_ups(job.plan, job.sources, count):
            if len(job.sources) >= room:
                await self._step(run, {"kind": "limit", "what": "pages"})
                return
            await self._step(run, {"kind": "search", "query": query, "follow_up": True})
            findings = await self._bounded(run, self._search.find(query, rules, job.lang))
            await self._read(run, sub, findings.sources, findings.refused)
            await self._save(run, sources=job.sources)

    async def _bounded(self, run: _Run, work: Any) -> Any:
        """Await `work` unless the owner stops the run or its time runs out first."""
        task = asyncio.ensure_future(work)
        stop = asyncio.ensure_future(run.stop.wait())
        remaining = run.deadline - asyncio.get_running_loop().time()
        try:
            done, _ = await asyncio.wait(
                {task, stop}, timeout=max(remaining, 0), return_when=asyncio.FIRST_COMPLETED
            )
        finally:
            stop.cancel()
        if task in done:
            return task.result()
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await task
        raise _Halt("stopped" if run.stop.is_set() else "limit")

    async def _plan(self, run: _Run, principal: Principal) -> list[str]:
        job = run.job
        count = job.limits.get("max_questions", self._settings.max_questions)
        if count <= 1:
            return [job.question]
        messages = writing.plan_messages(job.question, count - 1, job.lang)
        try:
            answer = await self._models.complete_chat(
                principal,
                job.model,
                messages,
                endpoint="research",
                max_tokens=self._settings.plan_tokens,
            )
        except AutanError as exc:
            # No plan from the model: the question alone is still worth searching.
            log.warning("research_plan_failed", error=exc.message)
            return [job.question]
        run.tokens += _tokens(messages, answer)
        return writing.parse_plan(answer, job.question, count)

    async def _read(self, run: _Run, sub: str, found: list[Any], refused: dict[str, str]) -> None:
        job = run.job
        known = {s["url"] for s in job.sources}
        room = job.limits.get("max_pages", self._settings.max_pages)
        for source in found:
            if source.url in known or len(job.sources) >= room:
                continue
            known.add(source.url)
            item = {**source.as_source(len(job.sources) + 1), "question": sub}
            job.sources = [*job.sources, item]
            await self._step(run, {"kind": "read", "url": source.url, "title": source.title})
        for url, reason in refused.items():
            if url not in known:
                await self._step(run, {"kind": "skipped", "url": url, "reason": reason})

    async def _summary(self, run: _Run, principal: Principal) -> str | None:
        job = run.job
        budget = job.limits.get("max_tokens", self._settings.max_tokens) - run.tokens
        messages = writing.summary_messages(job.question, job.sources, job.lang)
        if budget < _tokens(messages, "") + 50:
            await self._step(run, {"kind": "limit", "what": "tokens"})
            return None
        await self._step(run, {"kind": "writing"})
        try:
            answer = await self._bounded(
                run,
                self._models.complete_chat(
                    principal,
                    job.model,
                    messages,
                    endpoint="research",
                    max_tokens=min(self._settings.summary_tokens, budget - _tokens(messages, "")),
                ),
            )
        except (AutanError, _Halt) as exc:
            log.warning("research_summary_failed", error=str(exc))
            return None
        run.tokens += _tokens(messages, answer)
        return writing.checked_summary(answer, job.sources)

    async def _principal(self, job: ResearchJob) -> Principal:
        async with self._factory() as session:
            user = await session.get(User, job.user_id)
        if user is None:
            raise _Gone()
        return Principal(user_id=user.id, org_id=user.org_id, email=user.email, role=user.role)

    async def _step(self, run: _Run, step: dict[str, Any], **values: Any) -> None:
        run.job.steps = [*run.job.steps, {**step, "at": utcnow().isoformat(timespec="seconds")}]
        await self._save(run, steps=run.job.steps, **values)

    async def _save(self, run: _Run, **values: Any) -> None:
        """Write the run's progress; _Gone if it is no longer this process's to write."""
        async with self._factory() as session:
            done = await session.execute(
                update(ResearchJob)
                .where(ResearchJob.id == run.job.id, ResearchJob.status == ResearchStatus.RUNNING)
                .values(updated_at=utcnow(), tokens_used=run.tokens, **values)
            )
            await session.commit()
        if rowcount(done) != 1:
            raise _Gone()

    async def _finish(
        self, run: _Run, status: ResearchStatus, ended: str | None, error: str | None = None
    ) -> None:
        job = run.job
        report = writing.build_report(
            job.question, job.plan, job.sources, job.lang, run.summary, ended
        )
        await self._step(run, {"kind": "report"})
        await self._save(
            run,
            status=status,
            report=report,
            error=error,
            progress=1.0,
            finished_at=utcnow(),
            sources=job.sources,
        )
        log.info(
            "research_finished",
            job_id=str(job.id),
            status=str(status),
            pages=len(job.sources),
            tokens=run.tokens,
        )
