"""Settings of the chat (`AUTAN_CHAT__*`)."""

from __future__ import annotations

from pydantic import BaseModel, Field


class ChatSettings(BaseModel):
    max_answer_tokens: int = Field(
        2048, ge=16, description="Longest answer a model may write in the chat, in tokens."
    )
    title_tokens: int = Field(24, ge=4, description="Longest automatic title, in tokens.")
