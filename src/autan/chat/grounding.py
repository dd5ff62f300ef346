"""Grounding a chat turn: the assistant's instructions and collections, the files attached.

Short attachments go whole into the prompt; longer ones, and an assistant's collections,
go through hybrid retrieval. Either way the model sees numbered sources and the page gets
the same numbers with document, page and passage, so every citation can be checked.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

import structlog
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from autan.accounts.principal import Principal
from autan.assistants.models import Assistant
from autan.assistants.service import collections_of, may_use
from autan.chat.models import Conversation
from autan.chat.prompting import estimate_tokens
from autan.chat.summaries import summarise_parts, wants_summary
from autan.documents.models import Chunk, Collection, Document, DocumentStatus
from autan.documents.permissions import visible_collections
from autan.llm.client import ChatMessage, ModelClient
from autan.retrieval.grounding import (
    Lang,
    grounded_messages,
    last_user_text,
    relevant,
    sources_of,
    too_far,
)
from autan.retrieval.relevance import NOT_IN_DOCUMENTS, answers_question
from autan.retrieval.search import SearchHit, search
from autan.retrieval.settings import RetrievalSettings
from autan.suitedocs.models import DocsLink, LinkStatus

log = structlog.get_logger(__name__)

# Attachments whose text takes at most this share of the context go in whole.
WHOLE_SHARE = 0.45


@dataclass(slots=True)
class Grounded:
    """The messages to send and the sources to show beside the answer."""

    messages: list[ChatMessage]
    sources: list[dict[str, Any]] = field(default_factory=list)
    # Said before the answer, when the way the documents were read matters (summaries).
    preface: str = ""
    # The whole answer, without asking the model (the passages found do not answer).
    answer: str = ""


async def attached_documents(
    session: AsyncSession, principal: Principal, conversation_id: uuid.UUID
) -> list[Document]:
    """The files attached to one of the caller's conversations, oldest first."""
    rows = await session.scalars(
        select(Document)
        .where(
            Document.conversation_id == conversation_id,
            Document.owner_id == principal.user_id,
        )
        .order_by(Document.created_at)
    )
    return list(rows)


async def ready_attachments(
    session: AsyncSession, principal: Principal, conversation_id: uuid.UUID
) -> list[uuid.UUID]:
    """The caller's files attached to a conversation that can be searched, oldest first."""
    rows = await session.scalars(
        select(Document.id)
        .where(
            Document.conversation_id == conversation_id,
            Document.owner_id == principal.user_id,
            Document.status == DocumentStatus.READY,
        )
        .order_by(Document.created_at)
    )
    return list(rows)


async def _assistant(
    session: AsyncSession, principal: Principal, assistant_id: uuid.UUID | None
) -> tuple[Assistant | None, list[uuid.UUID]]:
    if assistant_id is None:
        return None, []
    assistant = await session.get(Assistant, assistant_id)
    if assistant is None or not may_use(principal, assistant):
        return None, []  # deleted since, or never this organisation's: answer without it
    linked = (await collections_of(session, [assistant.id]))[assistant.id]
    if not linked:
        return assistant, []
    # Only the collections this person may read, whatever the assistant was given.
    readable = visible_collections(principal).where(Collection.id.in_(linked))
    ids = list(await session.scalars(readable.with_only_columns(Collection.id)))
    return assistant, ids


async def _docs_hits(
    session: AsyncSession, principal: Principal, ids: list[uuid.UUID], budget: int
) -> list[SearchHit]:
    """Attached Docs documents checked just before the turn, cut to the context's budget.

    Only links of the person's organisation still marked readable are used (the page
    checked them with the person's own Docs access before starting the turn).
    """
    if not ids:
        return []
    rows = await session.scalars(
        select(DocsLink)
        .where(
            DocsLink.id.in_(ids),
            DocsLink.org_id == principal.org_id,
            DocsLink.status == LinkStatus.OK,
        )
        .order_by(DocsLink.created_at)
    )
    hits, left = [], budget * 4  # about four characters a token
    for position, link in enumerate(rows):
        text = link.content[: max(left, 0)]
        if not text.strip():
            continue
        left -= len(text)
        hits.append(
            SearchHit(
                chunk_id=0,
                document_id=link.id,
                collection_id=None,
                document_name=link.title or "Docs",
                content=text,
                page=None,
                pages="",
                headings="",
                position=position,
                score=1.0,
                method="whole",
                metadata={"docs_id": link.docs_id},
            )
        )
    return hits


async def _whole(session: AsyncSession, documents: list[uuid.UUID]) -> list[SearchHit]:
    rows = await session.execute(
        select(Chunk, Document.name)
        .join(Document, Document.id == Chunk.document_id)
        .where(Chunk.document_id.in_(documents))
        .order_by(Document.created_at, Chunk.position)
    )
    return [
        SearchHit(
            chunk_id=chunk.id,
            document_id=chunk.document_id,
            collection_id=chunk.collection_id,
            document_name=name,
            content=chunk.content,
            page=chunk.page,
            pages=chunk.pages,
            headings=chunk.headings,
            position=chunk.position,
            score=1.0,
            method="whole",
        )
        for chunk, name in rows.all()
    ]


class ChatGrounding:
    """Adds sources to a turn's messages when its conversation has any to offer."""

    def __init__(
        self,
        factory: async_sessionmaker[AsyncSession],
        models: ModelClient,
        embedding_model: str | None,
        tuning: RetrievalSettings | None = None,
    ) -> None:
        self._factory = factory
        self._models = models
        self._embedding_model = embedding_model
        self._tuning = tuning or RetrievalSettings()

    def _min_cosine(self) -> float:
        """The abstention threshold, if it was fitted for the embedding model searching."""
        fitted = self.embedding_model() in self._tuning.min_cosine_models
        return self._tuning.min_cosine if fitted else 0.0

    def embedding_model(self) -> str | None:
        if self._embedding_model:
            return self._embedding_model
        available = self._models.embedding_models()
        return available[0] if available else None

    async def ground(
        self,
        principal: Principal,
        conversation: Conversation | None,
        messages: list[ChatMessage],
        lang: str,
        context_length: int | None,
        model: str,
        docs: list[uuid.UUID] | None = None,
        attached: list[uuid.UUID] | None = None,
    ) -> Grounded:
        """The messages with instructions and numbered sources, and those sources.

        `attached`: the conversation's ready files when the caller has read them already.
        """
        if conversation is None:
            return Grounded(messages)
        if attached == [] and conversation.assistant_id is None and not docs:
            return Grounded(messages)  # nothing to ground on: no transaction at all
        async with self._factory() as session:
            assistant, collections = await _assistant(session, principal, conversation.assistant_id)
            documents = (
                attached
                if attached is not None
                else await ready_attachments(session, principal, conversation.id)
            )
            if assistant is not None and assistant.instructions.strip():
                messages = [dict(m) for m in messages]
                messages[0]["content"] = (
                    f"{messages[0]['content']}\n\n{assistant.instructions.strip()}"
                )
            context = context_length or 4096
            docs_hits = await _docs_hits(session, principal, docs or [], int(WHOLE_SHARE * context))
            if not collections and not documents:
                if not docs_hits:
                    return Grounded(messages)
                language: Lang = "en" if lang == "en" else "fr"
                return Grounded(
                    grounded_messages(messages, docs_hits, language), sources_of(docs_hits)
                )
            question = last_user_text(messages)
            preface, too_long = "", False
            if documents and not collections and wants_summary(question):
                hits = await _whole(session, documents)
                too_long = sum(estimate_tokens(h.content) for h in hits) > WHOLE_SHARE * context
            else:
                hits = await self._hits(
                    session, principal, question, collections, documents, context_length
                )
        if too_long:  # the model calls of a long summary hold no database connection
            hits, preface = await summarise_parts(
                self._models, principal, model, hits, context, lang
            )
        hits = docs_hits + hits
        if not hits:
            return Grounded(messages)
        language = "en" if lang == "en" else "fr"
        searched = not preface and all(hit.method != "whole" for hit in hits)
        if searched and too_far(hits, self._min_cosine()):
            # No passage is close to the question: a small model would answer from it anyway.
            return Grounded(messages, answer=NOT_IN_DOCUMENTS[language])
        if (
            searched
            and self._tuning.relevance_check
            and not await answers_question(self._models, principal, model, question, hits, language)
        ):
            # A small model answers from unrelated passages anyway: say so, cite nothing.
            return Grounded(messages, answer=NOT_IN_DOCUMENTS[language])
        return Grounded(grounded_messages(messages, hits, language), sources_of(hits), preface)

    async def _hits(
        self,
        session: AsyncSession,
        principal: Principal,
        question: str,
        collections: list[uuid.UUID],
        documents: list[uuid.UUID],
        context_length: int | None,
    ) -> list[SearchHit]:
        if documents and not collections:
            total = await session.scalar(
                select(func.sum(Chunk.tokens)).where(Chunk.document_id.in_(documents))
            )
            if (total or 0) <= WHOLE_SHARE * (context_length or 4096):
                return await _whole(session, documents)
        vector = None
        model = self.embedding_model()
        if model is not None and question:
            # The embedding call may queue behind other model calls: hand the connection
            # back to the pool meanwhile (read-only so far), or a busy model drains the pool.
            await session.commit()
            # Retrieval is the owner's own request: the same principal pays for it.
            vector = (await self._models.embed(principal, model, [question], input_type="query"))[0]
        hits = await search(
            session,
            query=question,
            query_vector=vector,
            collection_ids=collections,
            document_ids=documents,
            k=self._tuning.k,
            method=self._tuning.method,
            tuning=self._tuning,
        )
        # Numbered after the cut, so that [n] in the answer is the n-th source shown.
        return relevant(hits, self._tuning.relevance_share)
