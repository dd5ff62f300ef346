"""Settings of the model gateway and of the embedded models (sections of `Settings`)."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, Field


class GatewaySettings(BaseModel):
    """Limits and timeouts of the model gateway."""

    max_connections: int = Field(
        4000,
        description="Requests the process serves at once; beyond that it answers 503 at once.",
    )
    queue_size: int = Field(
        256, description="Requests that may wait per model when every replica is at capacity."
    )
    queue_timeout: float = Field(
        0.5, description="Seconds a request waits for a free replica slot before a 503."
    )
    retry_after: int = Field(2, description="Seconds advertised in Retry-After on a 503.")
    connect_timeout: float = Field(3.0, description="Seconds to open a connection to a replica.")
    first_byte_timeout: float = Field(
        300.0, description="Seconds to wait for a replica's first byte (prompt processing)."
    )
    read_timeout: float = Field(
        120.0, description="Seconds allowed between two chunks of a streamed answer."
    )
    health_interval: float = Field(
        5.0, description="Seconds between probes of a replica that was taken out."
    )
    failure_threshold: int = Field(
        1, description="Consecutive failures (refused, timeout, 5xx) that take a replica out."
    )
    probe_timeout: float = Field(
        10.0,
        description="Seconds a replica that answered 5xx has to serve a tiny request; if it "
        "does, the request was the cause (answered 400) and the replica stays in.",
    )
    embedding_timeout: float = Field(
        10.0, description="Seconds allowed for the answer to a small embedding request."
    )
    embedding_timeout_per_kchar: float = Field(
        1.5,
        description="Seconds added to embedding_timeout per 1,000 characters to embed "
        "(capped by read_timeout).",
    )
    usage_flush_interval: float = Field(
        1.0, description="Seconds between batched writes of usage rows."
    )
    api_key_cache_ttl: float = Field(
        300.0,
        description=(
            "Seconds a validated API key, a signed-in user, an organisation's policy or charter"
            " version is trusted before the database is asked again. A change reaches every"
            " process at once through the event bus; this is the safety net (while the bus is"
            " down, the events' degraded TTL applies instead)."
        ),
    )
    max_body_bytes: int = Field(
        8 * 1024 * 1024, description="Largest request body accepted on /v1, in bytes."
    )


class EmbeddedSettings(BaseModel):
    """The local model pair started when no models file is given."""

    chat_model: str = Field(
        # Qwen2.5 1.5B: the best French answers the registries offer at a usable speed on 2
        # cores (benchmarks/results/answers.md). The tests keep SmolLM2, 10x faster.
        "qwen2.5-coder-1.5b",
        description="Embedded chat model: a packaged one (qwen2.5-coder-1.5b, smollm2-135m) "
        "or a name given to `autan models add`; its file is verified before it is served.",
    )
    chat_model_path: Path | None = Field(
        None,
        description="A GGUF file served as is by the embedded chat server, instead of "
        "`chat_model` (not verified: prefer `autan models add`).",
    )
    chat_model_id: str | None = Field(
        None, description="Public id of the embedded chat model (default: `chat_model`)."
    )
    chat_display_name: str | None = Field(
        None,
        description="Name of the embedded chat model shown in the model picker "
        "(default: the packaged model's).",
    )
    chat_description: str | None = Field(
        None,
        description="One line about the embedded chat model, shown in the model picker "
        "(default: the packaged model's).",
    )
    chat_parameters: float | None = Field(
        None,
        gt=0,
        description="Parameters of the embedded chat model, in billions, for the energy and "
        "CO2 of its answers (default: known for the packaged models; none for others).",
    )
    hosting_zone: str = Field(
        "FRA",
        pattern=r"^[A-Z]{3}$",
        description="Where the embedded models run: ISO 3166-1 alpha-3 code of the "
        "electricity mix used by EcoLogits (FRA, DEU...; WOR for the world average).",
    )
    context_length: int = Field(2048, description="Context window per request, in tokens.")
    parallel: int = Field(4, description="Requests the embedded chat server decodes at once.")
    threads: int | None = Field(None, description="CPU threads for generation (default: all).")
    embedding_model_id: str = Field(
        "multilingual-e5-small", description="Public id of the embedded embedding model."
    )
    embedding_enabled: bool = Field(
        True, description="Start the embedded e5 embedding server (needed for document search)."
    )
    start_timeout: float = Field(60.0, description="Seconds allowed for a model server to start.")
    health_interval: float = Field(
        5.0, description="Seconds between health checks of an embedded model server."
    )
    health_timeout: float = Field(
        20.0,
        description="Seconds a health check (a tiny real request) may take; a server that "
        "misses three checks in a row is busy but stuck, and is restarted.",
    )
