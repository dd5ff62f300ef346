"""Who is making a request, as the rest of the application sees it."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from autan.accounts.models import Role


@dataclass(frozen=True, slots=True)
class Principal:
    """An authenticated user, and the API key used if any."""

    user_id: uuid.UUID
    org_id: uuid.UUID
    email: str
    role: Role
    api_key_id: uuid.UUID | None = None
