"""Settings of web search (`AUTAN_WEB__*`); web search is off without `searxng_url`."""

from __future__ import annotations

from pydantic import BaseModel, Field


class WebSettings(BaseModel):
    """The search engine and the limits of reading web pages."""

    searxng_url: str | None = Field(
        None,
        description="Base URL of the SearXNG instance queried through its JSON API "
        "(its settings must enable the json format). Web search is off without it.",
    )
    allowed_hosts: str = Field(
        "",
        description="Comma-separated host[:port] that may be fetched even when they resolve "
        "to loopback or private addresses (tests, intranets). Without a port, any port.",
    )
    engine_timeout: float = Field(
        4.0,
        gt=0,
        description="Seconds the search engine has to answer before the answer "
        "goes on without web results.",
    )
    fetch_timeout: float = Field(
        5.0, gt=0, description="Seconds allowed to read one page, redirects included."
    )
    read_budget: float = Field(
        8.0, gt=0, description="Seconds allowed to read every page of one search together."
    )
    max_page_bytes: int = Field(
        5 * 1024 * 1024, gt=0, description="Largest page read, in bytes; larger ones are skipped."
    )
    max_redirects: int = Field(5, ge=0, description="Redirects followed for one page.")
    results_per_query: int = Field(
        5, ge=1, le=20, description="Search results kept from each query."
    )
    pages_to_read: int = Field(3, ge=1, le=10, description="Pages read for one question.")
    user_agent: str = Field(
        "Autan/0.1 (+web search of a public-service assistant)",
        description="User-Agent sent to the search engine and to the pages read.",
    )

    @property
    def enabled(self) -> bool:
        """Whether web search is configured at all."""
        return bool(self.searxng_url)

    def allowed_host_list(self) -> list[str]:
        """The allow-listed `host[:port]` items, lower-cased."""
        return [item.strip().lower() for item in self.allowed_hosts.split(",") if item.strip()]
