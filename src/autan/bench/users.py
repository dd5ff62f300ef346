"""Accounts for the planner: `autan bench load --create-users N --org SLUG`."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from autan.accounts.models import Role, User
from autan.accounts.service import ensure_org
from autan.bench.load import Account
from autan.core.security import hash_password


def bench_email(index: int, org: str) -> str:
    """The address of the index-th simulated person of an organisation."""
    return f"bench-{index:05d}@{org}.bench.example.org"


async def create_bench_users(
    session: AsyncSession, count: int, org: str, password: str
) -> list[Account]:
    """Members of `org` with this password, created or reset; their accounts; commits.

    One argon2 hash is shared by all of them: hashing 2,000 passwords one by one would take
    minutes of CPU on the machine under test.
    """
    organisation = await ensure_org(session, org)
    password_hash = hash_password(password)
    emails = [bench_email(i, org) for i in range(count)]
    existing = set((await session.scalars(select(User.email).where(User.email.in_(emails)))).all())
    if existing:
        await session.execute(
            update(User)
            .where(User.email.in_(existing))
            .values(password_hash=password_hash, is_active=True)
        )
    session.add_all(
        User(email=e, role=Role.MEMBER, org_id=organisation.id, password_hash=password_hash)
        for e in emails
        if e not in existing
    )
    await session.commit()
    return [Account(e, password) for e in emails]


def write_users_file(path: Path, accounts: Sequence[Account]) -> None:
    """`email password` lines, readable by `--users-file`, private to their owner."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.touch(mode=0o600)
    path.write_text("".join(f"{a.email} {a.password}\n" for a in accounts), encoding="utf-8")
