"""Prometheus metrics of one application instance (its own registry, no globals).

With several server processes (`autan serve --workers N`) a scrape reaches one of them at
random, so each would show its own share. `autan serve` then sets PROMETHEUS_MULTIPROC_DIR
(before the processes start, as prometheus-client requires): every process writes its
values to files there and a scrape merges the files of all of them (prometheus-client's
multiprocess mode). The replica gauges, read at scrape time when there is one process, are
then written by each process every second instead and summed over the live processes.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Protocol

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
)
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector


class ReplicaGauge(Protocol):
    """What the metrics read of one replica (`autan.llm.pool.ReplicaState` has it)."""

    @property
    def name(self) -> str: ...
    @property
    def in_flight(self) -> int: ...
    @property
    def capacity(self) -> int: ...
    @property
    def healthy(self) -> bool: ...


class WatchedPool(Protocol):
    """A model's pool of replicas as the metrics see it; core knows no model code."""

    @property
    def model_id(self) -> str: ...
    def states(self) -> Sequence[ReplicaGauge]: ...


_TTFT_BUCKETS = (0.025, 0.05, 0.1, 0.25, 0.5, 1, 2, 4, 8, 16, 32, 64)
_DURATION_BUCKETS = (0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300)
MULTIPROCESS_ENV = "PROMETHEUS_MULTIPROC_DIR"
_POOL_REFRESH = 1.0  # seconds between two writes of the replica gauges (multiprocess mode)
_REPLICA = ["model", "replica"]


def multiprocess_dir() -> str | None:
    """The folder of multiprocess mode, or None when this process reports alone."""
    return os.environ.get(MULTIPROCESS_ENV) or None


class _PoolCollector(Collector):
    """Reads replica state at scrape time, so the request path updates no gauge."""

    def __init__(self, pools: Callable[[], Iterable[WatchedPool]]) -> None:
        self._pools = pools

    def collect(self) -> Iterator[Metric]:
        in_flight = GaugeMetricFamily(
            "autan_replica_in_flight", "Requests in flight per replica", labels=["model", "replica"]
        )
        capacity = GaugeMetricFamily(
            "autan_replica_capacity", "Concurrency cap per replica", labels=["model", "replica"]
        )
        healthy = GaugeMetricFamily(
            "autan_replica_healthy", "1 if the replica takes requests", labels=["model", "replica"]
        )
        for pool in self._pools():
            for state in pool.states():
                labels = [pool.model_id, state.name]
                in_flight.add_metric(labels, state.in_flight)
                capacity.add_metric(labels, state.capacity)
                healthy.add_metric(labels, 1.0 if state.healthy else 0.0)
        yield from (in_flight, capacity, healthy)


class Metrics:
    """Counters and histograms of the gateway."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self._multiprocess = multiprocess_dir()
        self._pools: Callable[[], Iterable[WatchedPool]] | None = None
        self._refresher: asyncio.Task[None] | None = None
        self.requests = Counter(
            "autan_requests",
            "Model requests by endpoint, model and HTTP status",
            ["endpoint", "model", "status"],
            registry=self.registry,
        )
        self.tokens = Counter(
            "autan_tokens",
            "Tokens by model and kind (prompt or completion)",
            ["model", "kind"],
            registry=self.registry,
        )
        self.ttft = Histogram(
            "autan_time_to_first_token_seconds",
            "Time from request to first streamed chunk",
            ["model"],
            buckets=_TTFT_BUCKETS,
            registry=self.registry,
        )
        self.duration = Histogram(
            "autan_request_duration_seconds",
            "Duration of model requests",
            ["endpoint", "model"],
            buckets=_DURATION_BUCKETS,
            registry=self.registry,
        )

    def watch_pools(self, pools: Callable[[], Iterable[WatchedPool]]) -> None:
        """Export the live state of these pools' replicas."""
        if self._multiprocess is None:
            self.registry.register(_PoolCollector(pools))
            return
        self._pools = pools
        # Summed over the live processes: each has its own pool, so its own in-flight
        # requests and its own concurrency cap per replica. Healthy: as the least healthy
        # process sees it (0 if any process has taken the replica out).
        self._in_flight = Gauge(
            "autan_replica_in_flight",
            "Requests in flight per replica",
            _REPLICA,
            multiprocess_mode="livesum",
            registry=self.registry,
        )
        self._capacity = Gauge(
            "autan_replica_capacity",
            "Concurrency cap per replica",
            _REPLICA,
            multiprocess_mode="livesum",
            registry=self.registry,
        )
        self._healthy = Gauge(
            "autan_replica_healthy",
            "1 if the replica takes requests",
            _REPLICA,
            multiprocess_mode="livemin",
            registry=self.registry,
        )
        self._write_pools()
        with contextlib.suppress(RuntimeError):  # no running loop: written at scrape only
            self._refresher = asyncio.get_running_loop().create_task(self._refresh_pools())

    def _write_pools(self) -> None:
        if self._pools is None:
            return
        for pool in self._pools():
            for state in pool.states():
                self._in_flight.labels(pool.model_id, state.name).set(state.in_flight)
                self._capacity.labels(pool.model_id, state.name).set(state.capacity)
                self._healthy.labels(pool.model_id, state.name).set(1.0 if state.healthy else 0.0)

    async def _refresh_pools(self) -> None:
        while True:
            await asyncio.sleep(_POOL_REFRESH)
            self._write_pools()

    def render(self) -> bytes:
        """The text exposition format (of every process, in multiprocess mode)."""
        if self._multiprocess is None:
            return generate_latest(self.registry)
        self._write_pools()
        merged = CollectorRegistry()
        multiprocess.MultiProcessCollector(merged, path=self._multiprocess)  # type: ignore[no-untyped-call]
        return generate_latest(merged)

    def close(self) -> None:
        """Stop writing; in multiprocess mode, drop this process's live gauges."""
        if self._refresher is not None:
            self._refresher.cancel()
            self._refresher = None
        if self._multiprocess is not None:
            multiprocess.mark_process_dead(os.getpid(), self._multiprocess)  # type: ignore[no-untyped-call]
