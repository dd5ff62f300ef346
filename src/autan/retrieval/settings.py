"""Settings of document search (AUTAN_RETRIEVAL__*)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

SearchMethod = Literal["hybrid", "semantic", "lexical"]


class RetrievalSettings(BaseModel):
    """How chunks are searched for a question."""

    method: SearchMethod = Field(
        default="hybrid",
        description="Default search method: `hybrid` (lexical and semantic fused), "
        "`semantic` (embeddings only) or `lexical` (words only).",
    )
    k: int = Field(default=5, ge=1, le=100, description="Passages returned by default.")
    rrf_k: int = Field(
        default=60,
        ge=1,
        description="Constant of reciprocal rank fusion: higher flattens the weight of top ranks.",
    )
    candidates: int = Field(
        default=50,
        ge=1,
        le=1000,
        description="Chunks each method proposes to the fusion in hybrid search.",
    )
