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

from autan.accounts.mail_settings import MailSettings
from autan.accounts.oidc_settings import OidcSettings
from autan.budgets.settings import BudgetSettings
from autan.chat.settings import ChatSettings
from autan.connectors.settings import ConnectorSettings
from autan.core.db import DatabasePoolSettings
from autan.core.events import EventSettings
from autan.documents.settings import DocumentSettings
from autan.llm.settings import EmbeddedSettings, GatewaySettings
from autan.quotas.policy import QuotaSettings
from autan.research.settings import ResearchSettings
from autan.retention.settings import RetentionSettings
from autan.retrieval.settings import RetrievalSettings
from autan.websearch.settings import WebSettings


def _split_addresses(value: str) -> list[str]:
    return [item.strip() for item in value.split(",") if item.strip()]


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
    signup_enabled: bool = Field(
        True,
        description="Let newcomers create a local account with an access code a referent "
        "handed out (needs local_login_enabled).",
    )
    link_valid_hours: int = Field(
        72,
        ge=1,
        le=24 * 30,
        description="Hours an invitation or password-reset link stays valid (single use).",
    )


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
    budgets: BudgetSettings = Field(
        BudgetSettings(),
        description="Monthly token budgets per organisation and role (AUTAN_BUDGETS__*).",
    )
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
    retention: RetentionSettings = Field(
        RetentionSettings(), description="The scheduled retention purge (AUTAN_RETENTION__*)."
    )
    research: ResearchSettings = Field(
        ResearchSettings(), description="Deep research runs (AUTAN_RESEARCH__*)."
    )
    mail: MailSettings = Field(
        MailSettings(), description="E-mail of reset and invitation links (AUTAN_MAIL__*)."
    )
    connectors: ConnectorSettings = Field(
        ConnectorSettings(),
        description="WebDAV drive folders synced into collections (AUTAN_CONNECTORS__*).",
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
