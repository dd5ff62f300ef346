"""OpenTelemetry traces: off unless the standard `OTEL_*` variables ask for them.

Tracing is on when `OTEL_TRACES_EXPORTER` names an exporter (`otlp`, `console`) or when an
OTLP endpoint is set (`OTEL_EXPORTER_OTLP_ENDPOINT`, `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`);
`OTEL_SDK_DISABLED=true` turns it off. Everything else (headers, sampler, batch sizes,
resource attributes) is read by the OpenTelemetry SDK from its own variables. When tracing is
off, nothing from OpenTelemetry is imported and no middleware or hook is installed.

Spans: one server span per HTTP request (FastAPI), one per SQL statement (SQLAlchemy), one per
upstream HTTP call (aiohttp), and one per model call (`chat <model>`, `embeddings <model>`)
with the model, replica, tokens and time to first token, made when the call is accounted.
The packages come with the `otel` extra: `pip install 'autan[otel]'` (the image has them).
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable, Mapping
from importlib.metadata import PackageNotFoundError, version
from typing import TYPE_CHECKING, Protocol

import aiohttp
import structlog
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncEngine

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import TracerProvider

log = structlog.get_logger(__name__)

# Probes and scrapers hit these every few seconds: tracing them would drown the real requests.
_EXCLUDED_URLS = "/health,/health/live,/health/ready,/metrics"


class ModelCall(Protocol):
    """What the gateway knows of a model call once it is accounted (`llm.gateway.Call`)."""

    @property
    def endpoint(self) -> str: ...
    @property
    def model(self) -> str: ...
    @property
    def stream(self) -> bool: ...
    @property
    def started(self) -> float: ...
    @property
    def replica(self) -> str | None: ...
    @property
    def ttft(self) -> float | None: ...
    @property
    def prompt_tokens(self) -> int: ...
    @property
    def completion_tokens(self) -> int: ...
    @property
    def status(self) -> int: ...
    @property
    def error_code(self) -> str | None: ...


CallObserver = Callable[[ModelCall], None]


class Telemetry(Protocol):
    """What the application asks of its tracing, whether on or off."""

    def instrument_app(self, app: FastAPI) -> None:
        """Trace every HTTP request of the app."""

    def instrument_engine(self, engine: AsyncEngine) -> None:
        """Trace every SQL statement of the engine."""

    def trace_configs(self) -> list[aiohttp.TraceConfig]:
        """Hooks for the upstream HTTP client session."""

    def call_observers(self) -> list[CallObserver]:
        """Hooks for the gateway, told of every model call it accounts for."""

    def shutdown(self) -> None:
        """Send the spans still buffered and stop."""


class NoTelemetry:
    """Tracing off: every hook does nothing."""

    def instrument_app(self, app: FastAPI) -> None:
        """Nothing to install."""

    def instrument_engine(self, engine: AsyncEngine) -> None:
        """Nothing to install."""

    def trace_configs(self) -> list[aiohttp.TraceConfig]:
        """No hooks."""
        return []

    def call_observers(self) -> list[CallObserver]:
        """No hooks."""
        return []

    def shutdown(self) -> None:
        """Nothing to flush."""


def tracing_requested(environ: Mapping[str, str]) -> bool:
    """Whether the standard OpenTelemetry variables ask for traces."""
    if environ.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return False
    exporters = environ.get("OTEL_TRACES_EXPORTER")
    if exporters is not None:
        return any(name.strip() not in {"", "none"} for name in exporters.split(","))
    return bool(
        environ.get("OTEL_EXPORTER_OTLP_ENDPOINT")
        or environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
    )


def configure(environ: Mapping[str, str] | None = None) -> Telemetry:
    """Tracing as the environment asks for it; `NoTelemetry` when it does not."""
    environ = os.environ if environ is None else environ
    if not tracing_requested(environ):
        return NoTelemetry()
    try:
        provider = _provider(environ)
    except ImportError as exc:
        # Asked for but not installed: say so once and serve without traces.
        log.warning("tracing requested but OpenTelemetry is not installed", error=str(exc))
        return NoTelemetry()
    return Tracing(provider, environ)


def _provider(environ: Mapping[str, str]) -> TracerProvider:
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import (
        BatchSpanProcessor,
        ConsoleSpanExporter,
        SimpleSpanProcessor,
    )

    try:
        autan_version = version("autan")
    except PackageNotFoundError:  # pragma: no cover - a source tree without metadata
        autan_version = "unknown"
    attributes: dict[str, str] = {"service.version": autan_version}
    named = "service.name=" in environ.get("OTEL_RESOURCE_ATTRIBUTES", "")
    if "OTEL_SERVICE_NAME" not in environ and not named:
        attributes["service.name"] = "autan"
    provider = TracerProvider(resource=Resource.create(attributes))
    names = [n.strip() for n in environ.get("OTEL_TRACES_EXPORTER", "otlp").split(",")]
    for name in names:
        if name == "otlp":
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

            # OTLP over HTTP/protobuf (port 4318); endpoint and headers come from OTEL_*.
            provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
        elif name == "console":
            # For a person reading a terminal: each span as soon as it ends.
            # Today's stdout: the exporter's default is the one of when it was imported.
            provider.add_span_processor(SimpleSpanProcessor(ConsoleSpanExporter(out=sys.stdout)))
        elif name not in {"", "none"}:
            log.warning("unknown OTEL_TRACES_EXPORTER ignored", exporter=name)
    return provider


class Tracing:
    """Tracing on: the SDK's provider and the instrumentations it feeds."""

    def __init__(self, provider: TracerProvider, environ: Mapping[str, str]) -> None:
        self.provider = provider
        self._environ = environ
        self._sqlalchemy = False

    def instrument_app(self, app: FastAPI) -> None:
        """Trace every HTTP request of the app, probes and scrapes excepted."""
        from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor

        excluded = self._environ.get("OTEL_PYTHON_FASTAPI_EXCLUDED_URLS", _EXCLUDED_URLS)
        FastAPIInstrumentor.instrument_app(
            app, tracer_provider=self.provider, excluded_urls=excluded
        )

    def instrument_engine(self, engine: AsyncEngine) -> None:
        """Trace every SQL statement of the engine."""
        from opentelemetry.instrumentation.sqlalchemy import SQLAlchemyInstrumentor

        # The instrumentation declares SQLAlchemy < 2.1 but uses only the engine events that
        # 2.1 keeps (tests/test_telemetry.py checks the SQL spans).
        SQLAlchemyInstrumentor().instrument(
            engine=engine.sync_engine, tracer_provider=self.provider, skip_dep_check=True
        )
        self._sqlalchemy = True

    def trace_configs(self) -> list[aiohttp.TraceConfig]:
        """A client span per upstream request, with trace context propagated to the replica."""
        from opentelemetry.instrumentation.aiohttp_client import create_trace_config

        return [create_trace_config(tracer_provider=self.provider)]

    def call_observers(self) -> list[CallObserver]:
        """A span per model call, with what the usage row records."""
        tracer = self.provider.get_tracer("autan.llm.gateway")
        from opentelemetry.trace import SpanKind, Status, StatusCode

        def on_finish(call: ModelCall) -> None:
            end = time.time_ns()
            start = end - int((time.perf_counter() - call.started) * 1e9)
            attributes: dict[str, str | int | float | bool] = {
                "gen_ai.operation.name": call.endpoint,
                "gen_ai.request.model": call.model,
                "gen_ai.usage.input_tokens": call.prompt_tokens,
                "gen_ai.usage.output_tokens": call.completion_tokens,
                "autan.llm.stream": call.stream,
                "http.response.status_code": call.status,
            }
            if call.replica is not None:
                attributes["autan.llm.replica"] = call.replica
            if call.ttft is not None:
                attributes["autan.llm.ttft_ms"] = round(call.ttft * 1000, 3)
            span = tracer.start_span(
                f"{call.endpoint} {call.model}",
                kind=SpanKind.CLIENT,
                start_time=start,
                attributes=attributes,
            )
            if call.error_code is not None or call.status >= 400:
                span.set_attribute("error.type", call.error_code or str(call.status))
                span.set_status(Status(StatusCode.ERROR, call.error_code))
            span.end(end_time=end)

        return [on_finish]

    def shutdown(self) -> None:
        """Flush the buffered spans and remove the SQL hooks."""
        if self._sqlalchemy:
            from opentelemetry.instrumentation.sqlalchemy import SQLAlchemyInstrumentor

            SQLAlchemyInstrumentor().uninstrument()
            self._sqlalchemy = False
        self.provider.shutdown()
