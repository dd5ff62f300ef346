"""Settings of document search (AUTAN_RETRIEVAL__*)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

SearchMethod = Literal["hybrid", "semantic", "lexical"]


class RetrievalSettings(BaseModel):
    """How chunks are searched for a question."""

    method: SearchMethod = Field(
        default="hybrid",
        description="Search method of grounded chat answers: `hybrid` (lexical and semantic "
        "fused), `semantic` (embeddings only) or `lexical` (words only).",
    )
    k: int = Field(default=6, ge=1, le=50, description="Passages a grounded chat answer is given.")
    relevance_share: float = Field(
        default=0.5,
        ge=0,
        le=1,
        description="A passage found for a chat answer is given to the model and shown as a "
        "source only if its score reaches this share of the best passage's score (the best "
        "is always kept): one relevant passage is not drowned in unrelated ones. 0 keeps "
        "all `k`.",
    )
    relevance_check: bool = Field(
        default=False,
        description="Before a chat answer grounded in searched passages, ask the model in a "
        "separate short call (yes/no, 3 tokens) whether the passages answer the question; if "
        "not, answer that the documents do not contain the information instead of letting "
        "the model invent an answer. Costs one prompt read before the first token (about "
        "3 s on 2 cores); off by default: on the dev split it lifted abstention from 0.00 "
        "to 0.64 but not to the 0.70 target (benchmarks/results/answers-tuning.md).",
    )
    min_cosine: float = Field(
        default=0.79,
        ge=0,
        le=1,
        description="A chat answer grounded in searched passages says that the documents do "
        "not contain the information, without calling the model, when the best passage's "
        "cosine with the question is below this value (0: never, the model answers from "
        "whatever was found). Only with the embedding models of `min_cosine_models`: "
        "cosines of different models are not on the same scale. 0.79 is fitted for "
        "multilingual-e5-small on the answer benchmark's dev split: 0.85 of unanswerable "
        "pairs refused, 0.01 of answerable ones (benchmarks/results/answers-threshold.md).",
    )
    min_cosine_models: list[str] = Field(
        default=["multilingual-e5-small"],
        description="Embedding models (ids of the models file) whose cosines `min_cosine` "
        "was fitted for; with any other embedding model no answer is refused on this "
        "ground. Fit a threshold for another model with benchmarks/answers/threshold.py.",
    )
    fusion: Literal["score", "rank"] = Field(
        default="score",
        description="How hybrid search fuses its two rankings: `score` (standardised scores, "
        "weighted) or `rank` (reciprocal rank fusion).",
    )
    semantic_weight: float = Field(
        default=1.2,
        ge=0,
        le=10,
        description="Weight of the semantic ranking against the lexical one (1) in hybrid "
        "search; 1.2 ranked best over the service-public and PIAF benchmarks together.",
    )
    rrf_k: int = Field(
        default=60,
        ge=1,
        description="Constant of reciprocal rank fusion (`fusion=rank`): higher flattens the "
        "weight of top ranks.",
    )
    candidates: int = Field(
        default=50,
        ge=1,
        le=1000,
        description="Chunks each method proposes to the fusion in hybrid search.",
    )
    rerank_model: str | None = Field(
        default=None,
        description="Reranking model (type `rerank` in the models file) that reorders the "
        "best passages of hybrid search; unset, the first declared one is used if any. "
        "`off` never reranks.",
    )
    rerank_top: int = Field(
        default=20,
        ge=0,
        le=100,
        description="How many of hybrid search's best passages the reranking model reorders "
        "(0: none).",
    )
