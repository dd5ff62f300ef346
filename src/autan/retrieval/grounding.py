"""Answers grounded in retrieved passages: the prompt with numbered sources, and citations.

The chat UI and `/v1/chat/completions` (`search: true`) both build the model's messages
with `grounded_messages` and show the sources with `sources_of`; the numbers match, so
"[2]" in an answer points at the second source.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import replace
from typing import Any, Literal

import structlog
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from autan.accounts.principal import Principal
from autan.core.errors import AutanError, InvalidRequest
from autan.documents.permissions import readable_collection_ids
from autan.llm.client import ChatMessage, ModelClient
from autan.retrieval.search import SearchHit, search
from autan.retrieval.settings import RetrievalSettings

log = structlog.get_logger(__name__)

Lang = Literal["fr", "en"]
EXCERPT_CHARS = 300

INSTRUCTIONS: dict[str, str] = {
    "fr": (
        "Réponds uniquement à partir des sources numérotées ci-dessous. Cite chaque "
        "information avec le numéro de sa source entre crochets, par exemple [1] ou [2]. "
        "Si les sources ne contiennent pas la réponse, dis-le clairement au lieu de "
        "l'inventer. Réponds dans la langue de la question."
    ),
    "en": (
        "Answer only from the numbered sources below. Cite each piece of information "
        "with the number of its source in square brackets, for example [1] or [2]. If the "
        "sources do not contain the answer, say so plainly instead of making one up. "
        "Answer in the language of the question."
    ),
}
_LABELS: dict[str, tuple[str, str, str]] = {
    "fr": ("Sources", "Question", "p."),
    "en": ("Sources", "Question", "p."),
}
_NO_SOURCES: dict[str, str] = {
    "fr": "(aucun passage trouvé dans les documents)",
    "en": "(no passage was found in the documents)",
}


def _where(hit: SearchHit, page_label: str) -> str:
    parts = [hit.document_name]
    pages = hit.pages or (str(hit.page) if hit.page is not None else "")
    if pages:
        parts.append(f"{page_label} {pages}")
    if hit.headings:
        parts.append(hit.headings)
    return " — ".join(parts)


def format_sources(hits: Sequence[SearchHit], lang: Lang = "fr") -> str:
    """The numbered sources as the model reads them."""
    title, _, page_label = _LABELS[lang]
    if not hits:
        return (
            f"{title} :\n{_NO_SOURCES[lang]}" if lang == "fr" else f"{title}:\n{_NO_SOURCES[lang]}"
        )
    blocks = [
        f"[{n}] {_where(hit, page_label)}\n{hit.content.strip()}" for n, hit in enumerate(hits, 1)
    ]
    colon = " :" if lang == "fr" else ":"
    return f"{title}{colon}\n\n" + "\n\n".join(blocks)


def _text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):  # OpenAI content parts
        return "\n".join(str(part.get("text", "")) for part in content if isinstance(part, dict))
    return ""


def last_user_text(messages: Sequence[ChatMessage]) -> str:
    """The text of the last user message: what retrieval searches for."""
    for message in reversed(messages):
        if message.get("role") == "user":
            return _text(message.get("content")).strip()
    return ""


def grounded_messages(
    messages: Sequence[ChatMessage], hits: Sequence[SearchHit], lang: Lang = "fr"
) -> list[ChatMessage]:
    """The conversation with the grounding instruction and the numbered sources added.

    The instruction joins the system message (small models follow one system message
    best); the sources go just before the last question, where they weigh most.
    """
    instruction = INSTRUCTIONS[lang]
    out: list[ChatMessage] = [dict(m) for m in messages]
    if out and out[0].get("role") in ("system", "developer"):
        out[0]["content"] = f"{_text(out[0].get('content')).rstrip()}\n\n{instruction}".lstrip()
    else:
        out.insert(0, {"role": "system", "content": instruction})
    _, question_label, _ = _LABELS[lang]
    colon = " :" if lang == "fr" else ":"
    for index in range(len(out) - 1, -1, -1):
        if out[index].get("role") == "user":
            question = _text(out[index].get("content")).strip()
            out[index] = {
                **out[index],
                "content": f"{format_sources(hits, lang)}\n\n{question_label}{colon} {question}",
            }
            break
    return out


def too_far(hits: Sequence[SearchHit], min_cosine: float) -> bool:
    """Whether even the closest passage found is below `min_cosine` (then abstain).

    Only cosines count: hits of lexical search carry none, and with none the rule says
    nothing (False), so search without embeddings never abstains on this ground.
    """
    cosines = [hit.cosine for hit in hits if hit.cosine is not None]
    return min_cosine > 0 and bool(cosines) and max(cosines) < min_cosine


def relevant(hits: Sequence[SearchHit], share: float) -> list[SearchHit]:
    """The hits whose score reaches `share` of the best one's, best first kept always.

    Hybrid scores are sums of standardised scores: an unrelated passage lands near zero
    or below while a relevant one stands well above. Whole documents (every passage given,
    not searched) are all kept. Scores that are all zero or less say nothing: all kept.
    """
    if not hits or share <= 0 or any(hit.method == "whole" for hit in hits):
        return list(hits)
    best = max(hit.score for hit in hits)
    if best <= 0:
        return list(hits)
    return [hit for hit in hits if hit.score >= share * best]


def _excerpt(text: str, limit: int = EXCERPT_CHARS) -> str:
    text = " ".join(text.split())
    if len(text) <= limit:
        return text
    cut = text[:limit].rsplit(" ", 1)[0]
    return f"{cut}…"


def sources_of(hits: Sequence[SearchHit]) -> list[dict[str, Any]]:
    """The sources as the user sees them, numbered as in the prompt."""
    return [
        {
            "number": n,
            "document_id": str(hit.document_id),
            "document_name": hit.document_name,
            "collection_id": str(hit.collection_id) if hit.collection_id else None,
            "page": hit.page,
            "pages": hit.pages,
            "headings": hit.headings,
            "excerpt": _excerpt(hit.content),
            "chunk_id": hit.chunk_id,
            "score": hit.score,
        }
        for n, hit in enumerate(hits, 1)
    ]


def chunk_metadata(hit: SearchHit) -> dict[str, Any]:
    """The `metadata` of a chunk in the Albert API's shape.

    The document's own metadata (Albert's `metadata` of an upload) comes first; Autan's
    fields are always there and win over a key of the same name.
    """
    return {
        **(hit.metadata or {}),
        "document_id": str(hit.document_id),
        "document_name": hit.document_name,
        "page": hit.page,
        "pages": hit.pages,
        "headings": hit.headings,
        "position": hit.position,
        "collection_id": str(hit.collection_id) if hit.collection_id else None,
    }


def search_result(hit: SearchHit) -> dict[str, Any]:
    """One item of `/v1/search` and of a chat completion's `search_results`."""
    return {
        "method": hit.method,
        "score": hit.score,
        "chunk": chunk_out(hit),
    }


def chunk_out(hit: SearchHit) -> dict[str, Any]:
    """A chunk in Albert's `Chunk` shape (`collection_id` and `document_id` beside it)."""
    return {
        "object": "chunk",
        "id": hit.chunk_id,
        "collection_id": str(hit.collection_id) if hit.collection_id else None,
        "document_id": str(hit.document_id),
        "content": hit.content,
        "metadata": chunk_metadata(hit),
    }


async def retrieve(
    session: AsyncSession,
    models: ModelClient,
    principal: Principal,
    *,
    embedding_model: str | None,
    prompt: str,
    collections: Sequence[uuid.UUID],
    k: int = 5,
    method: Literal["hybrid", "semantic", "lexical"] = "hybrid",
    tuning: RetrievalSettings | None = None,
    document_ids: Sequence[uuid.UUID] = (),
) -> list[SearchHit]:
    """Search the collections the caller may read (others are "not found").

    `document_ids` must already be checked against the caller's rights.
    """
    allowed = await readable_collection_ids(session, principal, list(collections))
    vector: list[float] | None = None
    if method != "lexical":
        if embedding_model is None:
            method = "lexical"  # no embedding model: words only, rather than nothing
        else:
            vectors = await models.embed(principal, embedding_model, [prompt], input_type="query")
            vector = vectors[0]
    reranker = _reranker(models, tuning) if method == "hybrid" else None
    top = (tuning or RetrievalSettings()).rerank_top if reranker else 0
    hits = await search(
        session,
        query=prompt,
        query_vector=vector,
        collection_ids=allowed,
        document_ids=document_ids,
        k=max(k, top),
        method=method,
        tuning=tuning,
    )
    if reranker and top and len(hits) > 1:
        hits = await _reranked(models, principal, reranker, prompt, hits, top)
    return hits[:k]


def _reranker(models: ModelClient, tuning: RetrievalSettings | None) -> str | None:
    chosen = (tuning or RetrievalSettings()).rerank_model
    if chosen == "off":
        return None
    declared = models.rerank_models()
    if chosen is not None:
        return chosen if chosen in declared else None
    return declared[0] if declared else None


async def _reranked(
    models: ModelClient,
    principal: Principal,
    model: str,
    prompt: str,
    hits: list[SearchHit],
    top: int,
) -> list[SearchHit]:
    """The best `top` hits reordered by the reranking model's scores, the rest after them.

    A reranker that fails leaves the fused order: search stays up without it.
    """
    head = hits[:top]
    try:
        scores = await models.rerank(principal, model, prompt, [hit.content for hit in head])
    except AutanError as exc:
        log.warning("rerank_failed", model=model, error=exc.message)
        return hits
    order = sorted(range(len(head)), key=lambda i: -scores[i])
    return [replace(head[i], score=scores[i]) for i in order] + hits[top:]


def guess_lang(text: str) -> Lang:
    """French unless the text reads as English (the deployment's users are mostly French)."""
    words = set(text.lower().split())
    english = len(words & {"the", "what", "how", "is", "are", "which", "who", "when", "of", "do"})
    french = len(words & {"le", "la", "les", "quel", "quelle", "comment", "est", "des", "de", "un"})
    return "en" if english > french else "fr"


async def ground_chat_payload(
    factory: async_sessionmaker[AsyncSession],
    models: ModelClient,
    principal: Principal,
    payload: dict[str, Any],
    *,
    embedding_model: str | None,
    collections: Sequence[uuid.UUID],
    k: int,
    method: Literal["hybrid", "semantic", "lexical"],
    tuning: RetrievalSettings | None = None,
) -> list[dict[str, Any]]:
    """Retrieve for the last user message and rewrite `payload["messages"]` with the sources.

    Returns the `search_results` to send beside the answer.
    """
    question = last_user_text(payload["messages"])
    if not question:
        raise InvalidRequest(
            "A search needs a question: the last user message has no text.", param="messages"
        )
    async with factory() as session:
        hits = await retrieve(
            session,
            models,
            principal,
            embedding_model=embedding_model,
            prompt=question,
            collections=collections,
            k=k,
            method=method,
            tuning=tuning,
        )
    payload["messages"] = grounded_messages(payload["messages"], hits, guess_lang(question))
    return [search_result(hit) for hit in hits]
