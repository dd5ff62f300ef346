"""`autan demo seed`: months of realistic usage in one organisation, for screenshots and benchmarks.

Deterministic for a given seed. People are `demo-NNNN@<slug>.demo` (no password: they cannot
sign in); the conversations that carry feedback hold neutral demonstration text, never
anything a real person wrote. Usage rows go through the same rollup as live traffic.
"""

from __future__ import annotations

import functools
import math
import random
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Table, insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from autan.accounts import service as accounts
from autan.accounts.models import Role, User
from autan.chat.models import Conversation, Feedback, Message, MessageRole, TitleSource
from autan.core.db import utcnow
from autan.devtools.demo_evaluation import seed_questionnaire, seed_votes
from autan.llm.config import ModelFootprint
from autan.llm.impacts import Estimator
from autan.usage import rollup
from autan.usage.models import UsageRecord

_USAGE: Table = UsageRecord.__table__  # type: ignore[assignment]
_USERS: Table = User.__table__  # type: ignore[assignment]
_CHUNK = 5_000
# What people do, by share of requests: plain questions, questions on their documents,
# with a web search, and the titles the assistant writes for new conversations.
_ENDPOINTS = (("chat", 0.58), ("chat.documents", 0.2), ("chat.web", 0.07), ("chat.title", 0.15))
DEFAULT_MODELS = ("albert-small", "albert-large")
_COMMENTS = ("Très clair, merci", "Réponse incomplète", "Sources utiles", "Trop long", "")


@dataclass(frozen=True, slots=True)
class SeedPlan:
    """How much to seed."""

    org_slug: str
    users: int = 200
    requests: int = 50_000
    days: int = 180
    models: tuple[str, ...] = DEFAULT_MODELS
    feedback_share: float = 0.04  # of answers in the interface
    api_share: float = 0.1  # of people who also use the API
    seed: int = 12
    votes: int = 600  # arena votes between the models
    questionnaire: bool = True  # a monthly questionnaire answered over three months


@dataclass(frozen=True, slots=True)
class SeedReport:
    users: int
    requests: int
    feedback: int
    votes: int = 0
    answers: int = 0


async def _people(
    session: AsyncSession, plan: SeedPlan, rng: random.Random
) -> tuple[uuid.UUID, list[tuple[uuid.UUID, str, uuid.UUID | None]]]:
    """The organisation and its demo people (created once), each with an API key or not."""
    org = await accounts.ensure_org(session, plan.org_slug)
    domain = f"{plan.org_slug}.demo"
    existing = {
        email: (uid, role)
        for email, uid, role in await session.execute(
            select(User.email, User.id, User.role).where(User.email.like(f"%@{domain}"))
        )
    }
    rows = []
    for n in range(plan.users):
        email = f"demo-{n:04d}@{domain}"
        if email in existing:
            continue
        role = Role.REFERENT if n < max(1, plan.users // 100) else Role.MEMBER
        uid = uuid.UUID(int=rng.getrandbits(128), version=4)
        existing[email] = (uid, role)
        rows.append({"id": uid, "email": email, "role": role, "org_id": org.id})
    for start in range(0, len(rows), _CHUNK):
        await session.execute(insert(_USERS), rows[start : start + _CHUNK])
    people = []
    for uid, role in sorted(existing.values(), key=lambda item: str(item[0])):
        key_id = None
        if rng.random() < plan.api_share:
            created = accounts.new_key(uid, "demo", None)
            session.add(created.key)
            key_id = created.key.id
        people.append((uid, str(role), key_id))
    await session.flush()
    return org.id, people


def _timestamp(rng: random.Random, plan: SeedPlan, now: datetime) -> datetime:
    """A moment of the period: more recent is likelier (adoption grows), weekdays, office hours."""
    while True:
        age = plan.days * (1 - math.sqrt(rng.random()))
        at = now - timedelta(days=age)
        if at.weekday() < 5 or rng.random() < 0.1:
            break
    hour = min(max(int(rng.gauss(13.5, 2.5)), 7), 20)
    return at.replace(hour=hour, minute=rng.randrange(60), second=rng.randrange(60))


def _usage_row(
    rng: random.Random,
    plan: SeedPlan,
    now: datetime,
    org_id: uuid.UUID,
    person: tuple[uuid.UUID, str, uuid.UUID | None],
) -> dict[str, Any]:
    user_id, role, key_id = person
    endpoint = rng.choices([e for e, _ in _ENDPOINTS], [w for _, w in _ENDPOINTS])[0]
    model = plan.models[0] if rng.random() < 0.7 else rng.choice(plan.models)
    prompt = int(rng.lognormvariate(6.5, 0.8)) + (1500 if endpoint == "chat.documents" else 0)
    completion = 20 if endpoint == "chat.title" else int(rng.lognormvariate(5.5, 0.6))
    return {
        "created_at": _timestamp(rng, plan, now),
        "user_id": user_id,
        "org_id": org_id,
        "api_key_id": key_id if key_id is not None and rng.random() < 0.5 else None,
        "role": role,
        "endpoint": endpoint,
        "model": model,
        "replica": "demo",
        "stream": endpoint != "chat.title",
        "status": 200 if rng.random() > 0.005 else 503,
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "ttft_ms": rng.uniform(80, 900),
        "duration_ms": rng.uniform(900, 9000),
    } | _impacts(model, completion)


# Demo sizes (billions of parameters) of the seeded model names; other names get the first's.
_DEMO_PARAMETERS = {"albert-small": 8.0, "albert-large": 24.0}


@functools.cache
def _per_token(model: str) -> dict[str, float]:
    """EcoLogits' impacts of one generated token of the model, hosted in France.

    Linear in the tokens when the request took at least the time EcoLogits models, so one
    estimate per model (of a thousand tokens) scaled by each row's tokens fills a million
    rows in seconds, where an estimate per row would take minutes.
    """
    size = _DEMO_PARAMETERS.get(model, next(iter(_DEMO_PARAMETERS.values())))
    impacts = Estimator(model, ModelFootprint(total_parameters=size)).estimate(1000, math.inf)
    assert impacts is not None
    return {name: value / 1000 for name, value in impacts.as_row().items()}


def _impacts(model: str, completion: int) -> dict[str, float]:
    return {name: value * completion for name, value in _per_token(model).items()}


async def _feedback(
    session: AsyncSession, rows: list[dict[str, Any]], plan: SeedPlan, rng: random.Random
) -> int:
    """Rated demo conversations for a share of the interface's answers among `rows`."""
    conversations: list[Conversation] = []
    messages: list[Message] = []
    ratings: list[Feedback] = []
    for row in rows:
        rated = row["endpoint"].startswith("chat") and row["endpoint"] != "chat.title"
        if not rated or row["api_key_id"] is not None or rng.random() >= plan.feedback_share:
            continue
        at = row["created_at"]
        conversation = Conversation(
            id=uuid.uuid4(),  # a second seeding must not collide with the first
            user_id=row["user_id"],
            org_id=row["org_id"],
            title="Conversation de démonstration",
            title_source=TitleSource.MODEL,
            model=row["model"],
            message_count=2,
            created_at=at,
            updated_at=at,
        )
        answer = Message(
            id=uuid.uuid4(),
            conversation_id=conversation.id,
            position=1,
            role=MessageRole.ASSISTANT,
            content="Réponse de démonstration.",
            model=row["model"],
            created_at=at,
        )
        question = Message(
            conversation_id=conversation.id,
            position=0,
            role=MessageRole.USER,
            content="Question de démonstration.",
            created_at=at,
        )
        conversations.append(conversation)
        messages += [question, answer]
        good = rng.random() < (0.78 if row["model"] == plan.models[-1] else 0.66)
        ratings.append(
            Feedback(
                message_id=answer.id,
                user_id=row["user_id"],
                org_id=row["org_id"],
                model=row["model"],
                rating=1 if good else -1,
                comment=rng.choice(_COMMENTS) if rng.random() < 0.3 else "",
                created_at=at,
            )
        )
    # Parents first: no relationship tells the unit of work the order of the inserts.
    for batch in (conversations, messages, ratings):
        session.add_all(batch)
        await session.flush()
    return len(ratings)


async def seed(session: AsyncSession, plan: SeedPlan) -> SeedReport:
    """Fill the organisation with `plan`; commits chunk by chunk."""
    rng = random.Random(plan.seed)
    org_id, people = await _people(session, plan, rng)
    await session.commit()
    now = utcnow().astimezone(UTC)
    # A few heavy users and many occasional ones, as in any deployment.
    weights = [1 / (rank + 1) ** 0.8 for rank in range(len(people))]
    feedback = 0
    done = 0
    while done < plan.requests:
        size = min(_CHUNK, plan.requests - done)
        chosen = rng.choices(people, weights, k=size)
        rows = [_usage_row(rng, plan, now, org_id, person) for person in chosen]
        await session.execute(insert(_USAGE), rows)
        await rollup.add(session, rows)
        feedback += await _feedback(session, rows, plan, rng)
        await session.commit()
        done += size
    # Its own random stream: the usage seeded above stays the same as before evaluation existed.
    extra = random.Random(plan.seed + 1)
    ids = [person[0] for person in people]
    votes = await seed_votes(session, org_id, ids, plan.models, plan.votes, extra, now, plan.days)
    answers = (
        await seed_questionnaire(session, org_id, ids, extra, now) if plan.questionnaire else 0
    )
    await session.commit()
    return SeedReport(len(people), done, feedback, votes, answers)
