"""Replicas of a model and how requests are spread over them.

A request goes to the healthy replica with the fewest requests in flight. Each replica has a
concurrency cap; when all are full, a request waits in a bounded queue for a short time and is
then refused (the caller answers 503 with Retry-After), so overload is never a hang.
A slot freed while requests wait is handed straight to the oldest waiter, which keeps the
queue fair: a newcomer cannot overtake it.

A model may also cap the requests one organisation has in flight (`max_concurrent_per_org`):
past it, that organisation's requests wait in the queue even while slots are free, so one
organisation flooding a shared model leaves the other slots to the rest, whose requests
then start at once instead of queueing behind the flood.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter, deque
from collections.abc import Hashable
from dataclasses import dataclass
from urllib.parse import urlsplit

from autan.llm.config import ModelConfig, ReplicaConfig
from autan.llm.errors import ModelOverloaded, ModelUnavailable


class Replica:
    """Live state of one upstream server of a model."""

    __slots__ = (
        "name",
        "base_url",
        "headers",
        "upstream_model",
        "cap",
        "in_flight",
        "healthy",
        "failures",
        "last_error",
        "last_change",
        "model_bytes",
        "work",
    )

    def __init__(self, model: ModelConfig, config: ReplicaConfig, index: int) -> None:
        self.base_url = config.url.rstrip("/")
        self.name = config.name or f"{urlsplit(self.base_url).netloc or 'replica'}#{index}"
        self.headers: dict[str, str] = {"Content-Type": "application/json"}
        if config.api_key is not None:
            self.headers["Authorization"] = f"Bearer {config.api_key.get_secret_value()}"
        self.upstream_model = config.upstream_model or model.upstream_name
        self.cap = config.max_concurrent or model.max_concurrent
        self.in_flight = 0
        self.healthy = True
        self.failures = 0
        self.last_error: str | None = None
        self.last_change = time.time()
        # Characters being embedded on this replica now (see `Gateway._post`).
        self.work = 0

    def url(self, path: str) -> str:
        """The full URL of an OpenAI API path on this replica, e.g. `/chat/completions`."""
        return self.base_url + path


@dataclass(frozen=True, slots=True)
class ReplicaState:
    """A read-only view of a replica for health pages and metrics."""

    name: str
    healthy: bool
    in_flight: int
    capacity: int
    last_error: str | None


class ModelPool:
    """The replicas of one model, with least-in-flight choice and a bounded wait queue."""

    def __init__(
        self,
        config: ModelConfig,
        *,
        queue_size: int,
        queue_timeout: float,
        retry_after: float,
        failure_threshold: int = 1,
    ) -> None:
        self.config = config
        self.replicas = [Replica(config, r, i) for i, r in enumerate(config.replicas)]
        self._queue_size = queue_size
        self._queue_timeout = queue_timeout
        self._retry_after = retry_after
        self._failure_threshold = failure_threshold
        self._waiters: deque[tuple[asyncio.Future[Replica], Hashable]] = deque()
        self._waiting = 0
        self._org_cap = config.max_concurrent_per_org
        self._org_in_flight: Counter[Hashable] = Counter()

    @property
    def model_id(self) -> str:
        return self.config.id

    def _pick(self, exclude: frozenset[str]) -> Replica | None:
        best: Replica | None = None
        for replica in self.replicas:
            if not replica.healthy or replica.name in exclude or replica.in_flight >= replica.cap:
                continue
            if best is None or replica.in_flight < best.in_flight:
                best = replica
        return best

    def _has_candidate(self, exclude: frozenset[str]) -> bool:
        return any(r.healthy and r.name not in exclude for r in self.replicas)

    def _under_cap(self, org: Hashable) -> bool:
        return self._org_cap is None or org is None or self._org_in_flight[org] < self._org_cap

    def _take(self, replica: Replica, org: Hashable) -> Replica:
        replica.in_flight += 1
        if org is not None:
            self._org_in_flight[org] += 1
        return replica

    async def acquire(self, exclude: frozenset[str] = frozenset(), org: Hashable = None) -> Replica:
        """Take a slot on the best replica, waiting briefly if all are busy (or if `org`,
        the caller's organisation, holds its share of the model already)."""
        replica = self._pick(exclude) if self._under_cap(org) else None
        if replica is not None:
            return self._take(replica, org)
        if not self._has_candidate(exclude):
            raise ModelUnavailable(self.model_id, self._retry_after)
        if exclude or self._waiting >= self._queue_size:
            # A retry does not queue: it only makes sense if another replica is free now.
            raise ModelOverloaded(self.model_id, self._retry_after)
        return await self._wait_for_slot(org)

    async def _wait_for_slot(self, org: Hashable) -> Replica:
        future: asyncio.Future[Replica] = asyncio.get_running_loop().create_future()
        self._waiters.append((future, org))
        self._waiting += 1
        granted = False
        try:
            async with asyncio.timeout(self._queue_timeout):
                replica = await future
            granted = True
            return replica
        except TimeoutError:
            raise ModelOverloaded(self.model_id, self._retry_after) from None
        finally:
            self._waiting -= 1
            if not granted:
                if future.done() and not future.cancelled() and future.exception() is None:
                    # A slot was handed over just as we gave up (timeout or cancellation).
                    self.release(future.result(), org)
                else:
                    future.cancel()

    def release(self, replica: Replica, org: Hashable = None) -> None:
        """Give a slot back; it goes to the oldest waiter that may take it, if any."""
        replica.in_flight -= 1
        if org is not None:
            self._org_in_flight[org] -= 1
            if self._org_in_flight[org] <= 0:
                del self._org_in_flight[org]
        self._serve_waiters()

    def _serve_waiters(self) -> None:
        if not self._waiters:
            return
        kept: deque[tuple[asyncio.Future[Replica], Hashable]] = deque()
        while self._waiters:
            future, org = self._waiters.popleft()
            if future.done():
                continue
            if not self._under_cap(org):
                kept.append((future, org))  # keeps its place for when its organisation frees one
                continue
            replica = self._pick(frozenset())
            if replica is None:
                kept.append((future, org))
                kept.extend(self._waiters)
                self._waiters.clear()
                break
            future.set_result(self._take(replica, org))
        self._waiters = kept

    def mark_failure(self, replica: Replica, reason: str) -> None:
        """Count a failure (refused, timeout, 5xx); enough of them take the replica out."""
        replica.failures += 1
        replica.last_error = reason
        if replica.healthy and replica.failures >= self._failure_threshold:
            replica.healthy = False
            replica.last_change = time.time()
            self._fail_waiters_if_no_replica_left()

    def mark_success(self, replica: Replica) -> None:
        """Record a good answer or probe; a replica that was out comes back."""
        replica.failures = 0
        if not replica.healthy:
            replica.healthy = True
            replica.last_error = None
            replica.last_change = time.time()
            self._serve_waiters()

    def _fail_waiters_if_no_replica_left(self) -> None:
        if self._has_candidate(frozenset()):
            return
        while self._waiters:
            waiter, _ = self._waiters.popleft()
            if not waiter.done():
                waiter.set_exception(ModelUnavailable(self.model_id, self._retry_after))

    def states(self) -> list[ReplicaState]:
        """Snapshot of every replica."""
        return [
            ReplicaState(r.name, r.healthy, r.in_flight, r.cap, r.last_error) for r in self.replicas
        ]
