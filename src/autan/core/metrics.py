"""Prometheus metrics of one application instance (its own registry, no globals)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from autan.llm.pool import ModelPool

_TTFT_BUCKETS = (0.025, 0.05, 0.1, 0.25, 0.5, 1, 2, 4, 8, 16, 32, 64)
_DURATION_BUCKETS = (0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300)


class _PoolCollector(Collector):
    """Reads replica state at scrape time, so the request path updates no gauge."""

    def __init__(self, pools: Callable[[], Iterable[ModelPool]]) -> None:
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

    def watch_pools(self, pools: Callable[[], Iterable[ModelPool]]) -> None:
        """Export the live state of these pools' replicas."""
        self.registry.register(_PoolCollector(pools))

    def render(self) -> bytes:
        """The text exposition format."""
        return generate_latest(self.registry)
