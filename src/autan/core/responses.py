"""JSON responses rendered with orjson (FastAPI's ORJSONResponse is deprecated)."""

from __future__ import annotations

from typing import Any

import orjson
from starlette.responses import JSONResponse


class JSONBytesResponse(JSONResponse):
    """A JSON response for payloads built by hand (errors, health), rendered by orjson."""

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content)
