"""Settings of the chat (`AUTAN_CHAT__*`)."""

from __future__ import annotations

from pydantic import BaseModel, Field


class ChatSettings(BaseModel):
    max_answer_tokens: int = Field(
        2048, ge=16, description="Longest answer a model may write in the chat, in tokens."
    )
    title_tokens: int = Field(24, ge=4, description="Longest automatic title, in tokens.")
    stream_interval_ms: float = Field(
        50.0,
        ge=0,
        le=500,
        description=(
            "Shortest time between two pieces of a streamed answer sent to the page, in"
            " milliseconds: the words a fast model writes meanwhile are sent together (the"
            " first piece is never held). 0 sends every piece as the model writes it."
        ),
    )
