"""Settings of the retention purge (`AUTAN_RETENTION__*`)."""

from __future__ import annotations

from pydantic import BaseModel, Field


class RetentionSettings(BaseModel):
    """When the purge runs; the periods themselves are each organisation's (its rule)."""

    enabled: bool = Field(
        True,
        description="Run the purge in the background of the processes that ingest documents "
        "(`autan worker`, or `autan serve` with its worker).",
    )
    interval: float = Field(
        3600.0,
        ge=1.0,
        description="Seconds between two purges (the first runs a minute after start).",
    )
    first_delay: float = Field(
        60.0, ge=0.0, description="Seconds after start before the first purge."
    )
