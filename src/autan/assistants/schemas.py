"""Bodies and answers of the assistants API."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool

# "organisation": every member may use it; "managers": a draft for referents and admins.
Audience = Literal["organisation", "managers"]
Starter = Annotated[str, Field(min_length=1, max_length=300)]
MAX_STARTERS = 6


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class AssistantIn(_Strict):
    """A new assistant."""

    name: str = Field(min_length=1, max_length=120)
    description: str = Field("", max_length=2000)
    instructions: str = Field("", max_length=20_000)
    model: str | None = Field(None, max_length=200, description="None: the default chat model.")
    collections: list[uuid.UUID] = Field(default_factory=list, max_length=50)
    web_search: StrictBool = False
    starters: list[Starter] = Field(default_factory=list, max_length=MAX_STARTERS)
    audience: Audience = "organisation"


class AssistantPatch(_Strict):
    """Changes to an assistant; fields left out stay as they are."""

    name: str | None = Field(None, min_length=1, max_length=120)
    description: str | None = Field(None, max_length=2000)
    instructions: str | None = Field(None, max_length=20_000)
    model: str | None = Field(None, max_length=200)
    collections: list[uuid.UUID] | None = Field(None, max_length=50)
    web_search: StrictBool | None = None
    starters: list[Starter] | None = Field(None, max_length=MAX_STARTERS)
    audience: Audience | None = None


class AssistantOut(BaseModel):
    id: uuid.UUID
    name: str
    description: str
    instructions: str
    model: str | None
    collections: list[uuid.UUID]
    web_search: bool
    starters: list[str]
    audience: Audience
    created_at: datetime
    updated_at: datetime
