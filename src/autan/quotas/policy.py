"""Which quota applies to a user: the settings, the rule type and the pure resolver.

Three levels, from the least to the most specific: the global default (settings), a rule for
the user's organisation, and a rule for the user's role within that organisation. Each field
(`requests_per_minute`, `tokens_per_day`) is resolved on its own, so an organisation may set
a token budget and leave the request rate to the default.

How an *override* rule (organisation or role) says things:

- `None` inherits the field from the less specific level;
- `UNLIMITED` (0) lifts the limit, whatever a less specific level says;
- a positive number is the limit.

A *resolved* rule (what `resolve` returns and `QuotaLimiter` takes) has no level below it, so
there `None` means unlimited; `resolve` turns `UNLIMITED` into `None`, and the limiter reads
0 as unlimited too, so a rule built by hand cannot block everyone by mistake. 0 was chosen
for "unlimited" rather than "nothing allowed": blocking an account is done by disabling it,
and "empty = inherit, 0 = unlimited" is the convention admins know from other tools.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final, Protocol

from pydantic import BaseModel, Field, field_validator

SEARCH_LIMITS: Final = ("searches_per_minute", "searches_per_day")
"""The web search quotas an organisation may lower (kept in `Organisation.research_limits`)."""

UNLIMITED: Final = 0
"""In an override rule: no limit for this field, whatever less specific levels say."""


class QuotaSettings(BaseModel):
    """Default per-user quotas for model requests (API and chat UI alike)."""

    enabled: bool = Field(
        True, description="Apply quotas at all; when false every request is allowed."
    )
    requests_per_minute: int | None = Field(
        10,
        ge=0,
        description="Model requests a user may send in any 60-second span "
        "(moving window); empty or 0 for no limit.",
    )
    tokens_per_day: int | None = Field(
        None,
        ge=0,
        description="Tokens (prompt + completion) a user may use per day; the day starts "
        "with the first counted request and lasts 24 hours; empty or 0 for no limit.",
    )
    searches_per_minute: int | None = Field(
        5,
        ge=0,
        description="Web searches a person may start in any 60-second span, counted apart "
        "from model requests; organisations may only lower it. Empty or 0 for no limit.",
    )
    searches_per_day: int | None = Field(
        100,
        ge=0,
        description="Web searches a person may start per day (the day starts with the first "
        "search and lasts 24 hours); organisations may only lower it. Empty or 0 for no limit.",
    )
    storage_timeout: float = Field(
        0.25,
        gt=0,
        description="Seconds allowed for one Redis command of the quota checks; past that the "
        "request is allowed (fail open) and Redis is left alone for a few seconds.",
    )

    @field_validator(
        "requests_per_minute",
        "tokens_per_day",
        "searches_per_minute",
        "searches_per_day",
        mode="before",
    )
    @classmethod
    def _empty_is_unlimited(cls, value: object) -> object:
        # `AUTAN_QUOTAS__TOKENS_PER_DAY=` (set but empty) reads as "no limit", not an error.
        return None if value == "" else value

    def rule(self) -> QuotaRule:
        """The global default as a resolved rule (unlimited everywhere when disabled)."""
        if not self.enabled:
            return NO_LIMITS
        return QuotaRule(
            requests_per_minute=self.requests_per_minute or None,
            tokens_per_day=self.tokens_per_day or None,
        )

    def search_limits(
        self, overrides: Mapping[str, object] | None
    ) -> tuple[int | None, int | None]:
        """Searches per minute and per day for one organisation: the platform's, lowered by
        the organisation's own (`Organisation.research_limits`); None is no limit."""
        if not self.enabled:
            return None, None
        limits: list[int | None] = []
        for name in SEARCH_LIMITS:
            value = getattr(self, name) or None
            wanted = (overrides or {}).get(name)
            if isinstance(wanted, int) and wanted > 0:
                value = wanted if value is None else min(value, wanted)
            limits.append(value)
        return limits[0], limits[1]


@dataclass(frozen=True, slots=True)
class QuotaRule:
    """Limits for one user, or an override of them (see the module docstring for None and 0)."""

    requests_per_minute: int | None = None
    tokens_per_day: int | None = None
    # Web searches, counted apart from model requests. Organisations may only lower the
    # platform's (`QuotaSettings.search_limits`); `resolve` leaves them to the caller.
    searches_per_minute: int | None = None
    searches_per_day: int | None = None

    def __post_init__(self) -> None:
        for name in ("requests_per_minute", "tokens_per_day", *SEARCH_LIMITS):
            value = getattr(self, name)
            if value is not None and value < 0:
                raise ValueError(f"{name} must be positive, 0 (unlimited) or None, not {value}")

    @property
    def unlimited(self) -> bool:
        """True when a resolved rule limits no model request (`check` then does no work)."""
        return not self.requests_per_minute and not self.tokens_per_day


NO_LIMITS: Final = QuotaRule()
"""A resolved rule that limits nothing."""

_INHERIT: Final = QuotaRule()
"""An override that sets nothing (every field inherits); the same value as NO_LIMITS, read
with override semantics."""


class QuotaOverride(Protocol):
    """Anything with the two limit fields: a `QuotaRule`, or a `quota_rules` row as loaded."""

    @property
    def requests_per_minute(self) -> int | None: ...

    @property
    def tokens_per_day(self) -> int | None: ...


def _pick(name: str, default: int | None, *overrides: int | None) -> int | None:
    """The most specific value that is set; `UNLIMITED` becomes None (unlimited)."""
    value = default
    for override in overrides:
        if override is not None:
            if override < 0:
                raise ValueError(f"{name} must be positive, 0 (unlimited) or None, not {override}")
            value = override
    return value or None


def resolve(
    defaults: QuotaSettings | QuotaRule,
    org_rule: QuotaOverride | None = None,
    role_rule: QuotaOverride | None = None,
) -> QuotaRule:
    """The rule that applies to a user: role in organisation > organisation > default.

    `defaults` is the settings section (or a resolved rule); `org_rule` is the organisation's
    override (a `quota_rules` row with no role) and `role_rule` the override for the user's
    role within that organisation, each None when there is none. Rows may be passed as they
    are: only their two limit fields are read. Quotas disabled in the settings win over every
    override. Pure: callers load the overrides however they like (and may cache the result).
    """
    if isinstance(defaults, QuotaSettings):
        if not defaults.enabled:
            return NO_LIMITS
        defaults = defaults.rule()
    org: QuotaOverride = _INHERIT if org_rule is None else org_rule
    role: QuotaOverride = _INHERIT if role_rule is None else role_rule
    return QuotaRule(
        requests_per_minute=_pick(
            "requests_per_minute",
            defaults.requests_per_minute,
            org.requests_per_minute,
            role.requests_per_minute,
        ),
        tokens_per_day=_pick(
            "tokens_per_day", defaults.tokens_per_day, org.tokens_per_day, role.tokens_per_day
        ),
    )
