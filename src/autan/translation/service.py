"""Translating a document through the chat model, section by section (map-reduce).

Map: each section (a heading and what follows it, or a run of segments of at most about
1,500 characters) is one model call, its segments numbered `[n]`; the answer's lines are
matched back by number, and a segment the model dropped keeps its original text rather
than shifting the others. Reduce: the translated segments are written back into the
document in its own format (`translation.documents`), so headings, lists and tables stay.
Progress (sections done / total) is saved after each section for the page to poll. The
work itself is a durable job of the worker queue (`translation.worker`).
"""

from __future__ import annotations

import re
import uuid

from sqlalchemy import delete as delete_rows
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from autan.accounts import audit
from autan.accounts.principal import Principal
from autan.core.db import rowcount
from autan.core.events import TranslationQueued, emit
from autan.llm.client import ChatMessage
from autan.translation.documents import FORMATS, DocumentUnreadable, read
from autan.translation.errors import (
    TranslationEmpty,
    TranslationFileUnreadable,
    TranslationFormatUnsupported,
    TranslationLanguageInvalid,
    TranslationNotFound,
    TranslationTooLarge,
)
from autan.translation.models import TranslationJob

LANGUAGES = {
    "fr": "French",
    "en": "English",
    "de": "German",
    "es": "Spanish",
    "it": "Italian",
    "pt": "Portuguese",
    "nl": "Dutch",
    "ar": "Arabic",
    "uk": "Ukrainian",
}
MAX_BYTES = 10 * 1024 * 1024
_LINE = re.compile(r"^\s*\[(\d{1,4})\]\s?(.*)$")


def file_format(name: str) -> str:
    """The format of an uploaded file from its name, or TranslationFormatUnsupported."""
    suffix = name.rsplit(".", 1)[-1].lower() if "." in name else ""
    if suffix not in FORMATS:
        raise TranslationFormatUnsupported()
    return FORMATS[suffix]


async def create(
    session: AsyncSession,
    principal: Principal,
    name: str,
    data: bytes,
    target: str,
    model: str,
) -> TranslationJob:
    """A queued translation of the uploaded file, checked readable before anything runs."""
    if target not in LANGUAGES:
        raise TranslationLanguageInvalid()
    fmt = file_format(name)
    if len(data) > MAX_BYTES:
        raise TranslationTooLarge(MAX_BYTES // (1024 * 1024))
    try:
        found = read(data, fmt)
    except DocumentUnreadable:
        raise TranslationFileUnreadable() from None
    if not found.segments:
        raise TranslationEmpty()
    job = TranslationJob(
        user_id=principal.user_id,
        org_id=principal.org_id,
        file_name=name[:255],
        fmt=fmt,
        target_lang=target,
        model=model,
        source=data,
        sections_total=len(found.sections),
    )
    session.add(job)
    await session.flush()
    # Workers of every process (serve's own or `autan worker`) look at once.
    emit(session, TranslationQueued())
    audit.record(
        session,
        audit.Action.DOCUMENT_TRANSLATED,
        actor_id=principal.user_id,
        org_id=principal.org_id,
        target=str(job.id),
        fmt=fmt,
        target_lang=target,
    )
    await session.commit()
    return job


async def owned(session: AsyncSession, principal: Principal, job_id: uuid.UUID) -> TranslationJob:
    """A translation of this person, or TranslationNotFound (whoever else's it is)."""
    job = await session.scalar(
        select(TranslationJob).where(
            TranslationJob.id == job_id, TranslationJob.user_id == principal.user_id
        )
    )
    if job is None:
        raise TranslationNotFound()
    return job


async def delete(session: AsyncSession, principal: Principal, job_id: uuid.UUID) -> None:
    """Delete a translation of this person with its uploaded file and its result, whatever
    its state, or TranslationNotFound (whoever else's it is).

    The file, the sections done and the result are columns of the job's row: deleting the
    row leaves nothing behind. A running job is deleted at once rather than refused: its
    worker only ever UPDATEs the row under its lease, so nothing writes it back, and its
    heartbeat notices within a beat and stops the model call in flight (`worker`).
    """
    deleted = await session.execute(
        delete_rows(TranslationJob).where(
            TranslationJob.id == job_id, TranslationJob.user_id == principal.user_id
        )
    )
    if rowcount(deleted) != 1:
        await session.rollback()
        raise TranslationNotFound()
    await session.commit()


def section_messages(texts: list[str], target: str) -> list[ChatMessage]:
    """The request that translates one section, its segments numbered."""
    numbered = "\n".join(f"[{i}] {' '.join(t.split())}" for i, t in enumerate(texts, start=1))
    instruction = (
        f"Translate each numbered line into {LANGUAGES[target]}. Answer with the same "
        "numbered lines, one per line, in the same order, each starting with its number in "
        "square brackets. Keep Markdown marks, links and numbers as they are. Write nothing else."
    )
    return [
        {"role": "system", "content": instruction},
        {"role": "user", "content": numbered},
    ]


def parse_section(answer: str, originals: list[str]) -> list[str]:
    """The translated lines matched by number; a missing one keeps its original text."""
    found: dict[int, str] = {}
    for line in answer.splitlines():
        match = _LINE.match(line)
        if match and match.group(2).strip():
            found.setdefault(int(match.group(1)), match.group(2).strip())
    return [found.get(i, text) for i, text in enumerate(originals, start=1)]
