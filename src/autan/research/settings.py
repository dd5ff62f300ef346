"""Settings of deep research (`AUTAN_RESEARCH__*`); organisations may lower the limits."""

from __future__ import annotations

from pydantic import BaseModel, Field

# The limits an organisation may set for its own runs (Organisation.research_limits).
ORG_LIMITS = ("max_seconds", "max_pages", "max_tokens", "max_questions", "max_runs_per_day")


class ResearchSettings(BaseModel):
    """Deep research runs as background jobs, bounded in time, pages and model tokens."""

    enabled: bool = Field(
        True, description="Offer deep research where web search is configured and allowed."
    )
    max_seconds: int = Field(
        300, ge=5, description="Seconds one run may search and read before its report is written."
    )
    max_pages: int = Field(12, ge=1, le=100, description="Web pages one run may read.")
    max_tokens: int = Field(
        4000, ge=100, description="Model tokens (prompt and answer, estimated) one run may use."
    )
    max_questions: int = Field(
        4, ge=1, le=10, description="Sub-questions the plan of one run may hold."
    )
    max_runs_per_day: int = Field(
        20, ge=1, le=1000, description="Runs one person may start in 24 hours."
    )
    plan_tokens: int = Field(
        150, ge=16, description="Longest answer the model may give when planning sub-questions."
    )
    summary_tokens: int = Field(
        400, ge=16, description="Longest summary the model may write at the top of the report."
    )
    max_running_per_user: int = Field(
        2, ge=1, description="Runs one person may have queued or running at once."
    )
    concurrency: int = Field(1, ge=1, description="Runs one process works on at once.")
    poll_interval: float = Field(
        2.0, gt=0, description="Seconds between two looks for queued runs by an idle worker."
    )
    heartbeat_interval: float = Field(
        5.0, gt=0, description="Seconds between two signs of life of a running job."
    )
    events_interval: float = Field(
        0.5, gt=0, description="Seconds between two looks at a run streaming its events (API)."
    )
    stale_after: float = Field(
        60.0,
        gt=0,
        description="Seconds without a sign of life after which a running job is marked "
        "interrupted (its process stopped), keeping what it had found.",
    )

    def limits(self, overrides: dict[str, int] | None) -> dict[str, int]:
        """The limits of one organisation's runs: the deployment's, lowered by its own."""
        limits = {name: int(getattr(self, name)) for name in ORG_LIMITS}
        for name, value in (overrides or {}).items():
            if name in limits and isinstance(value, int) and value > 0:
                limits[name] = min(limits[name], value)
        return limits
