"""The assistants table and the collections each assistant answers from."""

from __future__ import annotations

import uuid

from sqlalchemy import JSON, Column, ForeignKey, String, Table, Text
from sqlalchemy.orm import Mapped, mapped_column

from autan.core.db import Base, TimestampMixin, new_id
from autan.documents.models import UpdatedMixin


class Assistant(TimestampMixin, UpdatedMixin, Base):
    """Instructions, a model and collections an organisation shares with its members."""

    __tablename__ = "assistants"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    org_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("organisations.id", ondelete="CASCADE"), index=True
    )
    created_by: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), default=None
    )
    name: Mapped[str] = mapped_column(String(120))
    description: Mapped[str] = mapped_column(Text, default="")
    instructions: Mapped[str] = mapped_column(Text, default="")
    # None means the deployment's default chat model.
    model: Mapped[str | None] = mapped_column(String(200), default=None)
    web_search: Mapped[bool] = mapped_column(default=False)
    # Questions offered as buttons in a new conversation with this assistant.
    starters: Mapped[list[str] | None] = mapped_column(JSON, default=None)
    # Who may use it: "organisation" (every member) or "managers" (a draft that only the
    # organisation's referents and the administrators see, until it is published).
    audience: Mapped[str] = mapped_column(
        String(16), default="organisation", server_default="organisation"
    )


assistant_collections = Table(
    "assistant_collections",
    Base.metadata,
    Column(
        "assistant_id",
        ForeignKey("assistants.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    Column(
        "collection_id",
        ForeignKey("collections.id", ondelete="CASCADE"),
        primary_key=True,
    ),
)
