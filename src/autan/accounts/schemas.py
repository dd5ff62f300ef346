"""Bodies and answers of the account management API."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt

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
    expires_in_days: StrictInt | None = Field(None, ge=1, le=3650)


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
    max_uses: StrictInt | None = Field(1, ge=1, le=100_000, description="None: unlimited")
    valid_days: StrictInt | None = Field(30, ge=1, le=3650, description="None: never expires")
    role: Role = Field(Role.MEMBER, description="The role granted; never above the creator's.")


class CodeOut(BaseModel):
    id: uuid.UUID
    label: str
    role: Role
    max_uses: int | None
    uses: int
    created_at: datetime
    expires_at: datetime | None
    revoked_at: datetime | None
    code: str | None = Field(None, description="Only for the referent who created the code.")


class QuotaIn(_Strict):
    role: Role | None = Field(None, description="None: the whole organisation")
    requests_per_minute: StrictInt | None = Field(
        None, ge=0, le=1_000_000, description="None: inherit; 0: unlimited"
    )
    tokens_per_day: StrictInt | None = Field(
        None, ge=0, le=10_000_000_000, description="None: inherit; 0: unlimited"
    )


class QuotaOut(BaseModel):
    role: Role | None
    requests_per_minute: int | None
    tokens_per_day: int | None


class OrgPatch(_Strict):
    name: str | None = Field(None, min_length=1, max_length=200)
    allowed_domains: list[Annotated[str, Field(min_length=3, max_length=253)]] | None = Field(
        None, max_length=100
    )
    allowed_models: list[Annotated[str, Field(max_length=200)]] | None = Field(
        None, max_length=200, description="None: every model of the deployment"
    )
    web_search_allowed: StrictBool | None = None
    deep_research_allowed: StrictBool | None = Field(
        None, description="Deep research too, where web search is allowed."
    )
    web_allowed_domains: list[Annotated[str, Field(min_length=2, max_length=253)]] | None = Field(
        None, max_length=200, description="Domains web search may read; None: any."
    )
    web_blocked_domains: list[Annotated[str, Field(min_length=2, max_length=253)]] | None = Field(
        None, max_length=200, description="Domains web search never reads."
    )
    move_domains: StrictBool = Field(
        False,
        description="Administrators only: take listed domains from the organisation that "
        "holds them (recorded in both audit logs). Without it, such a domain is refused (409).",
    )


class OrgOut(BaseModel):
    slug: str
    name: str
    allowed_domains: list[str]
    allowed_models: list[str] | None
    web_search_allowed: bool
    deep_research_allowed: bool = True
    web_allowed_domains: list[str] | None = None
    web_blocked_domains: list[str] | None = None
    quotas: list[QuotaOut]


class UserOut(BaseModel):
    id: uuid.UUID
    email: str
    display_name: str
    role: Role
    is_active: bool
    created_at: datetime
    last_login_at: datetime | None


class UserPatch(_Strict):
    role: Role | None = None
    is_active: StrictBool | None = None


class AuditOut(BaseModel):
    """One audit event in the words of the audit page, with the stored ids beside them."""

    id: int
    at: datetime = Field(description="When, ISO 8601 in UTC.")
    action: str = Field(description="The action's code, e.g. `code_created`.")
    action_label: str = Field(description="The action in words, in the caller's language.")
    actor: str = Field(description='Who: name and email, or "system" (translated).')
    actor_id: uuid.UUID | None = Field(description="None: the command line or a job.")
    target: str = Field(description='On what: its current name; "" when none.')
    target_deleted: bool = Field(description="The target no longer exists.")
    target_raw: str | None = Field(description="What the row stores: an email, slug or id.")
    organisation: str
    org_id: uuid.UUID | None
    ip: str | None
    details: dict[str, Any]


class SessionOut(BaseModel):
    email: str
    role: str
    csrf_token: str = Field(description="Send it as `X-CSRF-Token` on state-changing requests.")
