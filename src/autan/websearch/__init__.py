"""Web search: a search engine (SearXNG by default), a safe page fetcher, cited web sources."""
