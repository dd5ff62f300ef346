"""The evaluation data of /work/shared/data, loaded and chunked for the retrieval benchmark."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path

DATA = Path("/work/shared/data")

# About 300 e5 tokens (French runs near 4 characters a token), the documents' default size.
MAX_CHARS = 1200
_SENTENCE_END = re.compile(r"(?<=[.!?;:])\s+")


@dataclass(frozen=True, slots=True)
class Draft:
    """A chunk draft with the fields of autan.documents.chunking.ChunkDraft."""

    text: str
    position: int
    page: int | None = None
    pages: tuple[int, ...] = ()
    headings: tuple[str, ...] = ()
    tokens: int = 0


@dataclass(frozen=True, slots=True)
class BenchDocument:
    key: str
    title: str | None
    drafts: list[Draft]


@dataclass(slots=True)
class Dataset:
    name: str
    documents: list[BenchDocument]
    questions: list[tuple[str, str]] = field(default_factory=list)  # (question, document key)


def _pieces(paragraph: str, limit: int) -> list[str]:
    """A paragraph cut on sentence ends (then spaces) into pieces of at most `limit` chars."""
    if len(paragraph) <= limit:
        return [paragraph]
    pieces: list[str] = []
    current = ""
    for sentence in _SENTENCE_END.split(paragraph):
        while len(sentence) > limit:
            cut = sentence.rfind(" ", 0, limit)
            cut = cut if cut > 0 else limit
            pieces.extend(p for p in (current, sentence[:cut]) if p)
            current, sentence = "", sentence[cut:].strip()
        if current and len(current) + 1 + len(sentence) > limit:
            pieces.append(current)
            current = sentence
        else:
            current = f"{current} {sentence}".strip()
    if current:
        pieces.append(current)
    return pieces


def pack_paragraphs(text: str, limit: int = MAX_CHARS) -> list[Draft]:
    """Consecutive paragraphs packed into chunks of at most `limit` characters, no overlap."""
    chunks: list[str] = []
    current = ""
    for line in text.split("\n"):
        for piece in _pieces(" ".join(line.split()), limit):
            if current and len(current) + 1 + len(piece) > limit:
                chunks.append(current)
                current = piece
            else:
                current = f"{current}\n{piece}".strip()
    if current:
        chunks.append(current)
    return [Draft(text=t, position=i, tokens=len(t) // 4) for i, t in enumerate(chunks)]


def service_public(limit: int = MAX_CHARS) -> Dataset:
    """535 fiches (no title in the data), chunked; 535 questions each naming its fiche."""
    fiches = DATA / "service-public" / "fiches.jsonl"
    documents = []
    for line in fiches.read_text(encoding="utf-8").splitlines():
        fiche = json.loads(line)
        documents.append(BenchDocument(fiche["id"], None, pack_paragraphs(fiche["text"], limit)))
    questions = [
        (q["question"], q["fiche_id"])
        for q in map(json.loads, (DATA / "service-public" / "questions.jsonl").open())
    ]
    return Dataset("service-public", documents, questions)


def piaf() -> Dataset:
    """1,518 Wikipedia paragraphs (one chunk each, titled by their article), 7,569 questions."""
    raw = json.loads((DATA / "piaf" / "piaf-v1.1.json").read_text(encoding="utf-8"))
    documents: list[BenchDocument] = []
    questions: list[tuple[str, str]] = []
    for article in raw["data"]:
        for number, paragraph in enumerate(article["paragraphs"]):
            key = f"{article['title']}#{number}"
            text = paragraph["context"].strip()
            draft = Draft(text=text, position=0, tokens=len(text) // 4)
            documents.append(BenchDocument(key, article["title"], [draft]))
            questions.extend((qa["question"], key) for qa in paragraph["qas"])
    return Dataset("piaf", documents, questions)
