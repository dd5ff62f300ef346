"""Where La Suite numérique's Docs is (AUTAN_DOCS__*)."""

from __future__ import annotations

from pydantic import BaseModel, Field


class DocsSettings(BaseModel):
    url: str | None = Field(
        None,
        description="Docs' address (for example https://docs.numerique.gouv.fr); "
        "unset turns off sending to Docs and Docs documents as context.",
    )
    api_path: str = Field(
        "/external_api/v1.0/",
        description="Docs' API under that address: the resource-server API that accepts the "
        "OIDC access tokens of the Suite's provider (Docs' OIDC_RESOURCE_SERVER_ENABLED).",
    )
    timeout: float = Field(15.0, gt=0, description="Seconds before a Docs call is given up.")
    max_content_chars: int = Field(
        60_000, gt=0, description="At most this much of a Docs document is kept as context."
    )
    token_hours: float = Field(
        8.0, gt=0, description="How long a Suite access token kept at sign-in is used at most."
    )
