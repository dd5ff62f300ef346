"""Settings of sign-in through an OIDC provider, apart from the client so that reading the
configuration does not import the protocol libraries."""

from __future__ import annotations

from pydantic import BaseModel, Field, SecretStr, model_validator


class OidcSettings(BaseModel):
    """Sign-in through an OpenID Connect provider (ProConnect, or any plain OIDC provider)."""

    enabled: bool = Field(False, description="Offer sign-in through the OIDC provider.")
    issuer: str = Field(
        "",
        description="Issuer URL; discovery is read at `{issuer}/.well-known/openid-configuration` "
        "(ProConnect: `https://auth.proconnect.gouv.fr/api/v2`).",
    )
    client_id: str = Field("", description="Client id given by the provider.")
    client_secret: SecretStr = Field(
        SecretStr(""), description="Client secret given by the provider."
    )
    scopes: list[str] = Field(
        ["openid", "email", "given_name", "usual_name", "siret"],
        description="Scopes asked for. The default is ProConnect's; generic providers give "
        "names under `profile`.",
    )
    acr_values: str | None = Field(
        None,
        description="Space-separated authentication levels asked for (e.g. `eidas1`); the ID "
        "token's `acr`, when present, must be one of them.",
    )
    redirect_path: str = Field(
        "/auth/oidc/callback", description="Path of the callback route registered at the provider."
    )
    post_logout_redirect_path: str = Field(
        "/", description="Path the provider sends the browser back to after logout."
    )
    email_claim: str = Field("email", description="Claim holding the user's email address.")
    given_name_claim: str = Field("given_name", description="Claim holding the first name.")
    family_name_claim: str = Field(
        "usual_name",
        description="Claim holding the last name (ProConnect's `usual_name`); `family_name` is "
        "read when it is absent.",
    )
    organisation_claim: str = Field(
        "siret", description="Claim identifying the user's organisation (ProConnect: SIRET)."
    )
    timeout: float = Field(10.0, description="Seconds allowed for each call to the provider.")

    @model_validator(mode="after")
    def _complete_when_enabled(self) -> OidcSettings:
        if self.enabled:
            missing = [
                name
                for name, value in (
                    ("issuer", self.issuer),
                    ("client_id", self.client_id),
                    ("client_secret", self.client_secret.get_secret_value()),
                )
                if not value
            ]
            if missing:
                raise ValueError(f"OIDC is enabled but {', '.join(missing)} is not set")
            if not self.issuer.startswith(("https://", "http://")):
                raise ValueError("the OIDC issuer must be an http(s) URL")
            if "openid" not in self.scopes:
                raise ValueError("the OIDC scopes must include `openid`")
        return self
