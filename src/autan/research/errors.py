"""Errors of deep research. Messages are whole sentences, translated by the UI's catalogue."""

from __future__ import annotations

from autan.core.errors import AutanError, ErrorKind, InvalidRequest, NotFound


class ResearchNotFound(NotFound):
    code = "research_not_found"

    def __init__(self) -> None:
        super().__init__("This research does not exist, or it is not yours.")


class ResearchForbidden(AutanError):
    kind = ErrorKind.FORBIDDEN
    code = "research_forbidden"

    def __init__(self) -> None:
        super().__init__(
            "Deep research is not available to you: your organisation does not allow web "
            "search, or this service has no search engine."
        )


class ResearchQuestionInvalid(InvalidRequest):
    code = "research_question_invalid"

    def __init__(self) -> None:
        super().__init__(
            "Write your question (between 10 and 2,000 characters) before starting a research.",
            param="question",
        )


class TooManyResearches(AutanError):
    kind = ErrorKind.RATE_LIMITED
    code = "too_many_researches"

    def __init__(self) -> None:
        super().__init__(
            "You already have as many research runs going as allowed. Wait for one to "
            "finish, or stop it."
        )


class ResearchDailyLimit(AutanError):
    kind = ErrorKind.RATE_LIMITED
    code = "research_daily_limit"

    def __init__(self, limit: int) -> None:
        super().__init__(
            "You have started {limit} deep research runs in the last 24 hours, as many as "
            "your organisation allows. You can start another one tomorrow.",
            values={"limit": limit},
        )
