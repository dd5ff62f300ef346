"""What can go wrong in the prompt library, in words a user understands."""

from __future__ import annotations

from autan.core.errors import Forbidden, InvalidRequest, NotFound


class PromptNotFound(NotFound):
    code = "prompt_not_found"

    def __init__(self) -> None:
        super().__init__("This prompt template does not exist, or you do not have access to it.")


class SharingNotAllowed(Forbidden):
    code = "prompt_sharing_not_allowed"

    def __init__(self) -> None:
        super().__init__(
            "Only the organisation's AI referents and administrators can share a template "
            "with the organisation.",
            param="visibility",
        )


class InvalidPrompt(InvalidRequest):
    """A field of a template the author must correct; `param` names the field."""

    code = "invalid_prompt"
