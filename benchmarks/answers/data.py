"""PIAF cases for the answer benchmark, split once by article into dev and test.

An article goes wholly to one split (a stable hash of its title decides), so tuning on dev
never sees a paragraph of the test split. Each case is one question with the paragraph that
answers it; an abstention case pairs a question with a paragraph of another article.
"""

from __future__ import annotations

import hashlib
import json
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

_REPO = Path(__file__).resolve().parents[2]
# Benchmarks may read the shared evaluation data beside the checkout (a worktree sits one
# level deeper than the main checkout).
DATA = next(
    (
        p
        for p in (_REPO.parent / "shared" / "data", _REPO.parent.parent / "shared" / "data")
        if p.is_dir()
    ),
    _REPO.parent / "shared" / "data",
)
PIAF = DATA / "piaf" / "piaf-v1.1.json"
DEV_SHARE = 30  # percent of articles in the development split
SEED = 14

Split = Literal["dev", "test"]


@dataclass(frozen=True, slots=True)
class Case:
    """One question, the paragraph shown with it, and the accepted answers."""

    id: str
    article: str
    question: str
    paragraph: str
    paragraph_title: str
    golds: tuple[str, ...]
    answerable: bool = True


def split_of(title: str) -> Split:
    """The split an article belongs to, fixed by a hash of its title."""
    bucket = int(hashlib.sha256(title.encode()).hexdigest(), 16) % 100
    return "dev" if bucket < DEV_SHARE else "test"


def _articles(path: Path) -> list[dict[str, object]]:
    if not path.is_file():
        raise SystemExit(f"PIAF data not found at {path} (see ../shared/data/README.md)")
    data: list[dict[str, object]] = json.loads(path.read_text(encoding="utf-8"))["data"]
    return data


def load_cases(split: Split, limit: int, path: Path = PIAF) -> list[Case]:
    """Up to `limit` answerable cases of a split, one question per paragraph, in a fixed order."""
    cases: list[Case] = []
    for article in _articles(path):
        title = str(article["title"])
        if split_of(title) != split:
            continue
        for paragraph in article["paragraphs"]:  # type: ignore[attr-defined]
            qas = paragraph["qas"]
            if not qas:
                continue
            qa = qas[0]
            golds = tuple(dict.fromkeys(a["text"] for a in qa["answers"]))
            cases.append(Case(qa["id"], title, qa["question"], paragraph["context"], title, golds))
    random.Random(SEED).shuffle(cases)
    return cases[:limit]


def abstention_cases(answerable: list[Case], limit: int) -> list[Case]:
    """Questions paired with the paragraph of a case from another article."""
    out: list[Case] = []
    for index, case in enumerate(answerable):
        if len(out) >= limit:
            break
        for other in answerable[index + 1 :] + answerable[:index]:
            if other.article != case.article:
                out.append(
                    Case(
                        f"{case.id}-none",
                        case.article,
                        case.question,
                        other.paragraph,
                        other.paragraph_title,
                        case.golds,
                        answerable=False,
                    )
                )
                break
    return out
