"""Calling the models from inside Autan (chat UI, titles, ingestion, grounded answers).

The same gateway as the public API: replica choice, retry before the first event, usage
rows and token quotas all apply. Streams are parsed into text deltas here, since the
application, unlike the API's relay, needs the words themselves.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Sequence
from typing import Any, Literal

import orjson

from autan.llm.caller import Caller
from autan.llm.config import ModelType
from autan.llm.errors import UpstreamFailed
from autan.llm.gateway import Call, Gateway, UpstreamAnswer
from autan.llm.rerank import rerank_results

ChatMessage = dict[str, Any]
EmbeddingInput = Literal["query", "passage"]

_EVENT_END = b"\n\n"
EMBEDDING_BATCH = 64


def _upstream_error(answer: UpstreamAnswer, model: str) -> UpstreamFailed:
    message = f"The model `{model}` refused the request (HTTP {answer.status})."
    try:
        payload = orjson.loads(answer.body)
        detail = payload.get("error", {}).get("message") if isinstance(payload, dict) else None
    except (orjson.JSONDecodeError, AttributeError):
        detail = None
    if isinstance(detail, str) and detail:
        message = f"{message} {detail}"
    return UpstreamFailed(message)


def _deltas(events: bytes) -> list[str]:
    """The text carried by a block of SSE events; an error event raises."""
    texts: list[str] = []
    for event in events.split(_EVENT_END):
        data = event.strip()
        if not data.startswith(b"data:"):
            continue
        data = data[5:].strip()
        if not data or data == b"[DONE]":
            continue
        try:
            payload = orjson.loads(data)
        except orjson.JSONDecodeError:
            continue
        if not isinstance(payload, dict):
            continue
        error = payload.get("error")
        if isinstance(error, dict):
            raise UpstreamFailed(
                str(error.get("message") or "The model failed."), code=error.get("code")
            )
        for choice in payload.get("choices") or ():
            content = (choice.get("delta") or {}).get("content")
            if content:
                texts.append(content)
    return texts


class ModelClient:
    """Chat and embeddings on behalf of a signed-in person, through the gateway."""

    def __init__(self, gateway: Gateway) -> None:
        self.gateway = gateway

    def chat_models(self) -> list[str]:
        return [m for m, p in self.gateway.pools.items() if p.config.type is ModelType.CHAT]

    def embedding_models(self) -> list[str]:
        return [m for m, p in self.gateway.pools.items() if p.config.type is ModelType.EMBEDDING]

    def rerank_models(self) -> list[str]:
        return [m for m, p in self.gateway.pools.items() if p.config.type is ModelType.RERANK]

    async def rerank(
        self, principal: Caller, model: str, query: str, documents: Sequence[str]
    ) -> list[float]:
        """One relevance score per document (in their order) from a reranking model."""
        pool = self.gateway.pool(model, ModelType.RERANK)
        call = Call(principal, "rerank", pool.model_id, size=len(query) + sum(map(len, documents)))
        body = {"query": query, "documents": list(documents)}
        answer = await self.gateway.complete(call, pool, "/rerank", body)
        if answer.status != 200:
            raise _upstream_error(answer, pool.model_id)
        try:
            results = rerank_results(orjson.loads(answer.body), len(documents), None)
        except orjson.JSONDecodeError as exc:
            raise UpstreamFailed(
                "The model `{model}` sent unreadable scores.", values={"model": pool.model_id}
            ) from exc
        scores = [float("-inf")] * len(documents)
        for result in results:
            scores[result["index"]] = result["relevance_score"]
        return scores

    async def stream_chat(
        self,
        principal: Caller,
        model: str,
        messages: Sequence[ChatMessage],
        *,
        endpoint: str = "chat",
        on_finished: Callable[[Call], None] | None = None,
        **params: Any,
    ) -> AsyncIterator[str]:
        """Yield the answer's text as it comes; raises a domain error if the model fails.

        Closing the generator early (the person pressed stop, or left) closes the upstream
        connection, which stops the generation on the replica. `on_finished` is given the
        accounted call (tokens, impacts) once the answer has ended, however it ended.
        """
        pool = self.gateway.pool(model, ModelType.CHAT)
        call = Call(principal, endpoint, pool.model_id, stream=True)
        payload = {"messages": list(messages), "stream": True, **params}
        opened = await self.gateway.open_stream(call, pool, payload)
        if isinstance(opened, UpstreamAnswer):
            raise _upstream_error(opened, pool.model_id)
        relay = self.gateway.relay(opened)
        try:
            async for events in relay:
                for text in _deltas(events):
                    yield text
        finally:
            await relay.aclose()
            if on_finished is not None:
                on_finished(call)

    async def complete_chat(
        self,
        principal: Caller,
        model: str,
        messages: Sequence[ChatMessage],
        *,
        endpoint: str = "chat",
        **params: Any,
    ) -> str:
        """The whole answer of a non-streamed request."""
        pool = self.gateway.pool(model, ModelType.CHAT)
        call = Call(principal, endpoint, pool.model_id)
        payload = {"messages": list(messages), "stream": False, **params}
        answer = await self.gateway.complete(call, pool, "/chat/completions", payload)
        if answer.status != 200:
            raise _upstream_error(answer, pool.model_id)
        try:
            data = orjson.loads(answer.body)
            return str(data["choices"][0]["message"].get("content") or "")
        except (orjson.JSONDecodeError, KeyError, IndexError, TypeError, AttributeError):
            unreadable = f"The model `{pool.model_id}` sent an unreadable answer."
            raise UpstreamFailed(unreadable) from None

    async def embed(
        self,
        principal: Caller,
        model: str,
        texts: Sequence[str],
        *,
        input_type: EmbeddingInput,
        endpoint: str = "embeddings",
    ) -> list[list[float]]:
        """Vectors of `texts`, in batches; `input_type` selects e5's `query:`/`passage:`."""
        pool = self.gateway.pool(model, ModelType.EMBEDDING)
        if input_type == "query":
            # A search prompt may be longer than the model reads (10,000 characters against
            # e5's ~4,000): its head carries the question, and the rest would only
            # hold the shared model for seconds.
            limit = pool.config.input_chars
            texts = [text[:limit] for text in texts]
        vectors: list[list[float]] = []
        for start in range(0, len(texts), EMBEDDING_BATCH):
            batch = list(texts[start : start + EMBEDDING_BATCH])
            # Its size counts in the time allowed to API requests queued behind it.
            call = Call(principal, endpoint, pool.model_id, size=sum(map(len, batch)))
            body = {"input": batch, "input_type": input_type}
            answer = await self.gateway.complete(call, pool, "/embeddings", body)
            if answer.status != 200:
                raise _upstream_error(answer, pool.model_id)
            try:
                data = sorted(orjson.loads(answer.body)["data"], key=lambda d: d["index"])
                vectors.extend([list(map(float, d["embedding"])) for d in data])
            except (orjson.JSONDecodeError, KeyError, TypeError) as exc:
                raise UpstreamFailed(
                    "The model `{model}` sent unreadable embeddings.",
                    values={"model": pool.model_id},
                ) from exc
        return vectors
