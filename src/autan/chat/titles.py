"""Short conversation titles: asked of the model after the first exchange, else derived."""

from __future__ import annotations

import re

from autan.accounts.principal import Principal
from autan.core.errors import AutanError
from autan.llm.client import ModelClient

MAX_TITLE = 80
_FALLBACK_WORDS = 8

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
    """The first words of the first question, cut cleanly."""
    words = first_message.split()
    title = " ".join(words[:_FALLBACK_WORDS])
    if len(words) > _FALLBACK_WORDS:
        title += "…"
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
