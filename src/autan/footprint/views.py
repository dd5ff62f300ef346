"""How the chat writes an answer's energy and CO2 (not a router: the chat router imports it)."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any

from fastapi import Request

from autan.accounts.models import Organisation
from autan.footprint.display import AnswerFigures, answer_figures
from autan.web.templating import request_language


def impact_figures(
    request: Request, org: Organisation | None
) -> Callable[[dict[str, Any] | None], AnswerFigures | None] | None:
    """How answers' impacts are written in the reader's language; None if the org hides them."""
    if org is None or not org.show_impacts:
        return None
    return partial(answer_figures, locale=request_language(request))
