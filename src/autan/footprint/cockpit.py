"""The cockpit's energy and CO2: sums of the daily rollups, with comparisons people know."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from autan.footprint.display import Totals, totals
from autan.insights.cockpit import Filters
from autan.usage.models import UsageDay


@dataclass(frozen=True, slots=True)
class Footprint:
    """Energy and CO2 of the period (all models, and per model), and estimated answers."""

    total: Totals
    by_model: list[tuple[str, Totals]]
    estimated: bool  # whether any request of the period had an estimate


_SUMS = (
    func.coalesce(func.sum(UsageDay.energy_kwh_min), 0.0),
    func.coalesce(func.sum(UsageDay.energy_kwh_max), 0.0),
    func.coalesce(func.sum(UsageDay.gwp_g_min), 0.0),
    func.coalesce(func.sum(UsageDay.gwp_g_max), 0.0),
)


async def footprint(session: AsyncSession, filters: Filters) -> Footprint:
    """The period's energy and CO2 under the cockpit's filters (read from the rollups)."""
    where = filters.clauses(UsageDay)
    row = (await session.execute(select(*_SUMS).where(*where))).one()
    total = totals(*(float(v) for v in row))
    per_model = await session.execute(
        select(UsageDay.model, *_SUMS)
        .where(*where)
        .group_by(UsageDay.model)
        .order_by(func.sum(UsageDay.gwp_g_max).desc(), UsageDay.model)
    )
    by_model = [
        (model, totals(*(float(v) for v in values))) for model, *values in per_model if any(values)
    ]
    return Footprint(total, by_model, estimated=total.energy_kwh > 0)
