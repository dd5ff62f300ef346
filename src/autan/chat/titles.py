"""Short conversation titles: derived from the question at once, then asked of the model.

A new conversation gets a provisional title from its first question (cleaned first words)
as soon as the question is stored, so the sidebar never shows a row of "New conversation";
the model's proposal replaces it once an answer has ended (whole, failed or stopped).
"""

from __future__ import annotations

import re

from autan.accounts.principal import Principal
from autan.core.errors import AutanError
from autan.llm.client import ModelClient

MAX_TITLE = 80
_FALLBACK_WORDS = 8
_PROVISIONAL_CHARS = 60
# Markup, links and greetings say nothing about what a conversation is about.
_MARKUP = re.compile(r"[`*_#>|~\[\]]+|https?://\S+")
_GREETING = re.compile(
    r"^(bonjour|bonsoir|salut|coucou|hello|hi|hey)\b[\s,.!;:-]*", flags=re.IGNORECASE
)

_ASK = {
    "fr": (
        "Propose un titre très court (3 à 6 mots) pour une conversation qui commence par la "
        "question ci-dessous. Écris le titre dans la langue de la question. Réponds uniquement "
        "par le titre, sans guillemets ni ponctuation finale."
    ),
    "en": (
        "Suggest a very short title (3 to 6 words) for a conversation that starts with the "
        "question below. Write the title in the language of the question. Answer with the "
        "title only, without quotes or final punctuation."
    ),
}


def fallback_title(first_message: str) -> str:
    """The first words of the first question, cleaned (no markup, links or greeting) and cut
    on a word boundary: the provisional title, and the title when the model gives none."""
    text = " ".join(_MARKUP.sub(" ", first_message).split())
    text = _GREETING.sub("", text).strip() or text
    words = text.split()
    kept: list[str] = []
    for word in words[:_FALLBACK_WORDS]:
        if kept and len(" ".join([*kept, word])) > _PROVISIONAL_CHARS:
            break
        kept.append(word)
    title = " ".join(kept)[:_PROVISIONAL_CHARS].rstrip(" ,;:.!?-")
    if len(kept) < len(words):
        title += "…"
    title = title[:1].upper() + title[1:]
    return title[:MAX_TITLE] or "Conversation"


def clean_title(raw: str) -> str | None:
    """The model's proposal made presentable, or None if it is unusable."""
    line = next((part for part in raw.strip().splitlines() if part.strip()), "")
    line = re.sub(r"^(titre|title)\s*:\s*", "", line.strip(), flags=re.IGNORECASE)
    line = line.strip().strip("\"'«»“”*#`").strip().rstrip(".:;,!").strip()
    line = " ".join(line.split())
    if len(line) < 2 or len(line) > 120:
        return None
    return line[:MAX_TITLE]


async def propose_title(
    models: ModelClient,
    principal: Principal,
    model: str,
    first_message: str,
    lang: str,
    *,
    max_tokens: int = 24,
) -> tuple[str, bool]:
    """A title and whether the model wrote it (False: derived from the question)."""
    prompt = [
        {"role": "system", "content": _ASK.get(lang, _ASK["fr"])},
        {"role": "user", "content": first_message[:2000]},
    ]
    try:
        raw = await models.complete_chat(
            principal, model, prompt, endpoint="chat.title", max_tokens=max_tokens, temperature=0.2
        )
    except AutanError:
        return fallback_title(first_message), False
    title = clean_title(raw)
    if title is None:
        return fallback_title(first_message), False
    return title, True
