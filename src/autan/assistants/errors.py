"""Errors of assistants, in words a user understands."""

from __future__ import annotations

from autan.core.errors import NotFound


class AssistantNotFound(NotFound):
    code = "assistant_not_found"

    def __init__(self) -> None:
        super().__init__("No such assistant, or you do not have access to it.")
