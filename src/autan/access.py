"""The routes that answer without a session or an API key. Everything else denies."""

from __future__ import annotations

from autan.ops.router import OPS_PATHS

PUBLIC_PATHS = OPS_PATHS | frozenset(
    {
        "/auth/login",
        "/auth/oidc/login",
        "/auth/oidc/callback",
        "/auth/oidc/redeem",
        "/auth/oidc/logout",
        # The web UI's pages for visitors without a session; static files are a mount.
        "/login",
        "/auth/welcome",
        "/auth/signup",
        "/auth/link/{token}",
        "/auth/forgot",
        "/lang",
    }
)
