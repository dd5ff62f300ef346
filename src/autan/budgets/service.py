"""Budgets as the application applies them: a check before every model request that reads
no usage row, the month's consumption for the cockpit, and the referents' alerts.

The month-to-date tokens of an organisation come from the daily rollups (`usage_days`, one
query of at most a month of rows, grouped by role) and are kept `usage_ttl` seconds; between
two reads, every `CallFinished` of this process adds its tokens to the kept figures, so a
process sees its own calls at once and the others' within `usage_ttl`.
"""

from __future__ import annotations

import time
import uuid
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, date, datetime

from sqlalchemy import delete, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from autan.accounts import audit
from autan.accounts.models import Role
from autan.accounts.principal import Principal
from autan.budgets.errors import BudgetAboveCeiling, BudgetExceeded, OrgBudgetForAdmins
from autan.budgets.models import WHOLE_ORG, Budget, BudgetAlert
from autan.budgets.settings import BudgetSettings
from autan.core.cache import LoadingCache
from autan.core.events import BudgetsChanged, EventBus, emit
from autan.llm.events import CallFinished
from autan.usage.models import UsageDay


def month_start(day: date) -> date:
    """The first day of `day`'s month."""
    return day.replace(day=1)


def next_month(day: date) -> date:
    """The first day of the month after `day`'s."""
    return date(day.year + 1, 1, 1) if day.month == 12 else date(day.year, day.month + 1, 1)


def _today() -> date:
    return datetime.now(UTC).date()


@dataclass(frozen=True, slots=True)
class BudgetStatus:
    """One budget this month: its limit and what was used (tokens)."""

    role: str  # WHOLE_ORG or a role
    limit: int
    used: int
    month: date  # its first day

    @property
    def resets_on(self) -> date:
        """The first day of the next month, when the budget is whole again."""
        return next_month(self.month)

    @property
    def remaining(self) -> int:
        """Tokens left this month (never below zero)."""
        return max(0, self.limit - self.used)

    @property
    def percent(self) -> int:
        """Share used, in whole percent, rounded down (so 100 means used up)."""
        return min(100, self.used * 100 // self.limit) if self.limit else 0


async def load_budgets(session: AsyncSession, org_id: uuid.UUID) -> dict[str, int]:
    """The organisation's budgets: role (or WHOLE_ORG) to tokens per month."""
    rows = await session.scalars(select(Budget).where(Budget.org_id == org_id))
    return {row.role: row.tokens_per_month for row in rows}


async def month_tokens(session: AsyncSession, org_id: uuid.UUID, month: date) -> Counter[str]:
    """Tokens used by the organisation in the month of `month`, by role (from the rollups)."""
    tokens = func.sum(UsageDay.prompt_tokens + UsageDay.completion_tokens)
    rows = await session.execute(
        select(UsageDay.role, tokens)
        .where(
            UsageDay.org_id == org_id,
            UsageDay.day >= month_start(month),
            UsageDay.day < next_month(month),
        )
        .group_by(UsageDay.role)
    )
    return Counter({role: int(total or 0) for role, total in rows.all()})


def _used(spent: Counter[str], role: str) -> int:
    return sum(spent.values()) if role == WHOLE_ORG else spent[role]


class Budgets:
    """Applies the organisations' monthly budgets; `Quotas.check` calls `check`."""

    def __init__(
        self,
        settings: BudgetSettings,
        factory: async_sessionmaker[AsyncSession],
        *,
        rule_ttl: float = 30.0,
        bus: EventBus | None = None,
    ) -> None:
        self._settings = settings
        self._factory = factory
        self._rules: LoadingCache[uuid.UUID, dict[str, int]] = LoadingCache(
            self._load_rules, bus.ttl(rule_ttl) if bus is not None else rule_ttl
        )
        # (org, first day of month) -> (monotonic time read, tokens by role)
        self._spent: dict[tuple[uuid.UUID, date], tuple[float, Counter[str]]] = {}
        # Alerts this process knows were raised: (org, month, budget role, percent).
        self._alerted: set[tuple[uuid.UUID, date, str, int]] = set()
        if bus is not None:
            bus.subscribe(BudgetsChanged, lambda e: self._rules.forget(e.org_id))
            bus.on_reset(self._rules.clear)

    async def _load_rules(self, org_id: uuid.UUID) -> dict[str, int]:
        async with self._factory() as session:
            return await load_budgets(session, org_id)

    async def _month_spent(self, org_id: uuid.UUID, month: date) -> Counter[str]:
        key = (org_id, month)
        kept = self._spent.get(key)
        if kept is not None and kept[0] + self._settings.usage_ttl >= time.monotonic():
            return kept[1]
        async with self._factory() as session:
            spent = await month_tokens(session, org_id, month)
        if len(self._spent) > 10_000:
            self._spent.clear()
        self._spent[key] = (time.monotonic(), spent)
        return spent

    async def status(self, org_id: uuid.UUID, today: date | None = None) -> list[BudgetStatus]:
        """The organisation's budgets this month, the whole organisation's first."""
        if not self._settings.enabled:
            return []
        rules = await self._rules.get(org_id)
        if not rules:
            return []
        month = month_start(today or _today())
        spent = await self._month_spent(org_id, month)
        return [
            BudgetStatus(role, rules[role], _used(spent, role), month)
            for role in sorted(rules, key=lambda r: (r != WHOLE_ORG, r))
        ]

    async def check(self, principal: Principal, today: date | None = None) -> None:
        """Raise `BudgetExceeded` when the user's organisation or role has no tokens left.

        Reads no usage row: the rules and the month's figures are kept in memory.
        """
        for budget in await self.status(principal.org_id, today):
            if budget.role not in (WHOLE_ORG, principal.role):
                continue
            if budget.percent >= self._settings.alert_percent:
                await self._alert(principal.org_id, budget)
            if budget.used >= budget.limit:
                now = datetime.now(UTC)
                reset = datetime.combine(budget.resets_on, datetime.min.time(), UTC)
                wait = int((reset - now).total_seconds()) + 1
                raise BudgetExceeded.monthly(budget.limit, budget.resets_on, wait)

    def on_call_finished(self, event: CallFinished) -> None:
        """Add a finished call's tokens to its organisation's kept month figures."""
        kept = self._spent.get((event.org_id, month_start(_today())))
        if kept is not None and event.tokens > 0:
            kept[1][event.role] += event.tokens

    async def _alert(self, org_id: uuid.UUID, budget: BudgetStatus) -> None:
        """Record (once per threshold per month, audited) that a budget crossed a threshold."""
        threshold = 100 if budget.used >= budget.limit else self._settings.alert_percent
        month = budget.month
        key = (org_id, month, budget.role, threshold)
        if key in self._alerted:
            return
        async with self._factory() as session:
            session.add(
                BudgetAlert(org_id=org_id, month=month, role=budget.role, threshold=threshold)
            )
            audit.record(
                session,
                audit.Action.BUDGET_ALERT,
                actor_id=None,
                org_id=org_id,
                budget_role=budget.role or None,
                threshold=threshold,
                tokens_per_month=budget.limit,
            )
            try:
                await session.commit()
            except IntegrityError:
                # Raised already, by this process before a restart or by another one.
                await session.rollback()
        self._alerted.add(key)


async def alerts_of(session: AsyncSession, org_id: uuid.UUID, today: date | None = None) -> int:
    """The highest threshold (percent) any budget of the organisation reached this month."""
    month = month_start(today or _today())
    highest = await session.scalar(
        select(func.max(BudgetAlert.threshold)).where(
            BudgetAlert.org_id == org_id, BudgetAlert.month == month
        )
    )
    return int(highest or 0)


def check_change(actor: Principal, budgets: dict[str, int], role: str, value: int | None) -> None:
    """Refuse a change `actor` may not make: an admin sets any budget; a referent sets the
    budgets of roles in their organisation, within the organisation's (the admin's)."""
    if actor.role == Role.ADMIN:
        return
    if role == WHOLE_ORG:
        raise OrgBudgetForAdmins()
    ceiling = budgets.get(WHOLE_ORG)
    if ceiling is not None and value is not None and value > ceiling:
        raise BudgetAboveCeiling(ceiling)


async def set_budget(
    session: AsyncSession,
    org_id: uuid.UUID,
    role: str,
    tokens_per_month: int | None,
    actor: Principal,
) -> None:
    """Set (or with None remove) one budget of the organisation, audited, and commit.

    Who may set what is the caller's check (`check_change`).
    """
    existing = await session.get(Budget, (org_id, role))
    if tokens_per_month is None:
        if existing is not None:
            await session.execute(
                delete(Budget).where(Budget.org_id == org_id, Budget.role == role)
            )
    elif existing is None:
        session.add(Budget(org_id=org_id, role=role, tokens_per_month=tokens_per_month))
    else:
        existing.tokens_per_month = tokens_per_month
        existing.updated_at = datetime.now(UTC)
    audit.record(
        session,
        audit.Action.BUDGET_UPDATED,
        actor_id=actor.user_id,
        org_id=org_id,
        budget_role=role or None,
        tokens_per_month=tokens_per_month,
    )
    emit(session, BudgetsChanged(org_id))
    await session.commit()
