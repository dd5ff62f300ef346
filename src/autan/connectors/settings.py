"""Settings of the drive connectors (`AUTAN_CONNECTORS__*`)."""

from __future__ import annotations

from pydantic import BaseModel, Field

# What a sync downloads; anything else in the folder is listed as skipped, never fetched.
SYNCED_EXTENSIONS = frozenset(
    {
        "pdf", "docx", "xlsx", "pptx", "odt", "ods", "odp", "txt", "md", "markdown",
        "html", "htm", "csv", "png", "jpg", "jpeg", "tif", "tiff",
    }
)  # fmt: skip


class ConnectorSettings(BaseModel):
    """Where drives may be reached, how often they are synced, and the bounds of one sync."""

    enabled: bool = Field(
        True,
        description="Run the drive sync in the processes that ingest documents "
        "(`autan worker`, or `autan serve` with its worker).",
    )
    allowed_hosts: str = Field(
        "",
        description="Comma-separated `host[:port]` of drives that may be reached on a private "
        "or loopback address and over plain http (an institution's internal Nextcloud). Any "
        "other drive must be on a public address and use https.",
    )
    interval: float = Field(
        900.0, ge=1.0, description="Seconds between two scheduled syncs of a connected folder."
    )
    poll_interval: float = Field(
        2.0,
        gt=0.0,
        description="Seconds between two looks for a sync that is due or asked for "
        '("Synchroniser maintenant").',
    )
    stale_after: float = Field(
        900.0,
        ge=10.0,
        description="A sync whose process has said nothing for this long is taken over.",
    )
    timeout: float = Field(60.0, gt=0.0, description="Seconds allowed for one request to a drive.")
    max_files: int = Field(
        20_000, ge=1, description="Most files one connected folder may list (deeper is refused)."
    )
    max_depth: int = Field(12, ge=0, description="Deepest sub-folder level that is listed.")
    max_redirects: int = Field(3, ge=0, description="Redirects followed, each hop checked.")
    concurrency: int = Field(
        4, ge=1, le=32, description="Requests to one drive at once (listing and downloads)."
    )
    verify_tls: bool = Field(
        True, description="Check drives' TLS certificates (turn off only for a test drive)."
    )
    token_exchange: bool = Field(
        False,
        description="Let people signed in with the OIDC provider (ProConnect) connect the "
        "Suite's drive (Fichiers) without a password: their access token is exchanged at the "
        "provider's token endpoint (RFC 8693) for one the drive accepts. Needs `AUTAN_OIDC__*`.",
    )
    exchange_audience: str = Field(
        "",
        description="`audience` asked for in the token exchange: the drive's client id at the "
        "provider (the drive checks it in OIDC_RS_ALLOWED_AUDIENCES). Empty: not sent.",
    )
    exchange_resource: str = Field(
        "",
        description="`resource` asked for in the token exchange (RFC 8707): the drive's API "
        "address, for providers that name targets by URI. Empty: not sent.",
    )
    exchange_scope: str = Field(
        "", description="Space-separated `scope` asked for in the token exchange; empty: none."
    )
    exchange_token_endpoint: str = Field(
        "",
        description="Token endpoint of the exchange; empty: the one the OIDC provider's "
        "discovery document names.",
    )
    exchange_margin: float = Field(
        120.0,
        ge=0.0,
        description="Seconds before its end that an exchanged token is renewed (refreshed or "
        "exchanged again), so no request to the drive carries a token about to expire.",
    )

    def allowed_host_list(self) -> list[str]:
        """The allow-list as `host[:port]` strings."""
        return [h.strip().lower() for h in self.allowed_hosts.split(",") if h.strip()]
