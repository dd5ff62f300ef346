"""An OIDC provider's token endpoint on loopback that speaks RFC 8693 token exchange.

The OIDC test provider the suite runs (oidc-provider-mock) grants no token exchange, so this
one does, exactly as RFC 8693 and RFC 6749 say: discovery names the token endpoint; the
client authenticates with HTTP Basic; `grant_type=urn:ietf:params:oauth:grant-type:
token-exchange` with a `subject_token` of type access token and the drive's `audience`
gives `{access_token, issued_token_type, token_type: "Bearer", expires_in, refresh_token}`;
`grant_type=refresh_token` renews; anything else is answered with RFC 6749's error shape
(400 `invalid_request`, `invalid_grant`, `invalid_target`; 401 `invalid_client`).
"""

from __future__ import annotations

import base64
import itertools
from dataclasses import dataclass, field
from urllib.parse import unquote

from aiohttp import web

from tests.conftest import free_port

GRANT = "urn:ietf:params:oauth:grant-type:token-exchange"
ACCESS = "urn:ietf:params:oauth:token-type:access_token"


@dataclass
class ExchangeProvider:
    """The provider's state: tokens it accepts, tokens it issued, requests it got."""

    client_id: str = "autan"
    client_secret: str = "autan-secret"
    audience: str = "drive"
    expires_in: int = 3600
    subjects: set[str] = field(default_factory=set)  # the people's valid access tokens
    issued: set[str] = field(default_factory=set)  # valid tokens for the drive
    refresh_tokens: set[str] = field(default_factory=set)
    requests: list[dict[str, str]] = field(default_factory=list)
    port: int = field(default_factory=free_port)
    _numbers: itertools.count[int] = field(default_factory=lambda: itertools.count(1))
    _runner: web.AppRunner | None = None

    @property
    def issuer(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def end_session(self) -> None:
        """The person signed out at the provider: nothing of theirs is honoured any more."""
        self.subjects.clear()
        self.refresh_tokens.clear()
        self.issued.clear()

    async def _discovery(self, _request: web.Request) -> web.Response:
        return web.json_response(
            {
                "issuer": self.issuer,
                "authorization_endpoint": f"{self.issuer}/authorize",
                "token_endpoint": f"{self.issuer}/token",
                "jwks_uri": f"{self.issuer}/jwks",
                "token_endpoint_auth_methods_supported": ["client_secret_basic"],
                "grant_types_supported": ["authorization_code", "refresh_token", GRANT],
            }
        )

    def _client_ok(self, header: str | None) -> bool:
        if not header or not header.startswith("Basic "):
            return False
        pair = base64.b64decode(header[6:]).decode()
        client_id, _, secret = pair.partition(":")
        return (unquote(client_id), unquote(secret)) == (self.client_id, self.client_secret)

    async def _token(self, request: web.Request) -> web.Response:
        form = {k: str(v) for k, v in (await request.post()).items()}
        self.requests.append(form)
        if not self._client_ok(request.headers.get("Authorization")):
            return _error(401, "invalid_client")
        grant = form.get("grant_type")
        if grant == GRANT:
            if form.get("subject_token_type") != ACCESS or "subject_token" not in form:
                return _error(400, "invalid_request")
            if form.get("requested_token_type", ACCESS) != ACCESS:
                return _error(400, "invalid_request")
            if form.get("audience") != self.audience:
                return _error(400, "invalid_target")
            if form["subject_token"] not in self.subjects:
                return _error(400, "invalid_grant")
            return self._issue()
        if grant == "refresh_token":
            if form.get("refresh_token") not in self.refresh_tokens:
                return _error(400, "invalid_grant")
            self.refresh_tokens.discard(form["refresh_token"])  # rotated
            return self._issue()
        return _error(400, "unsupported_grant_type")

    def _issue(self) -> web.Response:
        number = next(self._numbers)
        token, refresh = f"drive-token-{number}", f"refresh-{number}"
        self.issued.add(token)
        self.refresh_tokens.add(refresh)
        return web.json_response(
            {
                "access_token": token,
                "issued_token_type": ACCESS,
                "token_type": "Bearer",
                "expires_in": self.expires_in,
                "refresh_token": refresh,
            },
            headers={"Cache-Control": "no-store"},
        )

    async def start(self) -> None:
        app = web.Application()
        app.router.add_get("/.well-known/openid-configuration", self._discovery)
        app.router.add_post("/token", self._token)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", self.port).start()

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()


def _error(status: int, error: str) -> web.Response:
    return web.json_response({"error": error}, status=status, headers={"Cache-Control": "no-store"})
