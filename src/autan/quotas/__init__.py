"""Per-user quotas for model requests: requests per minute and tokens per day.

`policy` says which limits apply to a user (settings, organisation and role overrides);
`limiter.QuotaLimiter` counts against them in process memory or in Redis; `errors` holds
`QuotaExceeded`, which the central error handler turns into 429 with Retry-After.
"""

from autan.quotas.errors import QuotaExceeded
from autan.quotas.limiter import QuotaLimiter, QuotaUsage, storage_uri
from autan.quotas.policy import (
    NO_LIMITS,
    UNLIMITED,
    QuotaOverride,
    QuotaRule,
    QuotaSettings,
    resolve,
)

__all__ = [
    "NO_LIMITS",
    "UNLIMITED",
    "QuotaExceeded",
    "QuotaLimiter",
    "QuotaOverride",
    "QuotaRule",
    "QuotaSettings",
    "QuotaUsage",
    "resolve",
    "storage_uri",
]
