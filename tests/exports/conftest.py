"""A site whose member has a conversation with a structured, sourced answer."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from autan.chat.models import Conversation
from tests.support.library import add_conversation, database, user_by_email
from tests.support.web import PEOPLE, Site, run_site

ANSWER = """## Démarches

Pour obtenir un passeport, **trois étapes** [1] :

1. Faire une pré-demande en ligne
2. Prendre rendez-vous en mairie
   - apporter une photo
   - apporter le timbre fiscal

| Pièce | Coût |
|---|---|
| Timbre fiscal | 86 € |
| Photo | 5 € |

Voir [le site officiel](https://www.service-public.fr/passeport).
"""
SOURCES = [
    {
        "number": 1,
        "kind": "web",
        "url": "https://www.service-public.fr/particuliers/vosdroits/F14929",
        "document_name": "Passeport | service-public.fr",
        "excerpt": "Le timbre fiscal coûte 86 €.",
    },
    {"number": 2, "document_name": "Guide interne.pdf", "pages": "3", "excerpt": "Délais."},
]


@pytest.fixture
async def site(tmp_path: Path, database_url: str) -> AsyncIterator[Site]:
    async with run_site(tmp_path, database_url) as running:
        yield running


async def seeded(site: Site, who: str = "member_a") -> Conversation:
    """A conversation of `who`: one question, the structured answer with two sources."""
    async with database(site) as session:
        user = await user_by_email(session, PEOPLE[who][0])
        return await add_conversation(
            session,
            user,
            "Passeport à Lyon",
            [("Comment obtenir un passeport ?", ANSWER)],
            sources=SOURCES,
        )
