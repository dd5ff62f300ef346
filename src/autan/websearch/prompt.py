"""Web sources in the model's prompt, numbered after any document sources of the turn."""

from __future__ import annotations

from collections.abc import Sequence

from autan.llm.client import ChatMessage
from autan.retrieval.grounding import INSTRUCTIONS, Lang
from autan.websearch.service import Notice, WebSource

_HEADING: dict[str, str] = {"fr": "Sources web :", "en": "Web sources:"}
_QUESTION: dict[str, str] = {"fr": "Question :", "en": "Question:"}
# Said before the answer when the search could not help: the reader must know.
NOTICES: dict[str, dict[str, str]] = {
    "engine_unavailable": {
        "fr": "*La recherche web n'a pas répondu à temps : cette réponse ne s'appuie pas sur "
        "le web.*\n\n",
        "en": "*Web search did not answer in time: this answer does not draw on the web.*\n\n",
    },
    "nothing_read": {
        "fr": "*Aucune page web n'a pu être lue : cette réponse ne s'appuie pas sur le web.*\n\n",
        "en": "*No web page could be read: this answer does not draw on the web.*\n\n",
    },
    "off_domain": {
        "fr": "*Les pages trouvées sont sur des sites que votre organisation n'autorise pas : "
        "cette réponse ne s'appuie pas sur le web.*\n\n",
        "en": "*The pages found are on sites your organisation does not allow: this answer "
        "does not draw on the web.*\n\n",
    },
    "no_results": {
        "fr": "*La recherche web n'a rien trouvé : cette réponse ne s'appuie pas sur le web.*\n\n",
        "en": "*Web search found nothing: this answer does not draw on the web.*\n\n",
    },
}


def notice_text(notice: Notice | None, lang: Lang, found_any: bool) -> str:
    """What to say before the answer about the search, if anything."""
    if notice is not None:
        return NOTICES[notice][lang]
    return "" if found_any else NOTICES["no_results"][lang]


def web_block(sources: Sequence[WebSource], first: int, lang: Lang) -> str:
    """The numbered web sources as the model reads them."""
    blocks = []
    for number, source in enumerate(sources, first):
        where = " — ".join(p for p in (source.title, source.site, source.published or "") if p)
        blocks.append(f"[{number}] {where}\n{source.passage}")
    return f"{_HEADING[lang]}\n\n" + "\n\n".join(blocks)


def with_web_sources(
    messages: Sequence[ChatMessage],
    sources: Sequence[WebSource],
    first: int,
    lang: Lang,
    question: str,
) -> list[ChatMessage]:
    """The messages with the web sources before the last question.

    When documents already grounded the turn (their instruction is in the system message),
    the web block joins their sources; otherwise the grounding instruction is added too.
    """
    out: list[ChatMessage] = [dict(m) for m in messages]
    if not sources:
        return out
    instruction = INSTRUCTIONS[lang]
    system = out[0] if out and out[0].get("role") == "system" else None
    grounded = system is not None and instruction in str(system.get("content", ""))
    if system is None:
        out.insert(0, {"role": "system", "content": instruction})
    elif not grounded:
        system["content"] = f"{str(system.get('content', '')).rstrip()}\n\n{instruction}"
    for index in range(len(out) - 1, -1, -1):
        if out[index].get("role") != "user":
            continue
        content = str(out[index].get("content", ""))
        label = _QUESTION[lang]
        cut = content.rfind(f"\n\n{label} ") if grounded else -1
        before = content[:cut] + "\n\n" if cut >= 0 else ""
        out[index] = {
            **out[index],
            "content": f"{before}{web_block(sources, first, lang)}\n\n{label} {question}",
        }
        break
    return out
