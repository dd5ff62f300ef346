"""Blind comparison: two anonymous answers, a vote, the models revealed, the leaderboard."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import orjson
import pytest
from sqlalchemy import select

from autan.accounts import repository
from autan.arena.leaderboard import MIN_VOTES, Vote, leaderboard, simulate
from autan.arena.models import Comparison
from autan.chat.models import Message, MessageRole
from autan.core.db import create_engine, session_factory
from autan.llm.config import ModelConfig, ModelsConfig, ReplicaConfig
from tests.support.scripted_upstream import scripted_upstream
from tests.support.usage import usage_rows
from tests.support.web import Site, hidden, parse_events, run_site

TRUE_SCORES = {"alpha": 1150.0, "beta": 1050.0, "gamma": 980.0, "delta": 820.0}
MARKER = "zébulon-marqueur-7Q4"


def centred(scores: dict[str, float]) -> dict[str, float]:
    mean = sum(scores.values()) / len(scores)
    return {k: v - mean + 1000.0 for k, v in scores.items()}


def test_leaderboard_recovers_known_strengths() -> None:
    """2,000 simulated votes between 4 models, 20 fixed seeds: the ranking is right each
    time, and the 95 % intervals cover the true scores about 95 % of the time (one interval
    in twenty is expected to miss, so the check is on the share, not on every interval)."""
    truth = centred(TRUE_SCORES)
    order = sorted(truth, key=lambda m: -truth[m])
    covered = total = 0
    for seed in range(20):
        votes = simulate(truth, 2000, np.random.default_rng(seed))
        board = leaderboard(votes, samples=400, seed=seed)
        assert [s.model for s in board] == order, seed
        assert sum(s.votes for s in board) == 2 * len(votes)
        for standing in board:
            assert standing.low < standing.score < standing.high
            covered += standing.low <= truth[standing.model] <= standing.high
            total += 1
    assert covered / total >= 0.85, covered / total


def test_leaderboard_ties_and_few_votes() -> None:
    votes = [Vote("x", "y", 0.5)] * 10 + [Vote("x", "y", 1.0)] * 2
    board = leaderboard(votes, samples=200)
    assert [s.model for s in board] == ["x", "y"]
    # Scores are centred on 1000, and a handful of votes leaves wide intervals.
    assert board[0].score + board[1].score == pytest.approx(2000.0)
    assert board[0].high - board[0].low > 50
    assert len(votes) < MIN_VOTES
    # A model that never won keeps a finite score.
    lopsided = leaderboard([Vote("x", "y", 1.0)] * 30, samples=50)
    assert all(np.isfinite([s.score, s.low, s.high]).all() for s in lopsided)


@pytest.fixture
async def site(tmp_path: Path, database_url: str) -> AsyncIterator[Site]:
    async with scripted_upstream() as upstream:
        models = ModelsConfig(
            models=[
                ModelConfig(
                    id="alpha", display_name="Alpha", replicas=[ReplicaConfig(url=upstream)]
                ),
                ModelConfig(id="beta", display_name="Beta", replicas=[ReplicaConfig(url=upstream)]),
            ]
        )
        async with run_site(tmp_path, database_url, models) as running:
            yield running


async def test_compare_vote_reveal_and_leaderboard(site: Site, database_url: str) -> None:
    async with site.signed_in("member_a") as member:
        page = await member.get("/arena")
        assert page.status_code == 200
        assert "Comparer deux modèles" in page.text
        csrf = hidden(page.text, "csrf_token")
        started = await member.post(
            "/arena",
            data={
                "csrf_token": csrf,
                "question": f"Rédige un courrier {MARKER}",
                "category": "writing",
            },
        )
        assert started.status_code == 303, started.text
        url = started.headers["location"]
        shown = await member.get(url)
        assert "Réponse A" in shown.text and "Réponse B" in shown.text
        assert MARKER in shown.text
        # Blind: neither model is named before the vote.
        assert "alpha" not in shown.text and "beta" not in shown.text
        voted = await member.post(url + "/vote", data={"csrf_token": csrf, "verdict": "a"})
        assert voted.status_code == 303
        revealed = await member.get(url)
        assert "alpha" in revealed.text and "beta" in revealed.text
        assert "Vous avez choisi la réponse A." in revealed.text
        again = await member.post(url + "/vote", data={"csrf_token": csrf, "verdict": "b"})
        assert again.status_code == 409
        bad = await member.post(url + "/vote", data={"csrf_token": csrf, "verdict": "maybe"})
        assert bad.status_code == 400
    comparison_id = uuid.UUID(url.rsplit("/", 1)[1])

    # Both answers are messages of the member's conversation; both calls were counted.
    engine = create_engine(database_url)
    try:
        async with session_factory(engine)() as session:
            comparison = await session.get(Comparison, comparison_id)
            assert comparison is not None and comparison.verdict == "a"
            assert {comparison.model_a, comparison.model_b} == {"alpha", "beta"}
            assert comparison.use_case == "writing"
            messages = list(
                await session.scalars(
                    select(Message)
                    .where(Message.conversation_id == comparison.conversation_id)
                    .order_by(Message.position)
                )
            )
            assert [m.role for m in messages] == [
                MessageRole.USER,
                MessageRole.ASSISTANT,
                MessageRole.ASSISTANT,
            ]
            assert {m.model for m in messages[1:]} == {"alpha", "beta"}
    finally:
        await engine.dispose()
    rows = await usage_rows(database_url, 2)
    assert sorted(r.model for r in rows if r.model in ("alpha", "beta")) == ["alpha", "beta"]

    # Another person's comparison is "not found", even for a referent of the organisation.
    async with site.signed_in("ref_a") as referent:
        assert (await referent.get(url)).status_code == 404
        board = await referent.get("/admin/orgs/agri/arena")
        assert board.status_code == 200
        assert "1 vote" in board.text and "Trop peu de votes" in board.text
        assert comparison.model_a in board.text
        assert MARKER not in board.text
        csv = await referent.get("/admin/orgs/agri/arena.csv?use_case=writing")
        assert csv.text.splitlines()[0] == "rank,model,score,ci95_low,ci95_high,votes"
        assert len(csv.text.splitlines()) == 3
    async with site.signed_in("ref_b") as other:
        assert (await other.get(url)).status_code == 404
        assert (await other.get("/admin/orgs/agri/arena")).status_code in (403, 404)

    # Deleting the conversation (as retention does) deletes both answers; the vote stays.
    async with site.signed_in("member_a") as member:
        csrf = hidden((await member.get("/arena")).text, "csrf_token")
        deleted = await member.post(
            f"/c/{comparison.conversation_id}/delete", data={"csrf_token": csrf}
        )
        assert deleted.status_code == 303
        after = await member.get(url)
        assert "seul le vote est conservé" in after.text and MARKER not in after.text
    async with site.signed_in("ref_a") as referent:
        assert "1 vote" in (await referent.get("/admin/orgs/agri/arena")).text


async def test_refused_question_keeps_what_was_typed(site: Site) -> None:
    async with site.signed_in("member_a") as member:
        csrf = hidden((await member.get("/arena")).text, "csrf_token")
        label = "x" * 81
        refused = await member.post(
            "/arena", data={"csrf_token": csrf, "question": "Une question gardée", "label": label}
        )
        assert refused.status_code == 400
        assert "80 caractères" in refused.text
        assert "Une question gardée" in refused.text


async def test_model_policy_and_quota_apply(tmp_path: Path, database_url: str) -> None:
    async with scripted_upstream() as upstream:
        models = ModelsConfig(
            models=[
                ModelConfig(id="alpha", replicas=[ReplicaConfig(url=upstream)]),
                ModelConfig(id="beta", replicas=[ReplicaConfig(url=upstream)]),
            ]
        )
        quotas: dict[str, object] = {"requests_per_minute": 1}
        async with run_site(tmp_path, database_url, models, quotas) as site:
            engine = create_engine(database_url)
            try:
                async with session_factory(engine)() as session:
                    culture = await repository.org_by_slug(session, "culture")
                    assert culture is not None
                    culture.allowed_models = ["alpha"]
                    await session.commit()
            finally:
                await engine.dispose()
            # An organisation that allows one model cannot compare; it is told why.
            async with site.signed_in("ref_b") as other:
                csrf = hidden((await other.get("/arena")).text, "csrf_token")
                refused = await other.post(
                    "/arena", data={"csrf_token": csrf, "question": "Question gardée"}
                )
                assert refused.status_code == 400
                assert "Comparer demande deux modèles" in refused.text
                assert "Question gardée" in refused.text
            # Two answers are two requests: a quota of one per minute refuses the comparison.
            async with site.signed_in("member_a") as member:
                csrf = hidden((await member.get("/arena")).text, "csrf_token")
                limited = await member.post(
                    "/arena", data={"csrf_token": csrf, "question": "Trop de requêtes"}
                )
                assert limited.status_code == 429
                assert "Trop de requêtes" in limited.text


async def ask_pair(
    client: httpx.AsyncClient, csrf: str, content: str, conversation_id: str | None = None
) -> tuple[httpx.Response, list[tuple[str, dict[str, Any]]]]:
    response = await client.post(
        "/chat/compare",
        content=orjson.dumps({"content": content, "conversation_id": conversation_id}),
        headers={"X-CSRF-Token": csrf, "Content-Type": "application/json"},
        timeout=120,
    )
    return response, parse_events(response.content) if response.is_success else []


async def test_pair_in_the_chat_is_stored_voted_and_private(site: Site, database_url: str) -> None:
    async with site.signed_in("member_a") as member:
        chat = await member.get("/")
        assert "Deux réponses à comparer" in chat.text  # two models allowed: offered
        csrf = hidden(chat.text, "csrf_token")
        empty, _ = await ask_pair(member, csrf, "   ")
        assert empty.status_code == 400  # refused before anything is stored

        response, events = await ask_pair(member, csrf, f"Première question {MARKER}")
        assert response.status_code == 200, response.text
        names = [name for name, _ in events]
        assert names[0] == "pair" and names[-1] == "end"
        pair = events[0][1]
        texts = {"a": "", "b": ""}
        for name, data in events:
            if name == "delta":
                texts[data["side"]] += data["text"]
        assert all(MARKER in text for text in texts.values())  # both sides streamed
        assert sorted(d["side"] for n, d in events if n == "done") == ["a", "b"]
        conversation_id = pair["conversation_id"]

        # A second pair in the same conversation: the models see the conversation so far.
        again, events = await ask_pair(member, csrf, "Et ensuite ?", conversation_id)
        assert again.status_code == 200
        second = events[0][1]
        assert second["conversation_id"] == conversation_id

        voted = await member.post(
            f"/arena/{second['comparison_id']}/vote",
            data={"csrf_token": csrf, "verdict": "tie", "category": "writing"},
            headers={"Accept": "application/json"},
        )
        assert voted.status_code == 200
        revealed = voted.json()
        assert revealed["verdict"] == "tie"
        assert {revealed["model_a"], revealed["model_b"]} == {"alpha", "beta"}
        shown = await member.get(f"/arena/{second['comparison_id']}")
        assert "Et ensuite ?" in shown.text and MARKER not in shown.text
        # The conversation page shows both pairs' answers; their models stay unnamed.
        page = await member.get(f"/c/{conversation_id}")
        assert page.text.count("Voici une réponse détaillée") == 4
        # Each pair links to its vote (the first) or to its revealed comparison (the second).
        assert f'/arena/{pair["comparison_id"]}">Choisir la meilleure' in page.text
        assert f'/arena/{second["comparison_id"]}">Voir la comparaison' in page.text
        # Exported like any answer: the member's export holds both answers of each pair.
        exported = (await member.get("/settings/export.json")).json()
        [conversation] = [c for c in exported["conversations"] if c["id"] == conversation_id]
        roles = [m["role"] for m in conversation["messages"]]
        assert roles == ["user", "assistant", "assistant"] * 2

    async with site.signed_in("ref_a") as referent:  # same organisation, not the owner
        other_csrf = hidden((await referent.get("/")).text, "csrf_token")
        stolen = await referent.post(
            f"/arena/{pair['comparison_id']}/vote",
            data={"csrf_token": other_csrf, "verdict": "a"},
            headers={"Accept": "application/json"},
        )
        assert stolen.status_code == 404
        into_mine, _ = await ask_pair(referent, other_csrf, "Intrus", conversation_id)
        assert into_mine.status_code == 404
        board = await referent.get("/admin/orgs/agri/arena?use_case=writing")
        assert "1 vote" in board.text and MARKER not in board.text

    engine = create_engine(database_url)
    try:
        async with session_factory(engine)() as session:
            rows = list(
                await session.scalars(
                    select(Message)
                    .where(Message.conversation_id == uuid.UUID(conversation_id))
                    .order_by(Message.position)
                )
            )
            assert [(m.position, m.role) for m in rows] == [
                (0, MessageRole.USER),
                (1, MessageRole.ASSISTANT),
                (2, MessageRole.ASSISTANT),
                (3, MessageRole.USER),
                (4, MessageRole.ASSISTANT),
                (5, MessageRole.ASSISTANT),
            ]
            first = await session.get(Comparison, uuid.UUID(pair["comparison_id"]))
            later = await session.get(Comparison, uuid.UUID(second["comparison_id"]))
            assert first is not None and later is not None
            assert (first.answer_a_id, first.answer_b_id) == (rows[1].id, rows[2].id)
            assert (later.answer_a_id, later.answer_b_id) == (rows[4].id, rows[5].id)
            assert rows[4].model == later.model_a and rows[5].model == later.model_b
            assert first.verdict is None and later.verdict == "tie"
            assert later.use_case == "writing"
            assert "Intrus" not in {m.content for m in rows}
    finally:
        await engine.dispose()
    # Four model calls, each a usage row like any answer.
    rows_used = await usage_rows(database_url, 4)
    assert len([r for r in rows_used if r.model in ("alpha", "beta")]) == 4

    # Deleting the conversation (as retention's purge does) takes both answers; votes stay.
    async with site.signed_in("member_a") as member:
        csrf = hidden((await member.get("/")).text, "csrf_token")
        gone = await member.post(f"/c/{conversation_id}/delete", data={"csrf_token": csrf})
        assert gone.status_code == 303
    engine = create_engine(database_url)
    try:
        async with session_factory(engine)() as session:
            later = await session.get(Comparison, uuid.UUID(second["comparison_id"]))
            assert later is not None and later.verdict == "tie"
            assert later.conversation_id is None
            assert later.answer_a_id is None and later.answer_b_id is None
    finally:
        await engine.dispose()


async def test_a_pair_the_quota_cannot_hold_is_refused_whole(
    tmp_path: Path, database_url: str
) -> None:
    """Three requests a minute: one pair (two requests) passes; the next pair, which would
    need two with one left, is refused whole (nothing asked, stored or counted) and the
    remaining request still serves one ordinary answer."""
    async with scripted_upstream() as upstream:
        models = ModelsConfig(
            models=[
                ModelConfig(id="alpha", replicas=[ReplicaConfig(url=upstream)]),
                ModelConfig(id="beta", replicas=[ReplicaConfig(url=upstream)]),
            ]
        )
        quotas: dict[str, object] = {"requests_per_minute": 3}
        async with run_site(tmp_path, database_url, models, quotas) as site:
            async with site.signed_in("member_a") as member:
                csrf = hidden((await member.get("/")).text, "csrf_token")
                first, events = await ask_pair(member, csrf, "Une première paire")
                assert first.status_code == 200 and events[-1][0] == "end"
                conversation_id = events[0][1]["conversation_id"]
                refused, _ = await ask_pair(member, csrf, "Une paire de trop", conversation_id)
                assert refused.status_code == 429
                assert "requêtes par minute" in refused.json()["error"]["message"]
                single = await member.post(
                    "/chat/turn",
                    content=orjson.dumps(
                        {
                            "action": "send",
                            "content": "Une seule",
                            "conversation_id": conversation_id,
                        }
                    ),
                    headers={"X-CSRF-Token": csrf, "Content-Type": "application/json"},
                    timeout=120,
                )
                assert single.status_code == 200
                assert parse_events(single.content)[-1][0] in ("done", "title")
            engine = create_engine(database_url)
            try:
                async with session_factory(engine)() as session:
                    contents = list(
                        await session.scalars(
                            select(Message.content).where(
                                Message.conversation_id == uuid.UUID(conversation_id)
                            )
                        )
                    )
                    comparisons = list(await session.scalars(select(Comparison)))
            finally:
                await engine.dispose()
            assert "Une paire de trop" not in contents and "Une seule" in contents
            assert len(comparisons) == 1
