"""One TLS context for the tests' HTTP clients."""

from __future__ import annotations

import httpx

# The tests speak plain HTTP on loopback, but httpx builds a TLS context (loading the CA
# bundle, ~20 ms) for every client it creates: several seconds over the suite. Clients that a
# test creates by the hundred share this one.
TLS = httpx.create_ssl_context()
