"""Quota errors. The central handler turns RATE_LIMITED into 429 with Retry-After."""

from __future__ import annotations

from typing import Literal

from autan.core.errors import AutanError, ErrorKind

QuotaCode = Literal["quota_requests_per_minute", "quota_tokens_per_day"]


def describe_wait(seconds: int) -> str:
    """A wait in words a user reads at a glance: "42 seconds", "3 minutes", "2 hours 5 minutes".

    Rounded up, so that trying again after the stated wait always works.
    """
    if seconds < 90:
        return _plural(seconds, "second")
    minutes = -(-seconds // 60)
    if minutes < 90:
        return _plural(minutes, "minute")
    hours, minutes = divmod(minutes, 60)
    return _plural(hours, "hour") + (f" {_plural(minutes, 'minute')}" if minutes else "")


def _plural(count: int, unit: str) -> str:
    return f"{count} {unit}" if count == 1 else f"{count} {unit}s"


class QuotaExceeded(AutanError):
    """A user has used up one of their quotas; they may write again after `retry_after` s.

    `limit` is the quota that was reached (requests per minute or tokens per day), for pages
    that want to show it apart from the message.
    """

    kind = ErrorKind.RATE_LIMITED
    retry_after: int

    def __init__(self, message: str, *, code: QuotaCode, limit: int, retry_after: int) -> None:
        # Retry-After is in whole seconds and must not tell a client to retry at once.
        retry_after = max(1, retry_after)
        super().__init__(message, code=code, retry_after=retry_after)
        self.retry_after = retry_after
        self.limit = limit

    @classmethod
    def requests_per_minute(cls, limit: int, retry_after: int) -> QuotaExceeded:
        """The per-minute request rate is used up."""
        retry_after = max(1, retry_after)
        return cls(
            f"You have reached your limit of {_plural(limit, 'request')} per minute. "
            f"You can send a new request in {describe_wait(retry_after)}.",
            code="quota_requests_per_minute",
            limit=limit,
            retry_after=retry_after,
        )

    @classmethod
    def tokens_per_day(cls, limit: int, retry_after: int) -> QuotaExceeded:
        """The day's token budget is used up."""
        retry_after = max(1, retry_after)
        return cls(
            f"You have used your daily allowance of {limit:,} tokens. "
            f"You can send a new request in {describe_wait(retry_after)}.",
            code="quota_tokens_per_day",
            limit=limit,
            retry_after=retry_after,
        )
