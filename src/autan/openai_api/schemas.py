"""Request bodies of the OpenAI-compatible API, mirroring OpenAI's spec (same field order).

Unknown fields are accepted, forwarded to the replica and logged, as other OpenAI-compatible
servers (vLLM, llama.cpp) do: clients use vendor extensions freely.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from autan.documents.schemas import SearchArgs

MAX_EMBEDDING_INPUTS = 2048


class _Open(BaseModel):
    model_config = ConfigDict(extra="allow")


class ChatMessage(_Open):
    role: Literal["system", "developer", "user", "assistant", "tool", "function"]
    content: str | list[dict[str, Any]] | None = None
    name: str | None = None
    tool_calls: list[dict[str, Any]] | None = None
    tool_call_id: str | None = None


class StreamOptions(_Open):
    include_usage: bool | None = None


class ChatCompletionRequest(_Open):
    """`POST /v1/chat/completions`."""

    messages: list[ChatMessage] = Field(min_length=1)
    model: str = Field(min_length=1)
    frequency_penalty: float | None = Field(None, ge=-2, le=2)
    logit_bias: dict[str, float] | None = None
    logprobs: bool | None = None
    top_logprobs: int | None = Field(None, ge=0, le=20)
    max_tokens: int | None = Field(None, ge=1)
    max_completion_tokens: int | None = Field(None, ge=1)
    n: int | None = Field(None, ge=1, le=16)
    presence_penalty: float | None = Field(None, ge=-2, le=2)
    response_format: dict[str, Any] | None = None
    seed: int | None = None
    stop: str | list[str] | None = None
    stream: bool | None = False
    stream_options: StreamOptions | None = None
    temperature: float | None = Field(None, ge=0, le=2)
    top_p: float | None = Field(None, ge=0, le=1)
    tools: list[dict[str, Any]] | None = None
    tool_choice: str | dict[str, Any] | None = None
    parallel_tool_calls: bool | None = None
    user: str | None = None
    # Extension (Albert API): answer from the caller's collections. The passages found for
    # the last user message are put in the prompt as numbered sources, and come back in
    # `search_results` (streamed: a first SSE event `{"object": "search_results", ...}`).
    search: bool | None = None
    search_args: SearchArgs | None = None


class EmbeddingRequest(_Open):
    """`POST /v1/embeddings`."""

    input: str | list[str] | list[int] | list[list[int]]
    model: str = Field(min_length=1)
    encoding_format: Literal["float", "base64"] | None = None
    dimensions: int | None = Field(None, ge=1)
    user: str | None = None
    # Extension: asymmetric models (e5) embed queries and passages differently.
    input_type: Literal["query", "passage"] | None = None

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
