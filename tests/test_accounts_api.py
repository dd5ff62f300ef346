"""The account management API, and the cross-organisation matrix: nobody sees what is not theirs."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from autan.accounts import service
from autan.accounts.models import Role
from autan.core.db import create_engine, session_factory
from autan.llm.config import ModelConfig, ModelsConfig, ReplicaConfig
from tests.conftest import RunningAutan, make_settings, serve_autan
from tests.support.loopback import TLS

PEOPLE = {
    "admin": ("admin@numerique.gouv.fr", Role.ADMIN, "dinum"),
    "ref_a": ("ref@agriculture.gouv.fr", Role.REFERENT, "agri"),
    "member_a": ("agent@agriculture.gouv.fr", Role.MEMBER, "agri"),
    "ref_b": ("ref@culture.gouv.fr", Role.REFERENT, "culture"),
    "member_b": ("agent@culture.gouv.fr", Role.MEMBER, "culture"),
}


@dataclass
class World:
    autan: RunningAutan
    keys: dict[str, str]

    def client(self, who: str) -> httpx.AsyncClient:
        headers = {"Authorization": f"Bearer {self.keys[who]}"}
        return httpx.AsyncClient(
            base_url=self.autan.base_url, headers=headers, timeout=10, verify=TLS
        )


@pytest.fixture
async def world(tmp_path: Path, database_url: str) -> AsyncIterator[World]:
    engine = create_engine(database_url)
    keys = {}
    async with session_factory(engine)() as session:
        for who, (email, role, org) in PEOPLE.items():
            await service.create_user(session, email, role=role, org_slug=org)
            keys[who] = (await service.create_api_key(session, email)).secret
    await engine.dispose()
    models = ModelsConfig(
        models=[ModelConfig(id="m", replicas=[ReplicaConfig(url="http://127.0.0.1:9/v1")])]
    )
    settings = make_settings(tmp_path, database_url, models, quotas={"requests_per_minute": 1000})
    async with serve_autan(settings) as autan:
        yield World(autan, keys)


async def test_my_profile_and_keys(world: World) -> None:
    async with world.client("member_a") as client:
        me = (await client.get("/api/me")).json()
        assert (me["email"], me["role"], me["organisation"]) == (
            "agent@agriculture.gouv.fr",
            "member",
            "agri",
        )
        created = await client.post(
            "/api/me/keys", json={"name": "notebook", "expires_in_days": 30}
        )
        assert created.status_code == 201
        body = created.json()
        assert body["secret"].startswith("sk-autan-") and body["expires_at"]
        listed = (await client.get("/api/me/keys")).json()
        assert len(listed) == 2 and all("secret" not in k for k in listed)
        # The new key works, until it is revoked; then it stops at once.
        async with httpx.AsyncClient(base_url=world.autan.base_url) as other:
            headers = {"Authorization": f"Bearer {body['secret']}"}
            assert (await other.get("/api/me", headers=headers)).status_code == 200
            revoked = await client.delete(f"/api/keys/{body['id']}")
            assert revoked.status_code == 200 and revoked.json()["revoked_at"]
            assert (await other.get("/api/me", headers=headers)).status_code == 401


@pytest.mark.parametrize(
    "body",
    [{"name": "x" * 101}, {"expires_in_days": 0}, {"expires_in_days": "soon"}, {"nom": "x"}],
)
async def test_bad_key_requests_change_nothing(world: World, body: dict[str, object]) -> None:
    async with world.client("member_a") as client:
        response = await client.post("/api/me/keys", json=body)
        assert response.status_code == 400 and response.json()["error"]["param"]
        assert len((await client.get("/api/me/keys")).json()) == 1


async def test_referents_hand_out_codes_that_only_they_can_read_again(world: World) -> None:
    async with world.client("ref_a") as ref, world.client("admin") as admin:
        created = await ref.post(
            "/api/orgs/agri/codes", json={"label": "Service RH", "max_uses": 5}
        )
        assert created.status_code == 201
        code = created.json()["code"]
        assert len(code) == 19 and code.count("-") == 3
        assert (await ref.get("/api/orgs/agri/codes")).json()[0]["code"] == code
        seen_by_admin = (await admin.get("/api/orgs/agri/codes")).json()
        assert seen_by_admin[0]["label"] == "Service RH" and seen_by_admin[0]["code"] is None
        code_id = created.json()["id"]
        revoked = await admin.delete(f"/api/orgs/agri/codes/{code_id}")
        assert revoked.status_code == 200 and revoked.json()["revoked_at"]


async def test_code_creation_rejects_bad_input(world: World) -> None:
    async with world.client("ref_a") as ref:
        for body in ({"max_uses": 0}, {"valid_days": 0}, {"label": "x" * 201}, {"uses": 3}):
            response = await ref.post("/api/orgs/agri/codes", json=body)
            assert response.status_code == 400, body
        assert (await ref.get("/api/orgs/agri/codes")).json() == []


async def test_cross_organisation_matrix(world: World) -> None:
    """Every route with a resource id, tried by people outside its scope."""
    async with world.client("ref_a") as ref_a:
        code_id = (await ref_a.post("/api/orgs/agri/codes", json={})).json()["id"]
        key_a = (await ref_a.get("/api/me/keys")).json()[0]["id"]
    async with world.client("member_a") as member_a:
        member_key = (await member_a.get("/api/me/keys")).json()[0]["id"]

    async with world.client("admin") as admin:
        (target,) = (await admin.get("/api/orgs/agri/users", params={"q": "agent@"})).json()
    attempts = [
        # (who, method, path, expected status)
        ("ref_b", "GET", "/api/orgs/agri", 404),
        ("ref_b", "PATCH", "/api/orgs/agri", 404),
        ("ref_b", "PUT", "/api/orgs/agri/quotas", 404),
        ("ref_b", "GET", "/api/orgs/agri/users", 404),
        ("ref_b", "PATCH", f"/api/orgs/agri/users/{target['id']}", 404),
        ("ref_b", "PATCH", f"/api/orgs/culture/users/{target['id']}", 404),
        ("ref_b", "GET", "/api/orgs/agri/audit", 404),
        ("member_a", "GET", "/api/orgs/agri", 403),
        ("member_a", "PATCH", "/api/orgs/agri", 403),
        ("member_a", "PUT", "/api/orgs/agri/quotas", 403),
        ("member_a", "GET", "/api/orgs/agri/users", 403),
        ("member_a", "GET", "/api/orgs/agri/audit", 403),
        ("ref_b", "GET", "/api/orgs/agri/codes", 404),
        ("ref_b", "POST", "/api/orgs/agri/codes", 404),
        ("ref_b", "DELETE", f"/api/orgs/agri/codes/{code_id}", 404),
        ("ref_b", "DELETE", f"/api/orgs/culture/codes/{code_id}", 404),
        ("member_b", "GET", "/api/orgs/agri/codes", 404),
        ("member_a", "GET", "/api/orgs/agri/codes", 403),
        ("member_a", "POST", "/api/orgs/agri/codes", 403),
        ("member_a", "DELETE", f"/api/orgs/agri/codes/{code_id}", 403),
        ("ref_b", "DELETE", f"/api/keys/{key_a}", 404),
        ("member_b", "DELETE", f"/api/keys/{member_key}", 404),
        ("member_a", "DELETE", f"/api/keys/{key_a}", 404),
        ("ref_a", "GET", "/api/orgs/nowhere/codes", 404),
        ("ref_b", "POST", f"/api/orgs/agri/users/{target['id']}/password-link", 404),
        ("ref_b", "POST", f"/api/orgs/culture/users/{target['id']}/password-link", 404),
        ("member_a", "POST", f"/api/orgs/agri/users/{target['id']}/password-link", 403),
    ]
    for who, method, path, expected in attempts:
        async with world.client(who) as client:
            response = await client.request(method, path, json={})
        assert response.status_code == expected, (who, method, path, response.text)
        assert "code" not in response.json() or response.json().get("code") is None
    # Nothing was changed by those attempts.
    async with world.client("ref_a") as ref_a:
        (code,) = (await ref_a.get("/api/orgs/agri/codes")).json()
        assert code["revoked_at"] is None
        assert (await ref_a.get("/api/me")).status_code == 200
    # In scope, it works: a referent revokes a member's key of their own organisation.
    async with world.client("ref_a") as ref_a:
        assert (await ref_a.delete(f"/api/keys/{member_key}")).status_code == 200


async def test_referents_manage_their_organisation(world: World) -> None:
    async with world.client("ref_a") as ref, world.client("member_a") as member:
        settings = (await ref.get("/api/orgs/agri")).json()
        assert settings["allowed_models"] is None and settings["quotas"] == []
        patched = await ref.patch(
            "/api/orgs/agri",
            json={
                "allowed_domains": ["@Agriculture.gouv.fr"],
                "allowed_models": [],
                "web_search_allowed": False,
            },
        )
        assert patched.status_code == 200, patched.text
        assert patched.json()["allowed_domains"] == ["agriculture.gouv.fr"]
        # No model is allowed any more: members see none, and asking for one is "not found".
        assert (await member.get("/v1/models")).json()["data"] == []
        chat = {"model": "m", "messages": [{"role": "user", "content": "x"}]}
        assert (await member.post("/v1/chat/completions", json=chat)).status_code == 404
        await ref.patch("/api/orgs/agri", json={"allowed_models": None})
        assert [m["id"] for m in (await member.get("/v1/models")).json()["data"]] == ["m"]
        # A quota of one request a minute for members.
        quota = await ref.put(
            "/api/orgs/agri/quotas", json={"role": "member", "requests_per_minute": 1}
        )
        assert quota.json()["quotas"] == [
            {"role": "member", "requests_per_minute": 1, "tokens_per_day": None}
        ]
        first = await member.post("/v1/chat/completions", json=chat)
        second = await member.post("/v1/chat/completions", json=chat)
        assert first.status_code != 429 and second.status_code == 429
        actions = [e["action"] for e in (await ref.get("/api/orgs/agri/audit")).json()]
        assert actions[:3] == ["org_updated", "org_updated", "org_updated"]


async def test_users_are_found_promoted_and_disabled(world: World) -> None:
    async with world.client("ref_a") as ref:
        found = (await ref.get("/api/orgs/agri/users", params={"q": "AGENT"})).json()
        assert [u["email"] for u in found] == ["agent@agriculture.gouv.fr"]
        user_id = found[0]["id"]
        promoted = await ref.patch(f"/api/orgs/agri/users/{user_id}", json={"role": "referent"})
        assert promoted.json()["role"] == "referent"
        to_admin = await ref.patch(f"/api/orgs/agri/users/{user_id}", json={"role": "admin"})
        assert (
            to_admin.status_code == 403
            and to_admin.json()["error"]["code"] == "admin_role_reserved"
        )
        me = (await ref.get("/api/me")).json()["id"]
        itself = await ref.patch(f"/api/orgs/agri/users/{me}", json={"is_active": False})
        assert itself.status_code == 403
        disabled = await ref.patch(f"/api/orgs/agri/users/{user_id}", json={"is_active": False})
        assert disabled.json()["is_active"] is False
    async with world.client("member_a") as member:
        assert (await member.get("/api/me")).status_code == 401, "a disabled user is out at once"
    async with world.client("ref_a") as ref:
        log = (await ref.get("/api/orgs/agri/audit", params={"limit": 2})).json()
        assert log[0]["action"] == "user_updated" and log[0]["details"]["is_active"] == [
            True,
            False,
        ]


async def test_a_domain_belongs_to_one_organisation_and_only_an_admin_moves_it(
    world: World,
) -> None:
    async with (
        world.client("ref_a") as ref_a,
        world.client("ref_b") as ref_b,
        world.client("admin") as admin,
    ):
        claimed = await ref_b.patch("/api/orgs/culture", json={"allowed_domains": ["b.test"]})
        assert claimed.status_code == 200, claimed.text
        # Referent A tries to capture B's newcomers: refused, and nothing of the patch applies.
        capture = {"allowed_domains": ["a.test", "B.test"], "name": "Agri renamed"}
        taken = await ref_a.patch("/api/orgs/agri", json=capture)
        assert taken.status_code == 409, taken.text
        error = taken.json()["error"]
        assert error["code"] == "domain_taken"
        assert error["message"] == ("This domain already belongs to another organisation: b.test.")
        agri = (await ref_a.get("/api/orgs/agri")).json()
        assert (agri["name"], agri["allowed_domains"]) == ("agri", [])
        # Moving is for administrators, and only when asked for.
        move = {"allowed_domains": ["b.test"], "move_domains": True}
        assert (await ref_a.patch("/api/orgs/agri", json=move)).status_code == 403
        refused = await admin.patch("/api/orgs/agri", json={"allowed_domains": ["b.test"]})
        assert refused.status_code == 409
        moved = await admin.patch("/api/orgs/agri", json=move)
        assert moved.status_code == 200, moved.text
        assert moved.json()["allowed_domains"] == ["b.test"]
        assert (await ref_b.get("/api/orgs/culture")).json()["allowed_domains"] == []
        # Both organisations' audit logs say who moved what where.
        for client, slug in ((ref_b, "culture"), (admin, "agri")):
            events = (await client.get(f"/api/orgs/{slug}/audit")).json()
            moved_events = [e for e in events if e["action"] == "domain_moved"]
            assert len(moved_events) == 1 and moved_events[0]["target"] == "b.test"
            assert moved_events[0]["details"] == {"from_org": "culture", "to_org": "agri"}
        # B can no longer take it back on its own.
        back = await ref_b.patch("/api/orgs/culture", json={"allowed_domains": ["b.test"]})
        assert back.status_code == 409


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("PATCH", "/api/orgs/agri", {"web_search_allowed": "maybe"}),
        ("PATCH", "/api/orgs/agri", {"name": ""}),
        ("PATCH", "/api/orgs/agri", {"allowed_domains": "agri.fr"}),
        ("PATCH", "/api/orgs/agri", {"allowed_domains": ["gouv.fr"], "name": "X"}),
        ("PATCH", "/api/orgs/agri", {"allowed_domains": ["not a domain"]}),
        ("PATCH", "/api/orgs/agri", {"slug": "other"}),
        ("PUT", "/api/orgs/agri/quotas", {"requests_per_minute": -1}),
        ("PUT", "/api/orgs/agri/quotas", {"role": "emperor", "requests_per_minute": 3}),
        ("GET", "/api/orgs/agri/users?limit=0", None),
        ("GET", "/api/orgs/agri/audit?limit=x", None),
        ("PATCH", "/api/orgs/agri/users/not-a-uuid", {"role": "member"}),
    ],
)
async def test_bad_admin_input_changes_nothing(
    world: World, method: str, path: str, body: dict[str, object] | None
) -> None:
    async with world.client("ref_a") as ref:
        before = (await ref.get("/api/orgs/agri")).json()
        response = await ref.request(method, path, json=body)
        assert response.status_code == 400, response.text
        assert response.json()["error"]["message"]
        assert (await ref.get("/api/orgs/agri")).json() == before
