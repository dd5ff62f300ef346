"""The relevance check before a grounded answer: its prompt, how its reply is read, and the
call through the gateway (scripted model speaking the OpenAI protocol, and the real one)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import aiohttp
import pytest
from benchmarks.answers.scoring import abstains

from autan.accounts.models import Role
from autan.accounts.principal import Principal
from autan.core.events import EventBus
from autan.core.metrics import Metrics
from autan.llm.client import ModelClient
from autan.llm.config import ModelConfig, ModelsConfig, ModelType, ReplicaConfig
from autan.llm.gateway import Gateway
from autan.llm.pool import ModelPool
from autan.llm.settings import GatewaySettings
from autan.retrieval.relevance import (
    NOT_IN_DOCUMENTS,
    Lang,
    answers_question,
    check_messages,
    says_no,
)
from autan.retrieval.search import SearchHit
from autan.retrieval.settings import RetrievalSettings
from tests.support.scripted_upstream import scripted_upstream

PASSAGE = "Les dossiers de marchés publics sont conservés dix ans après la fin du marché."
WHO = Principal(uuid.uuid4(), uuid.uuid4(), "a@example.fr", Role.MEMBER)


def hit(content: str = PASSAGE) -> SearchHit:
    return SearchHit(
        chunk_id=1,
        document_id=uuid.uuid4(),
        collection_id=None,
        document_name="guide.txt",
        content=content,
        page=None,
        pages="",
        headings="",
        position=0,
        score=2.0,
        method="hybrid",
    )


@pytest.mark.parametrize(
    ("reply", "no"),
    [
        ("non", True),
        ("Non.", True),
        (" NON, le passage", True),
        ("no", True),
        ("oui", False),
        ("Oui.", False),
        ("yes", False),
        ("", False),  # unreadable: answer rather than refuse
        ("Le passage dit…", False),
        ("nonobstant", False),
    ],
)
def test_the_reply_is_read_as_a_no_only_when_it_says_no(reply: str, no: bool) -> None:
    assert says_no(reply) is no


@pytest.mark.parametrize("lang", ["fr", "en"])
def test_the_check_shows_passages_and_question_and_the_fixed_answer_reads_as_abstention(
    lang: Lang,
) -> None:
    messages = check_messages("Combien de temps ?", [hit(), hit("Deuxième passage.")], lang)
    assert [m["role"] for m in messages] == ["system", "user"]
    user = str(messages[1]["content"])
    assert PASSAGE in user and "Deuxième passage." in user and "Combien de temps ?" in user
    assert abstains(NOT_IN_DOCUMENTS[lang])
    assert RetrievalSettings().relevance_check is False  # off until it wins on dev


@pytest.fixture
async def scripted_client() -> AsyncIterator[ModelClient]:
    async with scripted_upstream() as url, aiohttp.ClientSession() as http:
        config = ModelConfig(id="scripted", replicas=[ReplicaConfig(url=url, name="r0")])
        pool = ModelPool(config, queue_size=4, queue_timeout=5.0, retry_after=3)
        metrics = Metrics()
        yield ModelClient(
            Gateway({"scripted": pool}, http, GatewaySettings(), metrics, EventBus(None))
        )
        metrics.close()


async def test_the_check_asks_the_model_and_follows_its_no(scripted_client: ModelClient) -> None:
    yes = await answers_question(scripted_client, WHO, "scripted", "Combien de temps ?", [hit()])
    no = await answers_question(
        scripted_client, WHO, "scripted", "Quelle couleur ? [unrelated]", [hit()], "en"
    )
    assert (yes, no) == (True, False)


async def test_a_failing_model_means_answer_anyway() -> None:
    async with aiohttp.ClientSession() as http:
        config = ModelConfig(id="down", replicas=[ReplicaConfig(url="http://127.0.0.1:9/v1")])
        pool = ModelPool(config, queue_size=1, queue_timeout=1.0, retry_after=3)
        metrics = Metrics()
        client = ModelClient(
            Gateway({"down": pool}, http, GatewaySettings(), metrics, EventBus(None))
        )
        assert await answers_question(client, WHO, "down", "Combien ?", [hit()]) is True
        metrics.close()


@pytest.mark.slow
async def test_the_real_embedded_model_answers_the_check_in_a_few_tokens(
    embedded_models: ModelsConfig,
) -> None:
    chat = next(m for m in embedded_models.models if m.type is ModelType.CHAT)
    async with aiohttp.ClientSession() as http:
        pool = ModelPool(chat, queue_size=2, queue_timeout=60.0, retry_after=3)
        metrics = Metrics()
        client = ModelClient(
            Gateway({chat.id: pool}, http, GatewaySettings(), metrics, EventBus(None))
        )
        reply = await client.complete_chat(
            WHO,
            chat.id,
            check_messages("Combien de temps garde-t-on les dossiers ?", [hit()]),
            max_tokens=3,
            temperature=0,
        )
        decided = await answers_question(
            client, WHO, chat.id, "Combien de temps garde-t-on les dossiers ?", [hit()]
        )
        metrics.close()
    # A few tokens at most, and the decision is the one its reply says.
    assert len(reply.split()) <= 3
    assert decided is not says_no(reply)
