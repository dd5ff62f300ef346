"""Quotas as the application applies them: each user's rule (from the organisation's and
role's overrides, cached), a check before every model request, tokens added in batches."""

from __future__ import annotations

import asyncio
import uuid
from collections import defaultdict
from dataclasses import replace

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from autan.accounts.models import Organisation, Role
from autan.accounts.models import QuotaRule as QuotaRuleRow
from autan.accounts.principal import Principal
from autan.budgets.service import Budgets
from autan.core.cache import LoadingCache
from autan.core.events import EventBus, QuotaRulesChanged
from autan.core.tasks import cancel_and_wait
from autan.llm.events import CallFinished
from autan.quotas.limiter import QuotaLimiter
from autan.quotas.policy import QuotaRule, QuotaSettings, resolve


class Quotas:
    """Applies quotas to principals; the API and the chat UI both go through `check`."""

    def __init__(
        self,
        settings: QuotaSettings,
        limiter: QuotaLimiter,
        factory: async_sessionmaker[AsyncSession],
        *,
        rule_ttl: float = 30.0,
        flush_interval: float = 1.0,
        bus: EventBus | None = None,
        budgets: Budgets | None = None,
    ) -> None:
        self._settings = settings
        # The organisations' monthly budgets, checked with the quotas so that every caller
        # of `check` (chat, /v1, deep research, web search) applies both.
        self.budgets = budgets
        self._limiter = limiter
        self._factory = factory
        self._rules: LoadingCache[tuple[uuid.UUID, Role], QuotaRule] = LoadingCache(
            self._load_rule, bus.ttl(rule_ttl) if bus is not None else rule_ttl
        )
        if bus is not None:
            # A change of rules in any process reaches this one's cache.
            bus.subscribe(QuotaRulesChanged, lambda e: self.forget_rules(e.org_id))
            bus.on_reset(self._rules.clear)
        self._tokens: defaultdict[uuid.UUID, int] = defaultdict(int)
        self._rule_of: dict[uuid.UUID, QuotaRule] = {}
        self._flush_interval = flush_interval
        self._task: asyncio.Task[None] | None = None

    async def _load_rule(self, key: tuple[uuid.UUID, Role]) -> QuotaRule:
        org_id, role = key
        if not self._settings.enabled:
            return resolve(self._settings)
        async with self._factory() as session:
            rows = list(
                await session.scalars(select(QuotaRuleRow).where(QuotaRuleRow.org_id == org_id))
            )
            web_limits = await session.scalar(
                select(Organisation.research_limits).where(Organisation.id == org_id)
            )
        org_rule = next((r for r in rows if r.role is None), None)
        role_rule = next((r for r in rows if r.role == role), None)
        per_minute, per_day = self._settings.search_limits(web_limits)
        return replace(
            resolve(self._settings, org_rule, role_rule),
            searches_per_minute=per_minute,
            searches_per_day=per_day,
        )

    async def rule_for(self, principal: Principal) -> QuotaRule:
        """The rule that applies to this user now."""
        return await self._rules.get((principal.org_id, principal.role))

    def forget_rules(self, org_id: uuid.UUID) -> None:
        """Reload an organisation's rules at their next use (after a change)."""
        for role in Role:
            self._rules.forget((org_id, role))

    async def check(self, principal: Principal) -> None:
        """Count one model request, or raise `QuotaExceeded` (with when to try again)."""
        if self.budgets is not None:
            await self.budgets.check(principal)
        rule = await self.rule_for(principal)
        if rule.unlimited:
            return
        self._rule_of[principal.user_id] = rule
        await self._limiter.check_request(str(principal.user_id), rule)

    async def check_search(self, principal: Principal) -> None:
        """Count one web search, or raise `QuotaExceeded` (searches per minute or per day).

        Searches are counted apart from model requests: the answer that follows a search
        is a model request of its own, checked by `check`.
        """
        rule = await self.rule_for(principal)
        await self._limiter.check_search(
            str(principal.user_id), rule.searches_per_minute, rule.searches_per_day
        )

    async def searches_today(self, principal: Principal) -> int | None:
        """Web searches counted in this person's current day (None: no daily limit, or the
        store could not be read)."""
        rule = await self.rule_for(principal)
        return await self._limiter.searches_used(str(principal.user_id), rule.searches_per_day)

    def add_tokens(self, user_id: uuid.UUID | None, tokens: int) -> None:
        """Note tokens spent; they are added to daily budgets at the next flush."""
        if user_id is not None and tokens > 0 and user_id in self._rule_of:
            rule = self._rule_of[user_id]
            if rule.tokens_per_day:
                self._tokens[user_id] += tokens

    def on_call_finished(self, event: CallFinished) -> None:
        """Count a finished model request's tokens against its user's daily budget."""
        self.add_tokens(event.user_id, event.tokens)
        if self.budgets is not None:
            self.budgets.on_call_finished(event)

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="quota-tokens")

    async def stop(self) -> None:
        await cancel_and_wait(self._task)
        await self.flush()
        await self._limiter.close()

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self._flush_interval)
            await self.flush()

    async def flush(self) -> None:
        """Add the tokens noted since the last flush (one storage call per user)."""
        pending, self._tokens = self._tokens, defaultdict(int)
        for user_id, tokens in pending.items():
            await self._limiter.add_tokens(str(user_id), self._rule_of[user_id], tokens)
