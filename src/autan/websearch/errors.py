"""Domain errors of web search; they know nothing of HTTP."""

from __future__ import annotations

from autan.core.errors import AutanError, ErrorKind


class WebSearchForbidden(AutanError):
    """The caller's organisation does not allow web search."""

    kind = ErrorKind.FORBIDDEN
    code = "web_search_forbidden"

    def __init__(self) -> None:
        super().__init__("Your organisation does not allow web search.", param="web_search")


class WebSearchOff(AutanError):
    """This deployment has no search engine configured."""

    code = "web_search_off"

    def __init__(self) -> None:
        super().__init__(
            "Web search is not available on this service: no search engine is configured.",
            param="web_search",
        )


class EngineUnavailable(Exception):
    """The search engine did not answer in time, or answered with something unusable."""


class FetchRefused(Exception):
    """A page was not read: unsafe address, outside the allow-list, too large, too slow...

    `reason` is a short English word for logs and tests; nothing of it reaches the model.
    """

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason
