"""Autan's configuration: one pydantic-settings model, read from `AUTAN_*` variables and `.env`.

Nested sections use a double underscore: `AUTAN_GATEWAY__QUEUE_TIMEOUT=0.5`.
Nothing here runs at import time; `Settings()` is built by `create_app()` or the CLI.
"""

from __future__ import annotations

import ipaddress
import secrets
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from autan.accounts.oidc_settings import OidcSettings
from autan.chat.settings import ChatSettings
from autan.core.db import DatabasePoolSettings
from autan.core.events import EventSettings
from autan.documents.settings import DocumentSettings
from autan.quotas.policy import QuotaSettings
from autan.retrieval.settings import RetrievalSettings
from autan.websearch.settings import WebSettings


def _split_addresses(value: str) -> list[str]:
    return [item.strip() for item in value.split(",") if item.strip()]


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
        30.0, description="Seconds a validated API key is trusted before the database is asked."
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


class SessionSettings(BaseModel):
    """Browser sessions (signed cookies)."""

    cookie_name: str = Field("autan_session", description="Name of the session cookie.")
    idle_timeout_minutes: int = Field(
        120, ge=1, description="Minutes without activity after which a session ends."
    )
    absolute_timeout_hours: int = Field(
        12, ge=1, description="Hours after login after which a session ends regardless."
    )
    cookie_secure: bool | None = Field(
        None, description="Send cookies over HTTPS only (default: when the request is HTTPS)."
    )
    local_login_enabled: bool = Field(True, description="Allow email + password accounts.")


class Settings(BaseSettings):
    """Every setting of an Autan deployment."""

    model_config = SettingsConfigDict(
        env_prefix="AUTAN_",
        env_file=".env",
        env_nested_delimiter="__",
        extra="ignore",
    )

    data_dir: Path = Field(Path("var"), description="Where SQLite, files and secrets live.")
    database_url: str | None = Field(
        None,
        description="SQLAlchemy URL; default SQLite in data_dir. "
        "PostgreSQL: postgresql+asyncpg://user:pass@host/db",
    )
    database_pool: DatabasePoolSettings = Field(
        DatabasePoolSettings(),
        description="Database connections per process (AUTAN_DATABASE_POOL__*).",
    )
    redis_url: str | None = Field(
        None,
        description="Redis for shared quotas, revoked sessions and the events that keep "
        "every process's caches in step (without it: the database).",
    )
    models_file: Path | None = Field(
        None, description="YAML or TOML file declaring chat and embedding models."
    )
    secret_key: SecretStr | None = Field(
        None, description="Signs sessions; default: generated once and kept in data_dir."
    )
    host: str = Field("127.0.0.1", description="Address `autan serve` listens on.")
    port: int = Field(8000, description="Port `autan serve` listens on.")
    forwarded_allow_ips: str = Field(
        "",
        description="Comma-separated addresses or networks (CIDR) of the reverse proxies whose "
        "X-Forwarded-For and X-Forwarded-Proto headers are believed; '*' trusts every client. "
        "Empty (the default): nobody, so the address seen on the connection is the one "
        "throttled and audited.",
    )
    workers: int = Field(1, description="Server processes (uvicorn workers).")
    keep_alive_timeout: int = Field(
        75,
        gt=0,
        description="Seconds an idle keep-alive connection stays open. Longer than the idle "
        "timeout of the clients and proxies in front (nginx: 60 s, aiohttp: 15 s), so that the "
        "server never closes a connection a client is reusing at that moment (uvicorn's 5 s "
        "default reset a few of 38,000 requests in the soak benchmark).",
    )
    event_loop: Literal["asyncio", "uvloop"] = Field(
        "asyncio",
        description="Event loop of the server. asyncio by default: measured here with 1,000 "
        "concurrent streams, uvloop left hundreds of new connections waiting in the accept "
        "queue (first-token p99 ~25 s against ~2.4 s on asyncio).",
    )
    log_level: str = Field("INFO", description="Lowest level logged: DEBUG, INFO, WARNING, ERROR.")
    log_json: bool = Field(False, description="Log as JSON lines instead of console text.")
    gateway: GatewaySettings = Field(
        GatewaySettings(), description="Routing to model replicas (AUTAN_GATEWAY__*)."
    )
    embedded: EmbeddedSettings = Field(
        EmbeddedSettings(), description="The embedded model servers (AUTAN_EMBEDDED__*)."
    )
    sessions: SessionSettings = Field(
        SessionSettings(), description="Browser sessions (AUTAN_SESSIONS__*)."
    )
    events: EventSettings = Field(
        EventSettings(), description="Domain events between processes (AUTAN_EVENTS__*)."
    )
    oidc: OidcSettings = Field(
        OidcSettings(), description="OIDC / ProConnect sign-in (AUTAN_OIDC__*)."
    )
    quotas: QuotaSettings = Field(QuotaSettings(), description="Per-user quotas (AUTAN_QUOTAS__*).")
    documents: DocumentSettings = Field(
        DocumentSettings(), description="Document upload and ingestion (AUTAN_DOCUMENTS__*)."
    )
    chat: ChatSettings = Field(ChatSettings(), description="The chat (AUTAN_CHAT__*).")
    retrieval: RetrievalSettings = Field(
        RetrievalSettings(), description="Document search (AUTAN_RETRIEVAL__*)."
    )
    web: WebSettings = Field(
        WebSettings(), description="Web search and page reading (AUTAN_WEB__*)."
    )

    @field_validator("forwarded_allow_ips")
    @classmethod
    def _known_addresses(cls, value: str) -> str:
        for item in _split_addresses(value):
            if item != "*":
                try:
                    ipaddress.ip_network(item, strict=False)
                except ValueError:
                    raise ValueError(f"{item!r} is not an IP address or network") from None
        return value

    def trusted_proxies(self) -> list[str]:
        """The addresses and networks of `forwarded_allow_ips`, as a list."""
        return _split_addresses(self.forwarded_allow_ips)

    @property
    def resolved_database_url(self) -> str:
        """The database URL, defaulting to SQLite under the data directory."""
        if self.database_url:
            return self.database_url
        return f"sqlite+aiosqlite:///{(self.data_dir / 'autan.db').resolve()}"

    def ensure_data_dir(self) -> Path:
        """Create the data directory if needed and return it."""
        self.data_dir.mkdir(parents=True, exist_ok=True)
        return self.data_dir

    def resolved_secret_key(self) -> str:
        """The signing key: configured, or generated once and stored in the data directory."""
        if self.secret_key is not None:
            return self.secret_key.get_secret_value()
        path = self.ensure_data_dir() / "secret_key"
        if not path.exists():
            path.write_text(secrets.token_urlsafe(48))
            path.chmod(0o600)
        return path.read_text().strip()
