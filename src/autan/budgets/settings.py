"""Settings of the monthly budgets (AUTAN_BUDGETS__*)."""

from __future__ import annotations

from pydantic import BaseModel, Field


class BudgetSettings(BaseModel):
    """How budgets are applied; the budgets themselves are set per organisation."""

    enabled: bool = Field(
        True, description="Apply the organisations' monthly token budgets at all."
    )
    usage_ttl: float = Field(
        30.0,
        gt=0,
        description="Seconds a process keeps an organisation's month-to-date tokens (read "
        "from the daily rollups) before reading them again; between reads, the calls it "
        "serves are added as they finish.",
    )
    alert_percent: int = Field(
        80,
        ge=1,
        le=99,
        description="Share of a budget (percent) at which referents are alerted before it "
        "is used up; a second alert comes at 100 %.",
    )
