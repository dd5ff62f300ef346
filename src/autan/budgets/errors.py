"""Budget errors: a used-up monthly budget (429 like a quota) and a refused budget form."""

from __future__ import annotations

from datetime import date

from autan.core.errors import InvalidRequest, Plural
from autan.quotas.errors import QuotaExceeded


class BudgetExceeded(QuotaExceeded):
    """The organisation's (or the user's role's) monthly token budget is used up.

    A `QuotaExceeded`, so every caller that shows quotas (chat, `/v1`, deep research) shows
    it the same way: HTTP 429 with Retry-After until the first day of the next month.
    """

    @classmethod
    def monthly(cls, limit: int, resets_on: date, retry_after: int) -> BudgetExceeded:
        """The month's budget of `limit` tokens is used up until `resets_on`."""
        return cls(
            "Your organisation has used its monthly budget of {limit}. "
            "You can send new requests from {date} (UTC).",
            code="budget_tokens_per_month",
            limit=limit,
            retry_after=retry_after,
            values={
                "limit": Plural("{count:,} token", "{count:,} tokens", limit),
                "date": resets_on.isoformat(),
            },
        )


class BudgetAboveCeiling(InvalidRequest):
    """A referent asked for a role budget above the organisation's, which an admin sets."""

    def __init__(self, ceiling: int) -> None:
        super().__init__(
            "A role's budget cannot exceed the organisation's budget of {limit}.",
            param="tokens_per_month",
            values={"limit": Plural("{count:,} token", "{count:,} tokens", ceiling)},
        )


class OrgBudgetForAdmins(InvalidRequest):
    """Only an admin sets the budget of a whole organisation."""

    def __init__(self) -> None:
        super().__init__(
            "Only an administrator can set the budget of the whole organisation.",
            param="role",
        )
