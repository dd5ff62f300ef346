"""Errors of the model layer."""

from __future__ import annotations

from autan.core.errors import AutanError, ErrorKind, InvalidRequest, NotFound


class ModelNotFound(NotFound):
    code = "model_not_found"

    def __init__(self, model: str) -> None:
        super().__init__(
            "The model `{model}` does not exist or you do not have access to it.",
            param="model",
            values={"model": model},
        )


class WrongModelType(InvalidRequest):
    code = "model_not_supported"

    def __init__(self, model: str, expected: str) -> None:
        super().__init__(
            "The model `{model}` is not a {expected} model.",
            param="model",
            values={"model": model, "expected": expected},
        )


class NoRerankModel(NotFound):
    code = "no_rerank_model"

    def __init__(self) -> None:
        super().__init__(
            "This server has no reranking model. An administrator can declare one of type "
            "rerank in the models file.",
            param="model",
        )


class ModelOverloaded(AutanError):
    """Every replica of the model is at capacity and the wait queue is full or timed out."""

    kind = ErrorKind.OVERLOADED
    code = "model_overloaded"

    def __init__(self, model: str, retry_after: float) -> None:
        super().__init__(
            "The model `{model}` is busy right now. Please try again in a few seconds.",
            retry_after=retry_after,
            values={"model": model},
        )


class ModelUnavailable(AutanError):
    """No replica of the model answers."""

    kind = ErrorKind.UNAVAILABLE
    code = "model_unavailable"

    def __init__(self, model: str, retry_after: float) -> None:
        super().__init__(
            "The model `{model}` is not answering at the moment. Please try again shortly.",
            retry_after=retry_after,
            values={"model": model},
        )


class UpstreamFailed(AutanError):
    """A replica failed in a way a retry did not fix."""

    kind = ErrorKind.UPSTREAM
    code = "upstream_error"


class ModelsFileError(Exception):
    """The models file cannot be read or is not valid."""


class UnsupportedInput(InvalidRequest):
    """The request asks for something the model cannot do (an image to a text-only model)."""

    code = "unsupported_input"


class InputTooLong(InvalidRequest):
    """The request is longer than the model reads."""

    code = "context_length_exceeded"


class InvalidNumber(InvalidRequest):
    """A number the model servers cannot read (beyond 64 bits, or not finite)."""

    code = "invalid_number"


class RejectedUpstream(InvalidRequest):
    """A replica failed on this request while it still serves others: the request is the cause.

    Answered 400, so that a client does not retry the same request in a loop.
    """

    code = "request_failed_upstream"
