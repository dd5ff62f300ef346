"""Errors of questionnaires; messages are English msgids translated by the pages."""

from __future__ import annotations

from autan.core.errors import Conflict, InvalidRequest, NotFound, Value


class QuestionnaireNotFound(NotFound):
    code = "questionnaire_not_found"

    def __init__(self) -> None:
        super().__init__("This questionnaire does not exist, or it is not meant for you.")


class AlreadyAnswered(Conflict):
    code = "questionnaire_already_answered"

    def __init__(self) -> None:
        super().__init__("You have already answered or dismissed this questionnaire.")


class InvalidQuestionnaire(InvalidRequest):
    """A questionnaire a referent wrote that cannot be saved, and why."""

    code = "invalid_questionnaire"

    def __init__(self, message: str, *, param: str | None = None, **values: Value) -> None:
        super().__init__(message, param=param, values=values)


class InvalidAnswer(InvalidRequest):
    """An answer that does not fit its question."""

    code = "invalid_answer"

    def __init__(self, message: str, *, param: str | None = None, **values: Value) -> None:
        super().__init__(message, param=param, values=values)
