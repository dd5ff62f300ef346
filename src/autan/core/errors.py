"""Domain error base classes. They say what went wrong, never how HTTP shows it."""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from typing import Any, NamedTuple


class ErrorKind(StrEnum):
    """What sort of failure an error is; the web layer maps each kind to a status."""

    INVALID = "invalid_request_error"
    TOO_LARGE = "request_too_large"
    UNAUTHENTICATED = "authentication_error"
    FORBIDDEN = "permission_error"
    NOT_FOUND = "not_found_error"
    CONFLICT = "conflict_error"
    RATE_LIMITED = "rate_limit_error"
    OVERLOADED = "overloaded_error"
    UPSTREAM = "upstream_error"
    UNAVAILABLE = "service_unavailable_error"


class Plural(NamedTuple):
    """A count with its noun, to be put in the reader's language and plural form as a whole.

    `singular` and `plural` are English msgids holding `{count}`: "{count} minute".
    """

    singular: str
    plural: str
    number: int

    def english(self) -> str:
        """The words in English: singular for 1, plural otherwise."""
        return (self.singular if self.number == 1 else self.plural).format(count=self.number)


Value = str | int | float | Plural | tuple[Plural, ...]
"""A value of a message: words (translated if catalogued), a number, counted words."""


def english_value(value: Any) -> Any:
    """A message value as English text: counted words in their English plural form."""
    if isinstance(value, Plural):
        return value.english()
    if isinstance(value, tuple):
        return " ".join(english_value(part) for part in value)
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value:,}"  # 1,048,576: a reader cannot count the digits of 1048576
    return value


class AutanError(Exception):
    """Base class of every error a user may be shown.

    `template` is an English msgid and `values` fill it in, so that a page can show the
    whole message in its reader's language; `message` is the English text (the API's).
    """

    kind: ErrorKind = ErrorKind.INVALID
    code: str | None = None

    def __init__(
        self,
        message: str,
        *,
        param: str | None = None,
        code: str | None = None,
        retry_after: float | None = None,
        values: Mapping[str, Value] | None = None,
    ) -> None:
        self.template = message
        self.values: dict[str, Value] = dict(values or {})
        if self.values:
            message = message.format(**{k: english_value(v) for k, v in self.values.items()})
        super().__init__(message)
        self.message = message
        self.param = param
        self.retry_after = retry_after
        if code is not None:
            self.code = code


class InvalidRequest(AutanError):
    kind = ErrorKind.INVALID


class Unauthenticated(AutanError):
    kind = ErrorKind.UNAUTHENTICATED


class Forbidden(AutanError):
    kind = ErrorKind.FORBIDDEN


class NotFound(AutanError):
    kind = ErrorKind.NOT_FOUND


class Conflict(AutanError):
    kind = ErrorKind.CONFLICT


class PayloadTooLarge(AutanError):
    kind = ErrorKind.TOO_LARGE
