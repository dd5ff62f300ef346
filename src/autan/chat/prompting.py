"""What the model is sent: a system instruction, then as much of the conversation as fits."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date

from autan.llm.client import ChatMessage

# Rough but safe for French and English: a token is about four characters of text.
CHARS_PER_TOKEN = 4
ANSWER_RESERVE = 0.25

_SYSTEM = {
    "fr": (
        "Tu es Autan, l'assistant d'intelligence artificielle des agents du service public. "
        "Nous sommes le {today}. Réponds dans la langue de la question, de façon claire, "
        "précise et polie. Utilise le Markdown (listes, tableaux, blocs de code) quand il aide "
        "la lecture. Si tu ne sais pas, dis-le plutôt que d'inventer."
    ),
    "en": (
        "You are Autan, the artificial intelligence assistant of public servants. "
        "Today is {today}. Answer in the language of the question, clearly, precisely and "
        "politely. Use Markdown (lists, tables, code blocks) when it helps reading. If you do "
        "not know, say so rather than invent."
    ),
}


def estimate_tokens(text: str) -> int:
    """A quick upper-bound-ish token count, enough to keep a prompt inside a context."""
    return len(text) // CHARS_PER_TOKEN + 4


def system_prompt(lang: str, instructions: str = "", today: date | None = None) -> str:
    """The standing instruction, with an assistant's own instructions after it."""
    text = _SYSTEM.get(lang, _SYSTEM["fr"]).format(today=(today or date.today()).isoformat())
    if instructions.strip():
        text += "\n\n" + instructions.strip()
    return text


def fit(system: str, turns: Sequence[ChatMessage], context_length: int | None) -> list[ChatMessage]:
    """The system message and the latest turns whose total fits the model's context.

    The newest turn is always kept (cut if it alone is too long): the model must see the
    question it answers.
    """
    budget = int((context_length or 8192) * (1 - ANSWER_RESERVE)) - estimate_tokens(system)
    kept: list[ChatMessage] = []
    for turn in reversed(turns):
        cost = estimate_tokens(str(turn.get("content", "")))
        if kept and cost > budget:
            break
        if not kept and cost > budget:
            keep_chars = max(budget, 64) * CHARS_PER_TOKEN
            turn = {**turn, "content": str(turn.get("content", ""))[-keep_chars:]}
            cost = budget
        kept.append(turn)
        budget -= cost
    kept.reverse()
    # A conversation shown to a model starts with a question.
    while kept and kept[0].get("role") != "user":
        kept.pop(0)
    return [{"role": "system", "content": system}, *kept]
