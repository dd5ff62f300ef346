"""Bodies and answers of the account management API."""

from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from autan.accounts.models import Role


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class MeOut(BaseModel):
    id: uuid.UUID
    email: str
    display_name: str
    role: Role
    organisation: str


class KeyIn(_Strict):
    name: str = Field("", max_length=100)
    expires_in_days: int | None = Field(None, ge=1, le=3650)


class KeyOut(BaseModel):
    id: uuid.UUID
    name: str
    prefix: str
    created_at: datetime
    expires_at: datetime | None
    last_used_at: datetime | None
    revoked_at: datetime | None


class CreatedKeyOut(KeyOut):
    secret: str = Field(description="Shown once: store it now, it cannot be shown again.")


class CodeIn(_Strict):
    label: str = Field("", max_length=200)
    max_uses: int | None = Field(1, ge=1, le=100_000, description="None: unlimited")
    valid_days: int | None = Field(30, ge=1, le=3650, description="None: never expires")


class CodeOut(BaseModel):
    id: uuid.UUID
    label: str
    max_uses: int | None
    uses: int
    created_at: datetime
    expires_at: datetime | None
    revoked_at: datetime | None
    code: str | None = Field(None, description="Only for the referent who created the code.")
