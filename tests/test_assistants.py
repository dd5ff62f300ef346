"""Assistants: referents and admins manage their organisation's; members list and use them."""

from __future__ import annotations

from pathlib import Path

from autan.accounts.models import Role
from autan.llm.config import ModelConfig, ModelsConfig, ReplicaConfig
from tests.conftest import make_settings, serve_autan
from tests.support.rag import add_user, client_for, new_collection

MODELS = ModelsConfig(
    models=[ModelConfig(id="albert-large", replicas=[ReplicaConfig(url="http://127.0.0.1:9/v1")])]
)


async def test_referents_manage_members_list(tmp_path: Path, database_url: str) -> None:
    rita = await add_user(database_url, "rita@culture.gouv.fr", Role.REFERENT, "culture")
    max_ = await add_user(database_url, "max@culture.gouv.fr", Role.MEMBER, "culture")
    paul = await add_user(database_url, "paul@agri.gouv.fr", Role.REFERENT, "agri")
    async with serve_autan(make_settings(tmp_path, database_url, MODELS)) as autan:
        async with client_for(autan.base_url, rita) as referent:
            shared = await new_collection(referent, "Culture", visibility="organisation")
            mine = await new_collection(referent, "Brouillons")
            created = await referent.post(
                "/api/orgs/culture/assistants",
                json={
                    "name": "Juriste",
                    "description": "Répond sur le droit de la culture",
                    "instructions": "Réponds en citant les textes.",
                    "model": "albert-large",
                    "collections": [shared, mine],
                    "web_search": True,
                },
            )
            assert created.status_code == 201, created.text
            assistant = created.json()
            assert sorted(assistant["collections"]) == sorted([shared, mine])
            assert assistant["model"] == "albert-large" and assistant["web_search"] is True
            url = f"/api/orgs/culture/assistants/{assistant['id']}"
            changed = await referent.patch(url, json={"collections": [shared], "model": None})
            assert changed.status_code == 200, changed.text
            assert changed.json()["collections"] == [shared] and changed.json()["model"] is None
            assert changed.json()["name"] == "Juriste"
            unknown_model = await referent.patch(url, json={"model": "gpt-9"})
            assert unknown_model.status_code == 400
            bad = await referent.post("/api/orgs/culture/assistants", json={"name": ""})
            assert bad.status_code == 400

        async with client_for(autan.base_url, paul) as other:
            foreign = await other.post(
                "/api/orgs/agri/assistants", json={"name": "Espion", "collections": [shared]}
            )
            assert foreign.status_code == 404  # a collection paul cannot see is "not found"
            assert (await other.get("/api/orgs/culture/assistants")).status_code == 404
            assert (await other.patch(url, json={"name": "x"})).status_code == 404
            assert (await other.get("/api/assistants")).json() == []

        async with client_for(autan.base_url, max_) as member:
            listed = (await member.get("/api/assistants")).json()
            assert [a["name"] for a in listed] == ["Juriste"]
            assert (await member.get("/api/orgs/culture/assistants")).status_code == 403
            assert (
                await member.post("/api/orgs/culture/assistants", json={"name": "x"})
            ).status_code == 403
            assert (await member.delete(url)).status_code == 403

        async with client_for(autan.base_url, rita) as referent:
            assert (await referent.delete(url)).status_code == 204
            assert (await referent.get("/api/orgs/culture/assistants")).json() == []
            missing = await referent.delete(url)
            assert missing.status_code == 404
