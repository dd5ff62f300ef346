"""A real OpenID Connect provider for tests: `oidc-provider-mock` run as a child process.

The provider (Flask on uvicorn, Authlib inside) signs real ID tokens (RS256, no `kid` in the
header) with an RSA key it publishes at `/jwks`, and accepts any client id and secret. What it
offers, and how the helpers below drive it without a browser:

- `PUT /users/{sub}` with a JSON object sets that user's claims (`OidcProvider.set_user`).
  Claims outside the standard OIDC scopes (`usual_name`, `siret`, `acr`…) are always
  released; standard ones (`given_name`, `email`…) only under their scope (`profile`,
  `email`). All released claims go both into the ID token and to `/userinfo`, and they are
  applied after the provider's own `iss`, `aud`, `exp`: a test can make it sign a token with a
  wrong audience or an expiry in the past.
- The authorisation page is a form: POSTing `sub=…` to the authorisation URL signs that
  subject in and answers 302 to the client's redirect URI with `code` and `state`
  (`OidcProvider.authorize`); POSTing `action=deny` answers with `error=access_denied`
  (without `state`, which RFC 6749 asks for; `OidcProvider.deny`).
- `/oauth2/end_session` shows a form whose confirmation redirects to
  `post_logout_redirect_uri` with `state` (`OidcProvider.end_session`).

It does not implement PKCE (it accepts and ignores `code_challenge`, so it cannot refuse a
wrong `code_verifier`) nor `acr_values`, and answers userinfo in JSON only;
`SignedUserinfoTransport` relays to it and turns userinfo into a signed JWT, as ProConnect
sends it.
"""

from __future__ import annotations

import html
import json
import os
import re
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import httpx
from joserfc import jwt
from joserfc.jwk import RSAKey

ResponseHook = Callable[[httpx.Response], Awaitable[None]]


def free_port() -> int:
    """A loopback port nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def query_params(url: str) -> dict[str, str]:
    """The query parameters of `url`, as the callback route would receive them."""
    return dict(parse_qsl(urlsplit(url).query, keep_blank_values=True))


@dataclass
class OidcProvider:
    """A running `oidc-provider-mock` process."""

    process: subprocess.Popen[bytes]
    url: str
    log_path: Path
    metadata: dict[str, Any] = field(default_factory=dict)

    @property
    def issuer(self) -> str:
        return self.url

    async def set_user(self, sub: str, claims: dict[str, Any]) -> None:
        """Create or replace the user `sub` and the claims the provider releases about them."""
        async with httpx.AsyncClient(timeout=5) as client:
            response = await client.put(f"{self.url}/users/{sub}", json=claims)
            response.raise_for_status()

    async def authorize(self, authorization_url: str, sub: str) -> str:
        """Sign `sub` in on the authorisation page; returns the callback URL with code and state."""
        return await self._submit(authorization_url, {"sub": sub})

    async def deny(self, authorization_url: str) -> str:
        """Press "Deny" on the authorisation page; returns the callback URL with the error."""
        return await self._submit(authorization_url, {"action": "deny"})

    async def end_session(self, logout_url: str) -> str | None:
        """Open the logout URL and confirm; returns where the provider sends the browser."""
        async with httpx.AsyncClient(timeout=5) as client:
            page = await client.get(logout_url)
            page.raise_for_status()
            match = re.search(r'name="redirect_uri" value="([^"]*)"', page.text)
            data = {"redirect_uri": html.unescape(match.group(1))} if match else {}
            confirm = await client.post(f"{self.url}/oauth2/end_session/confirm", data=data)
        location: str | None = confirm.headers.get("location")
        return location

    def claims_after_token_exchange(self, sub: str, claims: dict[str, Any]) -> ResponseHook:
        """An httpx response hook that replaces `sub`'s claims once the token endpoint answered.

        The ID token is then signed without them while `/userinfo` (read live by the
        provider) has them: the shape of ProConnect, whose ID token carries no email.
        """
        token_endpoint = self.metadata["token_endpoint"]

        async def hook(response: httpx.Response) -> None:
            if str(response.request.url) == token_endpoint and response.status_code == 200:
                await self.set_user(sub, claims)

        return hook

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.log_path.unlink(missing_ok=True)

    async def _submit(self, authorization_url: str, form: dict[str, str]) -> str:
        async with httpx.AsyncClient(timeout=5) as client:
            response = await client.post(authorization_url, data=form)
        if response.status_code != 302:
            raise AssertionError(
                f"the provider refused the authorisation ({response.status_code}): "
                f"{response.text[:500]}"
            )
        return response.headers["location"]


def start_oidc_provider(*, require_nonce: bool = True, timeout: float = 30) -> OidcProvider:
    """Start `oidc-provider-mock` on a free loopback port and wait for its discovery document.

    With `require_nonce` (ProConnect's rule too) it refuses authorisation requests without one.
    """
    port = free_port()
    args = [sys.executable, "-m", "oidc_provider_mock", "--host", "127.0.0.1", "--port", str(port)]
    if require_nonce:
        args.append("--require-nonce")
    # Its log goes to a file: a pipe nobody reads would fill and block the provider.
    with tempfile.NamedTemporaryFile(
        prefix="oidc-provider-", suffix=".log", delete=False
    ) as log_file:
        log_path = Path(log_file.name)
        process = subprocess.Popen(
            args, stdout=log_file, stderr=subprocess.STDOUT, env={**os.environ, "NO_COLOR": "1"}
        )
    provider = OidcProvider(process, f"http://127.0.0.1:{port}", log_path)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            break
        try:
            response = httpx.get(f"{provider.url}/.well-known/openid-configuration", timeout=1)
        except httpx.TransportError:
            time.sleep(0.05)
            continue
        if response.status_code == 200:
            provider.metadata = response.json()
            return provider
        time.sleep(0.05)
    output = log_path.read_text(errors="replace")[-2000:]
    provider.stop()
    raise RuntimeError(f"oidc-provider-mock did not start:\n{output}")


class SignedUserinfoTransport(httpx.AsyncBaseTransport):
    """Relays to the provider, but answers `/userinfo` as a signed JWT, as ProConnect does.

    The JWT carries the provider's real userinfo claims plus `iss` and `aud`, signed with a
    key of this transport that it appends to the provider's JWKS from the `publish_from`-th
    JWKS fetch on (2 models a key rotation the client learns of by re-reading the keys;
    None never publishes it, as if an impostor had signed).
    """

    def __init__(self, provider: OidcProvider, audience: str, publish_from: int | None) -> None:
        self._inner = httpx.AsyncHTTPTransport()
        self._provider = provider
        self._audience = audience
        self._publish_from = publish_from
        self.key = RSAKey.generate_key(2048, {"kid": "userinfo-signing", "use": "sig"})
        self.jwks_fetches = 0
        self.userinfo_answers = 0

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        response = await self._inner.handle_async_request(request)
        url = str(request.url.copy_with(query=None))
        if url == self._provider.metadata["jwks_uri"]:
            return await self._jwks(response)
        if url == self._provider.metadata["userinfo_endpoint"] and response.status_code == 200:
            return await self._signed_userinfo(response)
        return response

    async def aclose(self) -> None:
        await self._inner.aclose()

    async def _jwks(self, response: httpx.Response) -> httpx.Response:
        data = json.loads(await _read(response))
        self.jwks_fetches += 1
        if self._publish_from is not None and self.jwks_fetches >= self._publish_from:
            data["keys"].append(self.key.as_dict(private=False))
        return httpx.Response(200, json=data)

    async def _signed_userinfo(self, response: httpx.Response) -> httpx.Response:
        claims = json.loads(await _read(response))
        claims |= {"iss": self._provider.issuer, "aud": self._audience}
        header = {"alg": "RS256", "kid": self.key.kid}
        self.userinfo_answers += 1
        token = jwt.encode(header, claims, self.key)
        return httpx.Response(
            200, headers={"Content-Type": "application/jwt"}, content=token.encode()
        )


async def _read(response: httpx.Response) -> bytes:
    try:
        return await response.aread()
    finally:
        await response.aclose()
