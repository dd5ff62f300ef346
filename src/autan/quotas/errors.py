"""Quota errors. The central handler turns RATE_LIMITED into 429 with Retry-After."""

from __future__ import annotations

from typing import Literal

from autan.core.errors import AutanError, ErrorKind, Plural, Value, english_value

QuotaCode = Literal[
    "quota_requests_per_minute",
    "quota_tokens_per_day",
    "quota_searches_per_minute",
    "quota_searches_per_day",
    "budget_tokens_per_month",
]


def wait_words(seconds: int) -> tuple[Plural, ...]:
    """A wait in words a user reads at a glance: "42 seconds", "3 minutes", "2 hours 5 minutes".

    Rounded up, so that trying again after the stated wait always works. Each part is
    counted words, so each language puts it in its own plural form.
    """
    if seconds < 90:
        return (Plural("{count} second", "{count} seconds", seconds),)
    minutes = -(-seconds // 60)
    if minutes < 90:
        return (Plural("{count} minute", "{count} minutes", minutes),)
    hours, minutes = divmod(minutes, 60)
    hours_words = Plural("{count} hour", "{count} hours", hours)
    if not minutes:
        return (hours_words,)
    return hours_words, Plural("{count} minute", "{count} minutes", minutes)


def describe_wait(seconds: int) -> str:
    """`wait_words` in English."""
    return str(english_value(wait_words(seconds)))


class QuotaExceeded(AutanError):
    """A user has used up one of their quotas; they may write again after `retry_after` s.

    `limit` is the quota that was reached (requests per minute or tokens per day), for pages
    that want to show it apart from the message.
    """

    kind = ErrorKind.RATE_LIMITED
    retry_after: int

    def __init__(
        self,
        message: str,
        *,
        code: QuotaCode,
        limit: int,
        retry_after: int,
        values: dict[str, Value] | None = None,
    ) -> None:
        # Retry-After is in whole seconds and must not tell a client to retry at once.
        retry_after = max(1, retry_after)
        super().__init__(message, code=code, retry_after=retry_after, values=values)
        self.retry_after = retry_after
        self.limit = limit

    @classmethod
    def requests_per_minute(cls, limit: int, retry_after: int) -> QuotaExceeded:
        """The per-minute request rate is used up."""
        retry_after = max(1, retry_after)
        return cls(
            "You have reached your limit of {limit} per minute. "
            "You can send a new request in {wait}.",
            code="quota_requests_per_minute",
            limit=limit,
            retry_after=retry_after,
            values={
                "limit": Plural("{count} request", "{count} requests", limit),
                "wait": wait_words(retry_after),
            },
        )

    @classmethod
    def tokens_per_day(cls, limit: int, retry_after: int) -> QuotaExceeded:
        """The day's token budget is used up."""
        retry_after = max(1, retry_after)
        return cls(
            "You have used your daily allowance of {limit}. You can send a new request in {wait}.",
            code="quota_tokens_per_day",
            limit=limit,
            retry_after=retry_after,
            values={
                "limit": Plural("{count:,} token", "{count:,} tokens", limit),
                "wait": wait_words(retry_after),
            },
        )

    @classmethod
    def searches_per_minute(cls, limit: int, retry_after: int) -> QuotaExceeded:
        """The per-minute web search rate is used up."""
        retry_after = max(1, retry_after)
        return cls(
            "You have reached your limit of {limit} per minute. "
            "You can search the web again in {wait}.",
            code="quota_searches_per_minute",
            limit=limit,
            retry_after=retry_after,
            values={
                "limit": Plural("{count} web search", "{count} web searches", limit),
                "wait": wait_words(retry_after),
            },
        )

    @classmethod
    def searches_per_day(cls, limit: int, retry_after: int) -> QuotaExceeded:
        """The day's web searches are used up."""
        retry_after = max(1, retry_after)
        return cls(
            "You have used your daily allowance of {limit}. "
            "You can search the web again in {wait}.",
            code="quota_searches_per_day",
            limit=limit,
            retry_after=retry_after,
            values={
                "limit": Plural("{count} web search", "{count} web searches", limit),
                "wait": wait_words(retry_after),
            },
        )
