"""Which models a person may use: one rule for the `/v1` API and the chat pages.

An organisation's policy may hide models; a hidden model is "not found", never "forbidden",
so that its name reveals nothing.
"""

from __future__ import annotations

from autan.accounts.org_policy import OrgPolicies
from autan.accounts.principal import Principal
from autan.llm.config import ModelType
from autan.llm.errors import ModelNotFound
from autan.llm.gateway import Gateway
from autan.llm.pool import ModelPool


class ModelAccess:
    """The gateway's model pools, filtered by the caller's organisation policy."""

    def __init__(self, gateway: Gateway, policies: OrgPolicies) -> None:
        self._gateway = gateway
        self._policies = policies

    async def allowed(self, caller: Principal, kind: ModelType | None = None) -> list[ModelPool]:
        """The pools the caller may use (of one type, if given), in declaration order."""
        policy = await self._policies.of(caller.org_id)
        return [
            pool
            for pool in self._gateway.pools.values()
            if (kind is None or pool.config.type is kind) and policy.allows_model(pool.model_id)
        ]

    async def get(self, caller: Principal, model: str) -> ModelPool:
        """One model's pool, whatever its type, or `ModelNotFound`."""
        pool = self._gateway.pools.get(model)
        if pool is None or not (await self._policies.of(caller.org_id)).allows_model(model):
            raise ModelNotFound(model)
        return pool

    async def pool(self, caller: Principal, model: str, kind: ModelType) -> ModelPool:
        """The pool of a model of the expected type the caller may use, or `ModelNotFound`."""
        pool = self._gateway.pool(model, kind)
        if not (await self._policies.of(caller.org_id)).allows_model(pool.model_id):
            raise ModelNotFound(model)
        return pool
