"""The OpenAI-compatible API: `/v1/models`, `/v1/chat/completions`, `/v1/embeddings`, and
Albert's `/v1/rerank`."""

from __future__ import annotations

from collections.abc import AsyncGenerator
from typing import Any

import orjson
import structlog
from fastapi import APIRouter, Depends, Request, Response

from autan.accounts.principal import Principal
from autan.core.body import json_body, parse_body
from autan.core.errors import InvalidRequest
from autan.deps import ApiPrincipal, GatewayDep, WebSearchDep, api_principal
from autan.llm.config import ModelConfig, ModelType
from autan.llm.errors import ModelNotFound, NoRerankModel
from autan.llm.gateway import Call, UpstreamAnswer
from autan.llm.limits import check_chat, check_embeddings, check_json_numbers
from autan.llm.rerank import rerank_answer
from autan.openai_api.schemas import ChatCompletionRequest, EmbeddingRequest, RerankRequest
from autan.openai_api.streaming import ClientGone, EventStreamResponse, until_disconnect
from autan.retrieval.grounding import ground_chat_payload, guess_lang, last_user_text
from autan.services import services_of
from autan.websearch.api import url_citations, web_results, with_stream_citations

log = structlog.get_logger(__name__)

# Every route of this router needs an API key: authentication is not opted into per route.
router = APIRouter(prefix="/v1", tags=["OpenAI-compatible"], dependencies=[Depends(api_principal)])

_JSON = "application/json"


def _model_card(config: ModelConfig) -> dict[str, Any]:
    return {
        "id": config.id,
        "object": "model",
        "created": 0,
        "owned_by": "autan",
        # Extensions, so that clients can describe models to their users.
        "type": config.type.value,
        "display_name": config.display_name or config.id,
        "description": config.description,
        "context_length": config.context_length,
        "capabilities": config.capabilities,
        # Albert's (OpenGateLLM `Model`) names: no aliases nor per-token costs here.
        "aliases": [],
        "max_context_length": config.context_length,
        "costs": {"prompt_tokens": 0.0, "completion_tokens": 0.0},
    }


@router.get("/models")
async def list_models(
    request: Request, principal: ApiPrincipal, gateway: GatewayDep
) -> dict[str, Any]:
    """The models this deployment offers to the caller's organisation."""
    pools = await services_of(request).model_access.allowed(principal)
    return {"object": "list", "data": [_model_card(pool.config) for pool in pools]}


@router.get("/models/{model_id:path}")
async def get_model(
    model_id: str, request: Request, principal: ApiPrincipal, gateway: GatewayDep
) -> dict[str, Any]:
    """One model."""
    pool = await services_of(request).model_access.get(principal, model_id)
    return _model_card(pool.config)


def _log_extras(body: ChatCompletionRequest | EmbeddingRequest) -> None:
    if body.model_extra:
        log.debug("unknown_fields_forwarded", fields=sorted(body.model_extra))


def _answer(answer: UpstreamAnswer) -> Response:
    return Response(answer.body, status_code=answer.status, media_type=_JSON)


@router.post(
    "/chat/completions", response_model=None, openapi_extra=json_body(ChatCompletionRequest)
)
async def chat_completions(
    request: Request, principal: ApiPrincipal, gateway: GatewayDep, web: WebSearchDep
) -> Response:
    """Chat completion, streamed (SSE) or not."""
    body = await parse_body(request, ChatCompletionRequest)
    _log_extras(body)
    pool = await services_of(request).model_access.pool(principal, body.model, ModelType.CHAT)
    payload = body.model_dump(
        exclude_unset=True, exclude={"search", "search_args", "web_search", "web_search_options"}
    )
    if body.wants_web():
        await web.check(principal)  # refused before anything is counted
    # Before the quota is counted: a request the model cannot take costs nothing.
    check_chat(pool.config, payload)
    await services_of(request).quotas.check(principal)
    results = await _search(request, principal, body, payload) if body.search else None
    web_sources: list[dict[str, Any]] = []
    if body.wants_web():
        question = last_user_text(payload["messages"])
        if not question:
            raise InvalidRequest(
                "A search needs a question: the last user message has no text.",
                param="messages",
            )
        grounded = await web.ground(
            principal,
            payload["messages"],
            question,
            guess_lang(question),
            first=len(results or []) + 1,
            pages=body.web_pages(),
        )
        payload["messages"] = grounded.messages
        web_sources = grounded.sources
        results = [*(results or []), *web_results(grounded.findings)]
    endpoint = _endpoint(results, web_sources)
    call = Call(principal, endpoint, pool.model_id, stream=bool(body.stream))
    if not body.stream:
        try:
            answer = await until_disconnect(
                request.receive, gateway.complete(call, pool, "/chat/completions", payload)
            )
        except ClientGone:
            return Response(status_code=499)
        if results is None:
            return _answer(answer)
        return _with_results(answer, results, web_sources)
    opened = await gateway.open_stream(call, pool, payload)
    if isinstance(opened, UpstreamAnswer):
        return _answer(opened)
    relay = gateway.relay(opened)
    if web_sources:
        relay = with_stream_citations(relay, web_sources)
    return EventStreamResponse(relay if results is None else _results_first(results, relay))


def _endpoint(results: list[dict[str, Any]] | None, web_sources: list[dict[str, Any]]) -> str:
    """The usage row's endpoint: what the answer was grounded on."""
    if web_sources:
        return "chat.web"
    return "chat" if results is None else "chat.documents"


async def _search(
    request: Request, principal: Principal, body: ChatCompletionRequest, payload: dict[str, Any]
) -> list[dict[str, Any]]:
    """Ground the request in the caller's collections; the search results to send back."""
    args = body.search_args
    if args is None:
        raise InvalidRequest(
            "`search: true` needs `search_args` with the collections to search.",
            param="search_args",
        )
    return await ground_chat_payload(
        services_of(request).session_factory,
        services_of(request).models,
        principal,
        payload,
        embedding_model=services_of(request).documents.embedding_model(),
        collections=args.collections,
        k=args.k,
        method=args.method,
        tuning=services_of(request).settings.retrieval,
    )


def _with_results(
    answer: UpstreamAnswer, results: list[dict[str, Any]], web_sources: list[dict[str, Any]]
) -> Response:
    if answer.status != 200:
        return _answer(answer)
    data = orjson.loads(answer.body)
    data["search_results"] = results
    if web_sources:
        for choice in data.get("choices") or ():
            message = choice.get("message") if isinstance(choice, dict) else None
            if isinstance(message, dict) and isinstance(message.get("content"), str):
                message["annotations"] = url_citations(message["content"], web_sources)
    return Response(orjson.dumps(data), media_type=_JSON)


async def _results_first(
    results: list[dict[str, Any]], relay: AsyncGenerator[bytes, None]
) -> AsyncGenerator[bytes, None]:
    """The search results as a first SSE event, then the model's events."""
    try:
        yield b"data: " + orjson.dumps({"object": "search_results", "data": results}) + b"\n\n"
        async for events in relay:
            yield events
    finally:
        await relay.aclose()


@router.post("/embeddings", response_model=None, openapi_extra=json_body(EmbeddingRequest))
async def embeddings(request: Request, principal: ApiPrincipal, gateway: GatewayDep) -> Response:
    """Embeddings of a string or a list of strings."""
    body = await parse_body(request, EmbeddingRequest)
    _log_extras(body)
    problem = body.input_problem()
    if problem is not None:
        raise InvalidRequest(problem, param="input")
    access = services_of(request).model_access
    pool = await access.pool(principal, body.model, ModelType.EMBEDDING)
    payload = body.model_dump(exclude_unset=True)
    check_json_numbers(payload)
    chars = check_embeddings(pool.config, body.items())
    await services_of(request).quotas.check(principal)
    settings = services_of(request).settings.gateway
    # A small request has little time: a replica that takes longer is stuck, not busy.
    timeout = min(
        settings.read_timeout,
        settings.embedding_timeout + settings.embedding_timeout_per_kchar * chars / 1000,
    )
    call = Call(principal, "embeddings", pool.model_id, size=chars, timeout=timeout)
    try:
        answer = await until_disconnect(
            request.receive, gateway.complete(call, pool, "/embeddings", payload)
        )
    except ClientGone:
        return Response(status_code=499)
    return _answer(answer)


@router.post("/rerank", response_model=None, openapi_extra=json_body(RerankRequest))
async def rerank(request: Request, principal: ApiPrincipal, gateway: GatewayDep) -> Response:
    """Documents scored against a query by a reranking model, best first."""
    body = await parse_body(request, RerankRequest)
    access = services_of(request).model_access
    try:
        pool = await access.pool(principal, body.model, ModelType.RERANK)
    except ModelNotFound:
        if not await access.allowed(principal, ModelType.RERANK):
            raise NoRerankModel() from None
        raise
    await services_of(request).quotas.check(principal)
    settings = services_of(request).settings.gateway
    chars = body.size()
    timeout = min(
        settings.read_timeout,
        settings.embedding_timeout + settings.embedding_timeout_per_kchar * chars / 1000,
    )
    call = Call(principal, "rerank", pool.model_id, size=chars, timeout=timeout)
    payload = body.model_dump(exclude_none=True)
    try:
        answer = await until_disconnect(
            request.receive, gateway.complete(call, pool, "/rerank", payload)
        )
    except ClientGone:
        return Response(status_code=499)
    if answer.status != 200:
        return _answer(answer)
    answered = rerank_answer(
        answer.body,
        model=pool.model_id,
        documents=len(body.documents),
        top_n=body.top_n,
        prompt_tokens=call.prompt_tokens,
    )
    return Response(orjson.dumps(answered), media_type=_JSON)
