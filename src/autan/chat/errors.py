"""Errors of the chat. Messages are whole sentences, translated by the UI's catalogue."""

from __future__ import annotations

from autan.core.errors import AutanError, ErrorKind, InvalidRequest, NotFound


class ConversationNotFound(NotFound):
    code = "conversation_not_found"

    def __init__(self) -> None:
        super().__init__("This conversation does not exist, or it is not yours.")


class MessageNotFound(NotFound):
    code = "message_not_found"

    def __init__(self) -> None:
        super().__init__("This message does not exist, or it is not yours.")


class EmptyMessage(InvalidRequest):
    code = "empty_message"

    def __init__(self) -> None:
        super().__init__("Write a message before sending it.", param="content")


class MessageTooLong(InvalidRequest):
    code = "message_too_long"

    def __init__(self) -> None:
        super().__init__(
            "The message is too long. Shorten it, or attach the text as a document.",
            param="content",
        )


class NothingToRegenerate(InvalidRequest):
    code = "nothing_to_regenerate"

    def __init__(self) -> None:
        super().__init__("There is no question to answer again in this conversation.")


class InvalidTitle(InvalidRequest):
    code = "invalid_title"

    def __init__(self) -> None:
        super().__init__("A title has 1 to 200 characters.", param="title")


class InvalidFeedback(InvalidRequest):
    code = "invalid_feedback"

    def __init__(self) -> None:
        super().__init__(
            "Feedback is a thumb up or down, with a comment of at most 2,000 characters."
        )


class InvalidHistory(InvalidRequest):
    code = "invalid_history"

    def __init__(self) -> None:
        super().__init__(
            "The temporary conversation sent by the page is not valid. Reload the page."
        )


class ServiceBusy(AutanError):
    """Every database connection stayed in use: the turn is turned away, to be sent again."""

    kind = ErrorKind.OVERLOADED
    code = "service_busy"

    def __init__(self) -> None:
        super().__init__(
            "The service is very busy right now. Please send your message again in a moment.",
            retry_after=2,
        )


class AnswerNotStored(AutanError):
    """The database could not be reached to store an answer (it was shown, not saved)."""

    kind = ErrorKind.UNAVAILABLE
    code = "answer_not_stored"

    def __init__(self) -> None:
        super().__init__(
            "The answer could not be saved because the service is having trouble. "
            "Please ask again in a moment.",
            retry_after=5,
        )


# Model failures carry the model's name in their message, which no catalogue can translate;
# the chat shows (and stores) these sentences instead, keyed by the error's code.
_MODEL_FAILURES = {
    "model_unavailable": "The model is not answering at the moment. Please try again shortly.",
    "model_overloaded": "The model is busy right now. Please try again in a few seconds.",
    "upstream_stream_broken": (
        "The model stopped answering in the middle of its reply. Please try again."
    ),
    "upstream_error": "The model failed to answer. Please try again.",
    "model_not_found": "This model does not exist, or your organisation does not allow it.",
    "request_failed_upstream": "The model could not process this message. Try rephrasing it.",
}


def readable_message(exc: AutanError) -> str:
    """The sentence a person reads for an error of the chat (an English catalogue id)."""
    return _MODEL_FAILURES.get(exc.code or "", exc.message)
