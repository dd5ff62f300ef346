"""Domain error base classes. They say what went wrong, never how HTTP shows it."""

from __future__ import annotations

from enum import StrEnum


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


class AutanError(Exception):
    """Base class of every error a user may be shown."""

    kind: ErrorKind = ErrorKind.INVALID
    code: str | None = None

    def __init__(
        self,
        message: str,
        *,
        param: str | None = None,
        code: str | None = None,
        retry_after: float | None = None,
    ) -> None:
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
