"""Settings of outgoing e-mail, apart from the client so that reading the configuration does
not import the SMTP library."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field, SecretStr


class MailSettings(BaseModel):
    """An SMTP server for password-reset and invitation links (off while `host` is empty)."""

    host: str = Field("", description="SMTP server name or address; empty: no e-mail is sent.")
    port: int = Field(587, ge=1, le=65535, description="SMTP port (587 STARTTLS, 465 TLS).")
    tls: Literal["starttls", "tls", "none"] = Field(
        "starttls",
        description="`starttls` (upgrade after connecting), `tls` (TLS from the start, port "
        "465) or `none` (plain text: a relay on the same machine only).",
    )
    user: str = Field("", description="Login on the SMTP server; empty: no authentication.")
    password: SecretStr = Field(SecretStr(""), description="Password on the SMTP server.")
    sender: str = Field(
        "", description="The From address, e.g. `Autan <ne-pas-repondre@ministere.gouv.fr>`."
    )
    site_url: str = Field(
        "",
        description="The site's public address written in e-mailed links, e.g. "
        "`https://ia.ministere.gouv.fr`. Required: a link built from the request's Host "
        "header could be pointed at another site by whoever asks for a reset.",
    )
    timeout_seconds: float = Field(
        10.0, gt=0, description="How long to wait for the SMTP server before giving up."
    )

    @property
    def enabled(self) -> bool:
        """Whether a server is configured: then links can also go by e-mail."""
        return bool(self.host and self.sender and self.site_url)

    def link_url(self, token: str) -> str:
        """The public address of a one-time link."""
        return f"{self.site_url.rstrip('/')}/auth/link/{token}"
