"""Who a model request is made for, as the model layer needs to know it."""

from __future__ import annotations

import uuid
from typing import Protocol


class Caller(Protocol):
    """The person (and API key) a model request is accounted to; `Principal` is one."""

    @property
    def user_id(self) -> uuid.UUID: ...
    @property
    def org_id(self) -> uuid.UUID: ...
    @property
    def api_key_id(self) -> uuid.UUID | None: ...
    @property
    def role(self) -> str: ...  # kept on usage rows (the cockpit's filters)
