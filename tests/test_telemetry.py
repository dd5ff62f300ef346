"""OpenTelemetry traces: off by default, on with the standard OTEL_* variables."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

from autan.core import telemetry
from autan.llm.config import ModelConfig, ModelsConfig, ReplicaConfig
from tests.conftest import RunningAutan, make_settings, serve_autan
from tests.support.database import SqliteDatabases
from tests.support.processes import SimUpstream, start_sim

CHAT = {"model": "sim-chat", "messages": [{"role": "user", "content": "Bonjour"}]}


@pytest.mark.parametrize(
    ("environ", "expected"),
    [
        ({}, False),
        ({"OTEL_SERVICE_NAME": "autan"}, False),
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318"}, True),
        ({"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://collector:4318/v1/traces"}, True),
        ({"OTEL_TRACES_EXPORTER": "console"}, True),
        ({"OTEL_TRACES_EXPORTER": "none", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318"}, False),
        ({"OTEL_TRACES_EXPORTER": "console", "OTEL_SDK_DISABLED": "true"}, False),
    ],
)
def test_tracing_follows_the_standard_variables(environ: dict[str, str], expected: bool) -> None:
    assert telemetry.tracing_requested(environ) is expected
    kind = telemetry.Tracing if expected else telemetry.NoTelemetry
    configured = telemetry.configure(environ)
    try:
        assert isinstance(configured, kind)
    finally:
        configured.shutdown()


def test_without_the_variables_nothing_is_installed(tmp_path: Path) -> None:
    # A fresh interpreter: this test process has imported the SDK already. (FastAPI itself
    # imports the OpenTelemetry API when it is installed; its own tracing stays off while no
    # tracer provider is configured.)
    script = """
import json, sys
from autan.app import create_app
from autan.settings import Settings
app = create_app(Settings(data_dir=sys.argv[1]))
print(json.dumps({
    "modules": sorted(m for m in sys.modules if m.startswith(tuple(sys.argv[2:]))),
    "middleware": [m.cls.__name__ for m in app.user_middleware],
}))
"""
    env = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
    result = subprocess.run(
        [sys.executable, "-c", script, str(tmp_path), "opentelemetry.sdk", "opentelemetry.inst"],
        capture_output=True,
        text=True,
        env=env,
        check=True,
        timeout=60,
    )
    seen = json.loads(result.stdout.splitlines()[-1])
    assert seen["modules"] == []
    assert seen["middleware"] == ["AdmissionLimits"]


@pytest.fixture(scope="module")
def sim() -> Iterator[SimUpstream]:
    upstream = start_sim("--ttft-ms", "20", "--tokens-per-s", "0", "--tokens", "5")
    yield upstream
    upstream.stop()


def _models(sim: SimUpstream) -> ModelsConfig:
    replica = ReplicaConfig(url=sim.api_url, name="sim-1")
    return ModelsConfig(
        models=[ModelConfig(id="sim-chat", upstream_model="sim-model", replicas=[replica])]
    )


@pytest.fixture
async def traced(
    sim: SimUpstream,
    tmp_path: Path,
    sqlite_databases: SqliteDatabases,
    monkeypatch: pytest.MonkeyPatch,
) -> AsyncIterator[tuple[RunningAutan, InMemorySpanExporter]]:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    # The app's own wiring, with spans kept in memory instead of sent to a collector.
    monkeypatch.setattr(telemetry, "configure", lambda: telemetry.Tracing(provider, {}))
    settings = make_settings(tmp_path, sqlite_databases.new(), _models(sim))
    async with serve_autan(settings) as running:
        yield running, exporter


async def _spans(exporter: InMemorySpanExporter, name: str) -> list[ReadableSpan]:
    """The finished spans once one is called `name` (the server span ends after the reply)."""
    for _ in range(200):
        spans = list(exporter.get_finished_spans())
        if any(span.name == name for span in spans):
            return spans
        await asyncio.sleep(0.01)
    raise AssertionError(f"no span {name!r} in {[s.name for s in exporter.get_finished_spans()]}")


def _scope(span: ReadableSpan) -> str:
    return span.instrumentation_scope.name if span.instrumentation_scope else ""


async def test_a_request_is_traced_from_http_to_sql_and_model(
    traced: tuple[RunningAutan, InMemorySpanExporter],
) -> None:
    autan, exporter = traced
    async with autan.client() as client:
        assert (await client.get("/health/live")).status_code == 200
        response = await client.post("/v1/chat/completions", json=CHAT)
    assert response.status_code == 200
    spans = await _spans(exporter, "POST /v1/chat/completions")

    (server,) = [s for s in spans if s.kind is SpanKind.SERVER]
    assert server.attributes is not None
    assert server.attributes["http.route"] == "/v1/chat/completions"
    trace_id = server.context.trace_id
    sql = [s for s in spans if _scope(s) == "opentelemetry.instrumentation.sqlalchemy"]
    assert sql, "the API key lookup is traced"
    # The replicas' health probes have client spans of their own, in traces of their own.
    (upstream,) = [
        s
        for s in spans
        if _scope(s) == "opentelemetry.instrumentation.aiohttp_client"
        and s.context.trace_id == trace_id
    ]
    assert upstream.kind is SpanKind.CLIENT and upstream.name == "POST"
    (model,) = [s for s in spans if s.name == "chat sim-chat"]
    assert model.context.trace_id == trace_id
    assert model.attributes is not None
    assert model.attributes["gen_ai.request.model"] == "sim-chat"
    assert model.attributes["gen_ai.usage.output_tokens"] == 5
    assert int(str(model.attributes["gen_ai.usage.input_tokens"])) >= 1
    assert model.attributes["autan.llm.replica"] == "sim-1"
    assert model.attributes["http.response.status_code"] == 200
    assert model.end_time is not None and model.start_time is not None
    assert model.end_time > model.start_time
    # Probes are not traced: they would drown the real requests.
    assert not [s for s in spans if "/health" in s.name]


async def test_a_stream_records_its_time_to_first_token(
    traced: tuple[RunningAutan, InMemorySpanExporter],
) -> None:
    autan, exporter = traced
    async with autan.client() as client:
        response = await client.post("/v1/chat/completions", json={**CHAT, "stream": True})
    assert response.status_code == 200
    spans = await _spans(exporter, "chat sim-chat")
    (model,) = [s for s in spans if s.name == "chat sim-chat"]
    assert model.attributes is not None and model.attributes["autan.llm.stream"] is True
    assert float(str(model.attributes["autan.llm.ttft_ms"])) >= 20


async def test_console_exporter_from_the_environment(
    sim: SimUpstream,
    tmp_path: Path,
    sqlite_databases: SqliteDatabases,
    monkeypatch: pytest.MonkeyPatch,
    capfd: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("OTEL_TRACES_EXPORTER", "console")
    monkeypatch.setenv("OTEL_SERVICE_NAME", "autan-test")
    settings = make_settings(tmp_path, sqlite_databases.new(), _models(sim))
    async with serve_autan(settings) as running, running.client() as client:
        assert (await client.post("/v1/chat/completions", json=CHAT)).status_code == 200
    out = capfd.readouterr().out
    decoder = json.JSONDecoder()
    spans, position = [], out.find("{")
    while position != -1:
        span, end = decoder.raw_decode(out, position)
        spans.append(span)
        position = out.find("{", end)
    names = {span["name"] for span in spans}
    assert {"POST /v1/chat/completions", "chat sim-chat"} <= names
    assert {span["resource"]["attributes"]["service.name"] for span in spans} == {"autan-test"}
