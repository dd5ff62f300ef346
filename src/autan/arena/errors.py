"""Errors of the blind comparison; messages are English msgids translated by the pages."""

from __future__ import annotations

from autan.core.errors import Conflict, InvalidRequest, NotFound


class ComparisonNotFound(NotFound):
    code = "comparison_not_found"

    def __init__(self) -> None:
        super().__init__("This comparison does not exist, or it is not yours.")


class NeedsTwoModels(InvalidRequest):
    code = "arena_needs_two_models"

    def __init__(self) -> None:
        super().__init__(
            "Comparing needs two models, and your organisation allows only one. "
            "Ask your referent to allow another."
        )


class AlreadyVoted(Conflict):
    code = "arena_already_voted"

    def __init__(self) -> None:
        super().__init__("You have already chosen between these two answers.")


class InvalidUseCase(InvalidRequest):
    code = "arena_invalid_use_case"

    def __init__(self) -> None:
        super().__init__("The use case label is at most 80 characters long.", param="use_case")
