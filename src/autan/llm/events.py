"""What the model layer tells the rest of the process, through the event bus."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from autan.core.events import Event


# Not registered as a `kind`: usage rows and token budgets are counted by the process that
# served the call, so the event stays in this process (`EventBus.deliver`).
@dataclass(frozen=True, slots=True)
class CallFinished(Event):
    """A model request ended, answered or failed; usage and quotas account for it."""

    user_id: uuid.UUID
    org_id: uuid.UUID
    api_key_id: uuid.UUID | None
    role: str
    endpoint: str
    model: str
    replica: str | None
    stream: bool
    status: int
    error_code: str | None
    prompt_tokens: int
    completion_tokens: int
    ttft_ms: float | None
    duration_ms: float
    # Energy (kWh) and CO2 (g CO2eq) of the answer, EcoLogits' range (`llm.impacts`).
    energy_kwh_min: float | None = None
    energy_kwh_max: float | None = None
    gwp_g_min: float | None = None
    gwp_g_max: float | None = None

    @property
    def tokens(self) -> int:
        """Tokens spent on both sides of the call."""
        return self.prompt_tokens + self.completion_tokens
