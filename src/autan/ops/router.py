"""Operations endpoints: liveness, readiness with each replica's state, Prometheus metrics."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Response
from prometheus_client import CONTENT_TYPE_LATEST

from autan.core.responses import JSONBytesResponse
from autan.deps import GatewayDep, MetricsDep

router = APIRouter(tags=["Operations"])

# Probes and scrapers: open, and exempt from admission limits so they answer under load.
OPS_PATHS = frozenset({"/health", "/health/live", "/health/ready", "/metrics"})


def _readiness(gateway: GatewayDep) -> tuple[bool, dict[str, Any]]:
    models: dict[str, Any] = {}
    ready = True
    for pool in gateway.pools.values():
        states = pool.states()
        up = sum(1 for s in states if s.healthy)
        ready = ready and up > 0
        models[pool.model_id] = {
            "type": pool.config.type.value,
            "replicas_up": up,
            "replicas": [
                {
                    "name": s.name,
                    "state": "up" if s.healthy else "down",
                    "in_flight": s.in_flight,
                    "capacity": s.capacity,
                    **({"last_error": s.last_error} if not s.healthy else {}),
                }
                for s in states
            ],
        }
    return ready, models


@router.get("/health/live")
async def live() -> dict[str, str]:
    """Liveness: the process answers."""
    return {"status": "ok"}


@router.get("/health")
@router.get("/health/ready")
async def health(gateway: GatewayDep) -> JSONBytesResponse:
    """Readiness: 200 when every model has a replica up, 503 otherwise, with details."""
    ready, models = _readiness(gateway)
    return JSONBytesResponse(
        {"status": "ok" if ready else "degraded", "models": models},
        status_code=200 if ready else 503,
    )


@router.get("/metrics", response_class=Response)
async def metrics(registry: MetricsDep) -> Response:
    """Prometheus metrics of this process."""
    return Response(registry.render(), media_type=CONTENT_TYPE_LATEST)
