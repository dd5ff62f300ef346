"""Translating a document through the chat model, section by section (map-reduce).

Map: each section (a heading and what follows it, or a run of segments of at most about
1,500 characters) is one model call, its segments numbered `[n]`; the answer's lines are
matched back by number, and a segment the model dropped keeps its original text rather
than shifting the others. Reduce: the translated segments are written back into the
document in its own format (`translation.documents`), so headings, lists and tables stay.
Progress (sections done / total) is saved after each section for the page to poll.
"""

from __future__ import annotations

import asyncio
import re
import uuid

import structlog
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from autan.accounts import audit
from autan.accounts.principal import Principal
from autan.chat.errors import readable_message
from autan.core.db import utcnow
from autan.core.errors import AutanError
from autan.llm.client import ChatMessage, ModelClient
from autan.translation.documents import FORMATS, DocumentUnreadable, read
from autan.translation.errors import (
    TranslationEmpty,
    TranslationFileUnreadable,
    TranslationFormatUnsupported,
    TranslationLanguageInvalid,
    TranslationNotFound,
    TranslationTooLarge,
)
from autan.translation.models import TranslationJob, TranslationStatus

log = structlog.get_logger(__name__)

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
# Tasks of this process, kept referenced until they end (asyncio keeps only weak ones).
_RUNNING: set[asyncio.Task[None]] = set()


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


async def run(
    factory: async_sessionmaker[AsyncSession],
    models: ModelClient,
    principal: Principal,
    job_id: uuid.UUID,
) -> None:
    """Translate the job's document section by section, saving progress, then write it."""
    async with factory() as session:
        job = await owned(session, principal, job_id)
        job.status = TranslationStatus.RUNNING
        data, fmt, target, model = job.source, job.fmt, job.target_lang, job.model
        await session.commit()
    try:
        document = read(data, fmt)
        texts = [segment.text for segment in document.segments]
        for done, section in enumerate(document.sections, start=1):
            originals = [texts[i] for i in section]
            # A translation is about as long as its source: bound the answer to that.
            budget = 64 + sum(len(t) for t in originals) // 2
            answer = await models.complete_chat(
                principal,
                model,
                section_messages(originals, target),
                endpoint="translation",
                max_tokens=min(budget, 4096),
            )
            for index, text in zip(section, parse_section(answer, originals), strict=True):
                texts[index] = text
            async with factory() as session:
                job = await owned(session, principal, job_id)
                job.sections_done = done
                await session.commit()
        result, status, error = document.write(texts), TranslationStatus.DONE, None
    except AutanError as exc:
        # A fixed sentence (the model's failure without its name), read in the person's language.
        result, status, error = None, TranslationStatus.FAILED, readable_message(exc)
    except Exception:
        log.exception("translation_failed", job_id=str(job_id))
        result, status, error = None, TranslationStatus.FAILED, None
    async with factory() as session:
        job = await owned(session, principal, job_id)
        job.result, job.status, job.error, job.finished_at = result, status, error, utcnow()
        await session.commit()


def start(
    factory: async_sessionmaker[AsyncSession],
    models: ModelClient,
    principal: Principal,
    job_id: uuid.UUID,
) -> None:
    """Run the translation in the background of this process."""
    task = asyncio.get_running_loop().create_task(run(factory, models, principal, job_id))
    _RUNNING.add(task)
    task.add_done_callback(_RUNNING.discard)
