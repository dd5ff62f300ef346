"""The person's OIDC access token exchanged for one the Suite's drive accepts (RFC 8693).

La Suite's drive (suitenumerique/drive) is an OIDC resource server: it introspects the
bearer tokens it gets at the provider and accepts only those issued for an audience it
allows. A person signed in with ProConnect connects it without a password: Autan sends
their access token (`subject_token`) to the provider's token endpoint with
`grant_type=urn:ietf:params:oauth:grant-type:token-exchange`, authenticating as its own
OIDC client, and receives a token for the drive's `audience`/`resource`.

The exchanged token, its end, any refresh token and the subject token are kept sealed
(Fernet) in the connection's `secret`; a token is renewed `exchange_margin` seconds before
its end: by its refresh token when the provider gave one, else by exchanging the subject
token again while that one lasts. When neither works (the session ended, the provider
refuses), the sync stops and the person is asked to reconnect.
"""

from __future__ import annotations

import asyncio
import base64
import time
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass, replace
from typing import Any
from urllib.parse import quote

import aiohttp
import orjson

from autan.accounts.oidc_settings import OidcSettings
from autan.connectors import errors
from autan.connectors.settings import ConnectorSettings

GRANT = "urn:ietf:params:oauth:grant-type:token-exchange"
ACCESS_TOKEN = "urn:ietf:params:oauth:token-type:access_token"
_DISCOVERY_MAX_AGE = 3600.0


@dataclass(frozen=True, slots=True)
class TokenState:
    """What an OIDC connection keeps, sealed: the person's token and the drive's."""

    subject: str  # the person's access token at the provider
    subject_expires: float  # its end (epoch seconds; 0: unknown)
    access: str  # the token the drive accepts
    expires: float  # its end (epoch seconds; 0: unknown)
    refresh: str | None = None

    def dumps(self) -> str:
        """The JSON that is sealed."""
        return orjson.dumps(asdict(self)).decode()

    @classmethod
    def loads(cls, text: str) -> TokenState:
        """Back from the sealed JSON (CredentialUnreadable when it is not that)."""
        try:
            data = orjson.loads(text)
            return cls(
                subject=str(data["subject"]),
                subject_expires=float(data["subject_expires"]),
                access=str(data["access"]),
                expires=float(data["expires"]),
                refresh=data.get("refresh"),
            )
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
            raise errors.CredentialUnreadable() from exc


class TokenExchange:
    """RFC 8693 exchanges and RFC 6749 refreshes at the provider's token endpoint."""

    def __init__(
        self, http: aiohttp.ClientSession, oidc: OidcSettings, settings: ConnectorSettings
    ) -> None:
        self._http = http
        self._oidc = oidc
        self._settings = settings
        self._endpoint: tuple[str, bool] | None = None  # (url, client_secret_post)
        self._endpoint_at = 0.0
        self._lock = asyncio.Lock()

    @property
    def enabled(self) -> bool:
        """Whether connecting the Suite's drive through the exchange is offered."""
        return self._settings.token_exchange and self._oidc.enabled

    def fresh(self, state: TokenState, now: float | None = None) -> bool:
        """Whether the drive's token lasts beyond the renewal margin."""
        if not state.expires:
            return True  # the provider did not say: used until the drive refuses it
        return state.expires - self._settings.exchange_margin > (now or time.time())

    async def exchange(self, subject: str, subject_expires: float) -> TokenState:
        """The drive's token for the person's `subject` token."""
        form = {
            "grant_type": GRANT,
            "subject_token": subject,
            "subject_token_type": ACCESS_TOKEN,
            "requested_token_type": ACCESS_TOKEN,
        }
        for name in ("audience", "resource", "scope"):
            value = getattr(self._settings, f"exchange_{name}")
            if value:
                form[name] = value
        answer = await self._grant(form)
        return _state(answer, subject, subject_expires, None)

    async def renewed(self, state: TokenState) -> TokenState:
        """A fresh drive token: refreshed, else exchanged again, else `reconnect`."""
        refused: errors.DriveError | None = None
        if state.refresh:
            try:
                answer = await self._grant(
                    {"grant_type": "refresh_token", "refresh_token": state.refresh}
                )
                return _state(answer, state.subject, state.subject_expires, state.refresh)
            except errors.DriveError as exc:
                if exc.code != "drive_reconnect":
                    raise  # the provider is down: try again at the next sync
                refused = exc
        if state.subject_expires and state.subject_expires <= time.time():
            raise refused or errors.reconnect("session_ended")
        return await self.exchange(state.subject, state.subject_expires)

    async def _grant(self, form: dict[str, str]) -> dict[str, Any]:
        url, post = await self._token_endpoint()
        client_id = self._oidc.client_id
        secret = self._oidc.client_secret.get_secret_value()
        headers = {"Accept": "application/json"}
        if post:
            form = {**form, "client_id": client_id, "client_secret": secret}
        else:
            # RFC 6749 2.3.1: both parts form-urlencoded before Basic encoding.
            pair = f"{quote(client_id, safe='')}:{quote(secret, safe='')}".encode()
            headers["Authorization"] = "Basic " + base64.b64encode(pair).decode("ascii")
        try:
            async with self._http.post(
                url, data=form, headers=headers, timeout=self._timeout()
            ) as response:
                status, body = response.status, await response.read()
        except (aiohttp.ClientError, OSError, TimeoutError) as exc:
            raise errors.unreachable(f"identity provider: {type(exc).__name__}") from exc
        data = _json(body)
        if status == 200 and data is not None:
            return data
        if status >= 500 or data is None:
            raise errors.unreachable(f"identity provider: HTTP {status}")
        # RFC 6749 5.2 / RFC 8693 2.2.2: invalid_grant (the subject token is no longer
        # valid), invalid_target (audience refused), unauthorized_client...
        error = data.get("error")
        raise errors.reconnect(error[:64] if isinstance(error, str) else f"http_{status}")

    async def _token_endpoint(self) -> tuple[str, bool]:
        if self._settings.exchange_token_endpoint:
            return self._settings.exchange_token_endpoint, False
        async with self._lock:
            if self._endpoint is None or time.monotonic() - self._endpoint_at > _DISCOVERY_MAX_AGE:
                self._endpoint = await self._discover()
                self._endpoint_at = time.monotonic()
            return self._endpoint

    async def _discover(self) -> tuple[str, bool]:
        url = self._oidc.issuer.rstrip("/") + "/.well-known/openid-configuration"
        try:
            async with self._http.get(url, timeout=self._timeout()) as response:
                status, data = response.status, _json(await response.read())
        except (aiohttp.ClientError, OSError, TimeoutError) as exc:
            raise errors.unreachable(f"identity provider: {type(exc).__name__}") from exc
        endpoint = (data or {}).get("token_endpoint")
        if status != 200 or not isinstance(endpoint, str):
            raise errors.unreachable(f"identity provider discovery: HTTP {status}")
        methods = (data or {}).get("token_endpoint_auth_methods_supported")
        # RFC 8414: client_secret_basic is the default when the provider names none.
        if not isinstance(methods, list) or "client_secret_basic" in methods:
            return endpoint, False
        return endpoint, "client_secret_post" in methods

    def _timeout(self) -> aiohttp.ClientTimeout:
        return aiohttp.ClientTimeout(total=self._oidc.timeout)


class BearerSource:
    """The drive's `Authorization` for one connection, renewed when it is about to end.

    Every WebDAV request of a sync asks it, so a long sync renews the token midway; the
    renewed state is saved (sealed) through `save` so the next sync starts from it.
    """

    def __init__(
        self,
        exchange: TokenExchange,
        state: TokenState,
        save: Callable[[TokenState], Awaitable[None]] | None = None,
    ) -> None:
        self.state = state
        self._exchange = exchange
        self._save = save
        self._lock = asyncio.Lock()

    async def authorization(self) -> str:
        """`Bearer <token>`, renewing the token first when it is about to end."""
        async with self._lock:
            if not self._exchange.fresh(self.state):
                self.state = await self._exchange.renewed(self.state)
                if self._save is not None:
                    await self._save(self.state)
        return f"Bearer {self.state.access}"


def _state(
    answer: dict[str, Any], subject: str, subject_expires: float, refresh: str | None
) -> TokenState:
    token = answer.get("access_token")
    kind = str(answer.get("token_type", "")).lower()
    if not isinstance(token, str) or not token or kind != "bearer":
        # RFC 8693 allows `N_A` tokens that are not bearer tokens: a drive cannot use them.
        raise errors.reconnect("unusable_token")
    expires_in = answer.get("expires_in")
    expires = time.time() + float(expires_in) if isinstance(expires_in, (int, float)) else 0.0
    new_refresh = answer.get("refresh_token")
    state = TokenState(subject, subject_expires, token, expires, refresh)
    return replace(state, refresh=new_refresh) if isinstance(new_refresh, str) else state


def _json(body: bytes) -> dict[str, Any] | None:
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError:
        return None
    return data if isinstance(data, dict) else None
