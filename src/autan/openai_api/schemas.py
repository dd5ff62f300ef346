"""Request bodies of the OpenAI-compatible API, mirroring OpenAI's spec (same field order).

Unknown fields are accepted, forwarded to the replica and logged, as other OpenAI-compatible
servers (vLLM, llama.cpp) do: clients use vendor extensions freely. Every number is bounded
and every boolean strict (pydantic would read `"yes"` or `"1"` as true, and `true` as the
integer 1), so what reaches a replica is what the client meant; numbers in unknown fields
are checked by `autan.llm.limits.check_json_numbers` before forwarding.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool

from autan.documents.schemas import SearchArgs

MAX_EMBEDDING_INPUTS = 2048
INT64_MIN = -(2**63)
INT64_MAX = 2**63 - 1
# Token counts: no model reads or writes more than this in one request.
MAX_TOKENS = 2**31 - 1
MAX_DIMENSIONS = 65536

Count = Annotated[int, Field(strict=True, ge=1, le=MAX_TOKENS)]
TokenId = Annotated[int, Field(strict=True, ge=0, le=MAX_TOKENS)]
Seed = Annotated[int, Field(strict=True, ge=INT64_MIN, le=INT64_MAX)]
Bias = Annotated[float, Field(ge=-100, le=100)]


class _Open(BaseModel):
    model_config = ConfigDict(extra="allow")


class ChatMessage(_Open):
    role: Literal["system", "developer", "user", "assistant", "tool", "function"]
    content: str | list[dict[str, Any]] | None = None
    name: str | None = None
    tool_calls: list[dict[str, Any]] | None = None
    tool_call_id: str | None = None


class StreamOptions(_Open):
    include_usage: StrictBool | None = None


class WebSearchOptions(_Open):
    """OpenAI's `web_search_options`: its presence turns web search on."""

    # How much of the pages read goes into the prompt: low 2 pages, medium 3, high 5.
    search_context_size: Literal["low", "medium", "high"] | None = None
    # Accepted for compatibility; nothing about the caller is ever sent to the engine.
    user_location: dict[str, Any] | None = None


class ChatCompletionRequest(_Open):
    """`POST /v1/chat/completions`."""

    messages: list[ChatMessage] = Field(min_length=1)
    model: str = Field(min_length=1)
    frequency_penalty: float | None = Field(None, ge=-2, le=2)
    logit_bias: dict[str, Bias] | None = None
    logprobs: StrictBool | None = None
    top_logprobs: int | None = Field(None, strict=True, ge=0, le=20)
    max_tokens: Count | None = None
    max_completion_tokens: Count | None = None
    n: int | None = Field(None, strict=True, ge=1, le=16)
    presence_penalty: float | None = Field(None, ge=-2, le=2)
    response_format: dict[str, Any] | None = None
    seed: Seed | None = None
    stop: str | list[str] | None = None
    stream: StrictBool | None = False
    stream_options: StreamOptions | None = None
    temperature: float | None = Field(None, ge=0, le=2)
    top_p: float | None = Field(None, ge=0, le=1)
    tools: list[dict[str, Any]] | None = None
    tool_choice: str | dict[str, Any] | None = None
    parallel_tool_calls: StrictBool | None = None
    user: str | None = None
    # Extension (Albert API): answer from the caller's collections. The passages found for
    # the last user message are put in the prompt as numbered sources, and come back in
    # `search_results` (streamed: a first SSE event `{"object": "search_results", ...}`).
    search: StrictBool | None = None
    search_args: SearchArgs | None = None
    # Extension: answer from the web. The pages read come back in `search_results` (each
    # with `url`, `title` and the passage used) and the answer's [n] markers as OpenAI
    # `url_citation` annotations; 403 when the caller's organisation forbids web search.
    web_search: StrictBool | None = None
    # OpenAI's own shape of the same thing (`{}` is enough to turn it on).
    web_search_options: WebSearchOptions | None = None

    def wants_web(self) -> bool:
        """Whether the caller asked for web search, in either shape."""
        return bool(self.web_search) or self.web_search_options is not None

    def web_pages(self) -> int | None:
        """Pages to read, from `search_context_size` (None: the deployment's default)."""
        size = self.web_search_options.search_context_size if self.web_search_options else None
        return {"low": 2, "medium": 3, "high": 5}.get(size or "")

    def output_tokens(self) -> int | None:
        """The answer length asked for, if any (`max_completion_tokens` wins, as at OpenAI)."""
        return self.max_completion_tokens or self.max_tokens


class EmbeddingRequest(_Open):
    """`POST /v1/embeddings`."""

    input: str | list[str] | list[TokenId] | list[list[TokenId]]
    model: str = Field(min_length=1)
    encoding_format: Literal["float", "base64"] | None = None
    dimensions: int | None = Field(None, strict=True, ge=1, le=MAX_DIMENSIONS)
    user: str | None = None
    # Extension: asymmetric models (e5) embed queries and passages differently.
    input_type: Literal["query", "passage"] | None = None

    def items(self) -> list[str | list[int]]:
        """The inputs as a list (a lone string or token list becomes a list of one)."""
        items: list[str | list[int]] = []
        if isinstance(self.input, str):
            return [self.input]
        for item in self.input:
            if isinstance(item, int):
                return [[int(i) for i in self.input if isinstance(i, int)]]
            items.append(item)
        return items

    def input_problem(self) -> str | None:
        """Why the input cannot be embedded, if it cannot."""
        items = [self.input] if isinstance(self.input, str) else self.input
        if not items:
            return "input must not be empty"
        if len(items) > MAX_EMBEDDING_INPUTS:
            return f"input must have at most {MAX_EMBEDDING_INPUTS} items"
        if any(isinstance(item, str | list) and len(item) == 0 for item in items):
            return "input must not contain empty strings"
        return None


MAX_RERANK_DOCUMENTS = 1000


class RerankRequest(BaseModel):
    """`POST /v1/rerank`, in the shape of Albert, Cohere, vLLM and Infinity."""

    model_config = ConfigDict(extra="forbid")

    model: str = Field(min_length=1, max_length=200)
    query: str = Field(min_length=1, max_length=10_000)
    documents: list[Annotated[str, Field(min_length=1, max_length=100_000)]] = Field(
        min_length=1, max_length=MAX_RERANK_DOCUMENTS
    )
    top_n: int | None = Field(None, strict=True, ge=1, le=MAX_RERANK_DOCUMENTS)

    def size(self) -> int:
        """Characters to read: what the reranker's time grows with."""
        return len(self.query) * len(self.documents) + sum(map(len, self.documents))
