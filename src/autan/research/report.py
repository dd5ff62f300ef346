"""The plan and the report of a deep-research run (its Markdown; `exports` writes DOCX and ODT).

The embedded model is small: what it writes is kept only where it can be checked. The plan
keeps the lines that read as questions (else the question alone); the summary is the
model's only when it cites sources that exist (else the best sentences of the pages). Each
section quotes the pages verbatim with their number, so every cited sentence really is on
the cited page.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from autan.llm.client import ChatMessage
from autan.websearch.passages import terms

_NUMBERING = re.compile(r"^\s*(?:[-*•]|\d{1,2}[.)])\s*")
_SENTENCE = re.compile(r"(?<=[.!?])\s+(?=[A-ZÀ-Ý0-9«\"])")
_MARKER = re.compile(r"\[(\d{1,3})\]")

TEXTS: dict[str, dict[str, str]] = {
    "fr": {
        "plan": "Décompose la question suivante en au plus {count} sous-questions courtes et "
        "précises, une par ligne, chacune terminée par un point d'interrogation. N'écris rien "
        "d'autre.\n\nQuestion : {question}",
        "summary": "Écris une synthèse de 3 à 5 phrases qui répond à la question en ne "
        "s'appuyant que sur les sources numérotées ci-dessous. Termine chaque phrase par le "
        "numéro de sa source entre crochets, par exemple [1].",
        "title": "Recherche approfondie",
        "question": "Question",
        "summary_heading": "Synthèse",
        "sources": "Sources",
        "nothing": "Aucune page n'a pu être lue pour cette question.",
        "partial": "Rapport partiel : la recherche s'est arrêtée avant la fin ({why}).",
        "stopped": "arrêtée à votre demande",
        "interrupted": "interrompue par un redémarrage du service",
        "limit": "limite atteinte",
    },
    "en": {
        "plan": "Break the following question into at most {count} short, precise "
        "sub-questions, one per line, each ending with a question mark. Write nothing "
        "else.\n\nQuestion: {question}",
        "summary": "Write a 3 to 5 sentence summary answering the question using only the "
        "numbered sources below. End each sentence with the number of its source in square "
        "brackets, for example [1].",
        "title": "Deep research",
        "question": "Question",
        "summary_heading": "Summary",
        "sources": "Sources",
        "nothing": "No page could be read for this question.",
        "partial": "Partial report: the research stopped before the end ({why}).",
        "stopped": "stopped at your request",
        "interrupted": "interrupted by a restart of the service",
        "limit": "limit reached",
    },
}


def texts(lang: str) -> dict[str, str]:
    """The report's fixed words in the run's language (French unless English)."""
    return TEXTS["en" if lang == "en" else "fr"]


def plan_messages(question: str, count: int, lang: str) -> list[ChatMessage]:
    """The request that asks the model for the plan's sub-questions."""
    prompt = texts(lang)["plan"].format(count=count, question=question)
    return [{"role": "user", "content": prompt}]


def parse_plan(answer: str, question: str, count: int) -> list[str]:
    """The sub-questions of the model's answer: lines that read as questions, each once.

    The question itself comes first, so that the run always searches for what was asked.
    """
    plan = [question.strip()]
    seen = {" ".join(terms(question))}
    for line in answer.splitlines():
        line = _NUMBERING.sub("", line).strip().strip('"«» ')
        if not (10 <= len(line) <= 300 and line.endswith("?")):
            continue
        key = " ".join(terms(line))
        if key and key not in seen:
            seen.add(key)
            plan.append(line)
    return plan[:count]


def sentences(text: str) -> list[str]:
    """The sentences of a passage (a line break also ends one)."""
    found: list[str] = []
    for line in text.splitlines():
        found += [s.strip() for s in _SENTENCE.split(line) if len(s.strip()) > 20]
    return found


def quoted(source: dict[str, Any], question: str, limit: int = 2) -> str:
    """The best sentences of a source's passage, without the page title run into them."""
    text = " ".join(best_sentences(source["excerpt"], question, limit))
    title = str(source.get("title") or "")
    if title and text.startswith(title + " "):
        text = text[len(title) + 1 :]
    return text


def best_sentences(passage: str, question: str, limit: int = 2) -> list[str]:
    """The sentences of a passage sharing most words with the question, in page order.

    Lines without a final stop (titles, menus) are left out when the page has sentences.
    """
    wanted = set(terms(question))
    found = sentences(passage)
    found = [s for s in found if s.endswith((".", "!", "?", "…"))] or found
    ranked = sorted(
        range(len(found)), key=lambda i: (-len(wanted.intersection(terms(found[i]))), i)
    )
    return [found[i] for i in sorted(ranked[:limit])]


def summary_messages(
    question: str, sources: Sequence[dict[str, Any]], lang: str
) -> list[ChatMessage]:
    """The request that asks the model for the summary, with the numbered passages."""
    block = "\n\n".join(f"[{s['number']}] {s['title']}\n{s['excerpt']}" for s in sources)
    words = texts(lang)
    return [
        {"role": "system", "content": words["summary"]},
        {"role": "user", "content": f"{block}\n\n{words['question']} : {question}"},
    ]


def checked_summary(answer: str, sources: Sequence[dict[str, Any]]) -> str | None:
    """The model's summary if each of its sentences cites sources that exist and says
    mostly what they say (most of its content words are in the cited passages)."""
    text = " ".join(answer.split())
    by_number = {int(s["number"]): s for s in sources}
    found = [s for s in _SENTENCE.split(text) if s.strip()]
    if not found:
        return None
    for sentence in found:
        numbers = {int(n) for n in _MARKER.findall(sentence)}
        if not numbers or not numbers <= set(by_number):
            return None
        said = set(terms(_MARKER.sub(" ", sentence)))
        cited = set(terms(" ".join(by_number[n]["excerpt"] for n in numbers)))
        if len(said) < 3 or len(said & cited) < 0.6 * len(said):
            return None
    return text


def extractive_summary(question: str, sources: Sequence[dict[str, Any]]) -> str:
    """A summary made of the best sentence of the first pages, each with its number."""
    lines = []
    for source in sources[:4]:
        best = quoted(source, question, 1)
        if best:
            lines.append(f"{best} [{source['number']}]")
    return " ".join(lines)


def build_report(
    question: str,
    plan: Sequence[str],
    sources: Sequence[dict[str, Any]],
    lang: str,
    summary: str | None = None,
    ended: str | None = None,
) -> str:
    """The report in Markdown: summary first, one section per sub-question, the sources.

    `ended` ("stopped", "interrupted", "limit") says why the report is partial.
    """
    words = texts(lang)
    out = [f"# {words['title']}", "", f"**{words['question']} :** {question}", ""]
    if ended is not None:
        out += [f"*{words['partial'].format(why=words[ended])}*", ""]
    if not sources:
        return "\n".join([*out, words["nothing"], ""])
    out += [f"## {words['summary_heading']}", "", summary or extractive_summary(question, sources)]
    for sub in plan:
        found = [s for s in sources if s.get("question") == sub]
        if not found:
            continue
        out += ["", f"## {sub}", ""]
        for source in found:
            text = quoted(source, sub)
            if text:
                out.append(f"- {text} [{source['number']}]")
    out += ["", f"## {words['sources']}", ""]
    for source in sources:
        where = ", ".join(p for p in (source.get("site"), source.get("published")) if p)
        out.append(f"{source['number']}. [{source['title']}]({source['url']}) — {where}")
    return "\n".join([*out, ""])


def report_body(report: str) -> str:
    """The report without its title and question, which the run's page already shows."""
    lines = report.splitlines()
    if lines and lines[0].startswith("# "):
        lines = lines[4:]
    return "\n".join(lines)
