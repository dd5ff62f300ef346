"""Whether the passages found answer the question: one short yes/no call before answering.

A small model told "say so if the sources do not contain the answer" still answers from an
unrelated passage (the answer benchmark: abstention 0.00), and told more firmly refuses
answerable questions too. Asked separately, as a yes/no question with two or three tokens
of output, the same model separates the two well; when it says no, the answer is the fixed
sentence below instead of the model's invention. Measured in benchmarks/answers/tune.py.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Literal

from autan.accounts.principal import Principal
from autan.core.errors import AutanError
from autan.llm.client import ChatMessage, ModelClient
from autan.retrieval.search import SearchHit

Lang = Literal["fr", "en"]

# Enough for "oui"/"non" and a stray punctuation mark: the check costs one prompt read.
CHECK_TOKENS = 3

NOT_IN_DOCUMENTS: dict[str, str] = {
    "fr": "Les documents fournis ne contiennent pas cette information.",
    "en": "The documents provided do not contain this information.",
}

_ASK: dict[str, str] = {
    "fr": (
        "Tu vérifies si un passage répond à une question. Lis le passage et la question, "
        "puis réponds seulement par « oui » si le passage contient la réponse, ou « non » "
        "sinon."
    ),
    "en": (
        "You check whether a passage answers a question. Read the passage and the question, "
        "then reply only “yes” if the passage contains the answer, or “no” otherwise."
    ),
}
_LABELS: dict[str, tuple[str, str, str]] = {
    "fr": ("Passage", "Question", "Le passage contient-il la réponse ? Réponds oui ou non."),
    "en": ("Passage", "Question", "Does the passage contain the answer? Reply yes or no."),
}
_FIRST_WORD = re.compile(r"[a-zà-ÿ]+")


def check_messages(
    question: str, hits: Sequence[SearchHit], lang: Lang = "fr"
) -> list[ChatMessage]:
    """The messages of the relevance check: the passages, the question, yes or no."""
    passage, question_label, ask = _LABELS[lang]
    colon = " :" if lang == "fr" else ":"
    passages = "\n\n".join(hit.content.strip() for hit in hits)
    text = f"{passage}{colon}\n{passages}\n\n{question_label}{colon} {question}\n\n{ask}"
    return [{"role": "system", "content": _ASK[lang]}, {"role": "user", "content": text}]


def says_no(reply: str) -> bool:
    """Whether the check's reply is a no; anything unreadable counts as yes (answer)."""
    match = _FIRST_WORD.search(reply.lower())
    return match is not None and match.group() in ("non", "no")


async def answers_question(
    models: ModelClient,
    principal: Principal,
    model: str,
    question: str,
    hits: Sequence[SearchHit],
    lang: Lang = "fr",
) -> bool:
    """Whether the model judges that the passages answer the question (yes when unsure)."""
    try:
        reply = await models.complete_chat(
            principal,
            model,
            check_messages(question, hits, lang),
            endpoint="chat.relevance",
            max_tokens=CHECK_TOKENS,
            temperature=0,
        )
    except AutanError:
        # The answer call that follows meets the same failure and reports it plainly.
        return True
    return not says_no(reply)
