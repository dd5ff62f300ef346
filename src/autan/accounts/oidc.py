"""OpenID Connect relying party, shaped for ProConnect and working with any plain OIDC provider.

The flow is the authorisation code flow with PKCE (S256), a `state` against CSRF and a
`nonce` against ID token replay. `OidcClient.begin` gives the URL to send the browser to and
the values the caller keeps in the user's signed session; `OidcClient.finish` checks the
callback, exchanges the code, verifies the ID token and returns an `OidcIdentity`.

Authlib does the protocol pieces (authorisation URL, client authentication, ID token claim
rules) and joserfc, which Authlib now builds on, verifies signatures. The HTTP calls are ours,
on the application's `httpx.AsyncClient`: Authlib's httpx integration would open a client of
its own per login and now targets the `httpx2` fork.
"""

from __future__ import annotations

import asyncio
import hmac
import time
from collections.abc import Awaitable, Mapping
from dataclasses import asdict, dataclass, replace
from typing import Any, Protocol, TypeVar

import httpx
import structlog
from authlib.common.security import generate_token  # type: ignore[import-untyped]
from authlib.common.urls import add_params_to_uri  # type: ignore[import-untyped]
from authlib.oauth2.auth import ClientAuth  # type: ignore[import-untyped]
from authlib.oauth2.rfc6749.parameters import (  # type: ignore[import-untyped]
    prepare_grant_uri,
    prepare_token_request,
)
from authlib.oauth2.rfc7636 import create_s256_code_challenge  # type: ignore[import-untyped]
from authlib.oidc.core import CodeIDToken  # type: ignore[import-untyped]
from joserfc import jwt
from joserfc.errors import InvalidKeyIdError, JoseError
from joserfc.jwk import KeySet
from joserfc.jws import JWSRegistry, extract_compact

from autan.accounts.oidc_errors import (
    OidcError,
    OidcInvalidToken,
    OidcMissingEmail,
    OidcProviderError,
    OidcStateMismatch,
    OidcUnavailable,
)
from autan.accounts.oidc_settings import OidcSettings

log = structlog.get_logger(__name__)

_T = TypeVar("_T")

# Seconds of clock difference tolerated between the provider and us on exp, iat and nbf.
CLOCK_LEEWAY = 60
# Discovery and keys are re-read after this many seconds, so a key the provider withdrew
# stops being trusted; an unknown `kid` triggers a re-read at once.
CACHE_MAX_AGE = 3600.0
# Only asymmetric signatures: an HMAC "signature" would be keyed with our own client secret.
_ASYMMETRIC = ("RS", "PS", "ES", "Ed")


class ExpectedLogin(Protocol):
    """What `finish` compares the callback with: the values `begin` returned."""

    @property
    def state(self) -> str: ...
    @property
    def nonce(self) -> str: ...
    @property
    def code_verifier(self) -> str: ...


@dataclass(frozen=True, slots=True)
class PendingLogin:
    """The secrets of one sign-in, kept in the user's signed session between begin and finish."""

    state: str
    nonce: str
    code_verifier: str

    def as_session(self) -> dict[str, str]:
        """The values to store in the session."""
        return {"state": self.state, "nonce": self.nonce, "code_verifier": self.code_verifier}

    @classmethod
    def from_session(cls, data: Mapping[str, object] | None) -> PendingLogin:
        """Read back what `as_session` stored; a session without it cannot match any callback."""
        values = {key: (data or {}).get(key) for key in ("state", "nonce", "code_verifier")}
        if not all(isinstance(value, str) and value for value in values.values()):
            raise OidcStateMismatch("no sign-in in progress in this session")
        return cls(**{key: str(value) for key, value in values.items()})


@dataclass(frozen=True, slots=True)
class AuthRequest:
    """Where to send the browser, and what to remember until it comes back."""

    url: str
    state: str
    nonce: str
    code_verifier: str

    @property
    def pending(self) -> PendingLogin:
        """The part to keep in the session (everything but the URL)."""
        return PendingLogin(self.state, self.nonce, self.code_verifier)


@dataclass(frozen=True, slots=True)
class OidcIdentity:
    """Who signed in, as the provider vouches for it."""

    issuer: str
    subject: str
    email: str
    given_name: str | None
    family_name: str | None
    organisation_id: str | None
    id_token: str
    claims: dict[str, Any]
    # The provider's access token, passed on to the Suite's services (Docs) as the person.
    access_token: str | None = None
    access_expires_in: float | None = None

    def as_dict(self) -> dict[str, Any]:
        """A plain dict (for logs and tests), without the raw tokens."""
        data = asdict(self)
        del data["id_token"], data["access_token"]
        return data


@dataclass(frozen=True, slots=True)
class _Metadata:
    """The parts of the discovery document we use."""

    issuer: str
    authorization_endpoint: str
    token_endpoint: str
    jwks_uri: str
    userinfo_endpoint: str | None
    end_session_endpoint: str | None
    token_auth_method: str
    id_token_algorithms: list[str]
    userinfo_algorithms: list[str]


class OidcClient:
    """Relying party for one provider; one instance per process, safe to share between requests."""

    def __init__(self, settings: OidcSettings, http: httpx.AsyncClient) -> None:
        self.settings = settings
        self._http = http
        self._metadata: _Metadata | None = None
        self._metadata_at = 0.0
        self._keys: KeySet | None = None
        self._keys_at = 0.0
        # One discovery or JWKS fetch at a time: a burst of logins after a restart asks once.
        self._lock = asyncio.Lock()

    async def begin(self, redirect_uri: str) -> AuthRequest:
        """Prepare a sign-in: the provider URL to redirect to, and the secrets to keep."""
        metadata = await self._logged(self._discover())
        state, nonce, verifier = generate_token(32), generate_token(32), generate_token(64)
        url: str = prepare_grant_uri(
            metadata.authorization_endpoint,
            client_id=self.settings.client_id,
            response_type="code",
            redirect_uri=redirect_uri,
            scope=" ".join(self.settings.scopes),
            state=state,
            nonce=nonce,
            code_challenge=create_s256_code_challenge(verifier),
            code_challenge_method="S256",
            acr_values=self.settings.acr_values or None,
        )
        return AuthRequest(url=url, state=state, nonce=nonce, code_verifier=verifier)

    async def finish(
        self, redirect_uri: str, params: Mapping[str, str], expected: ExpectedLogin
    ) -> OidcIdentity:
        """Check the provider's callback `params` and return the signed-in identity."""
        return await self._logged(self._finish(redirect_uri, params, expected))

    async def logout_url(
        self, id_token_hint: str, post_logout_redirect_uri: str, state: str
    ) -> str | None:
        """The provider's RP-initiated logout URL, or None if it offers none."""
        metadata = await self._logged(self._discover())
        if metadata.end_session_endpoint is None:
            return None
        params = [
            ("id_token_hint", id_token_hint),
            ("post_logout_redirect_uri", post_logout_redirect_uri),
            ("state", state),
        ]
        url: str = add_params_to_uri(metadata.end_session_endpoint, params)
        return url

    # The callback

    async def _finish(
        self, redirect_uri: str, params: Mapping[str, str], expected: ExpectedLogin
    ) -> OidcIdentity:
        if "error" in params:
            # RFC 6749 wants the state echoed in an error too, but some providers drop it
            # (oidc-provider-mock does on "deny"). An error grants nothing, so a missing state
            # is tolerated; a wrong one still means the callback is not ours.
            if "state" in params:
                _check_state(params["state"], expected.state)
            raise OidcProviderError(params["error"], params.get("error_description"))
        _check_state(params.get("state"), expected.state)
        metadata = await self._discover()
        # RFC 9207: when the provider names itself in the callback, it must be the one we asked.
        if "iss" in params and params["iss"] != metadata.issuer:
            raise OidcInvalidToken(f"callback from issuer {params['iss']!r}")
        code = params.get("code")
        if not code:
            raise OidcProviderError("invalid_request", "the callback has no code")

        tokens = await self._exchange(metadata, code, redirect_uri, expected.code_verifier)
        id_token, access_token = tokens["id_token"], tokens.get("access_token")
        claims = await self._verify_id_token(metadata, id_token, expected.nonce, access_token)
        mapped = (
            self.settings.email_claim,
            self.settings.given_name_claim,
            self.settings.family_name_claim,
            self.settings.organisation_claim,
        )
        # ProConnect puts no user claim in the ID token: they all come from userinfo. Other
        # providers may keep some there (an organisation claim), so any missing one asks too.
        if any(name not in claims for name in mapped) and metadata.userinfo_endpoint:
            if not isinstance(access_token, str):
                raise OidcInvalidToken("the token response has no access token for userinfo")
            userinfo = await self._userinfo(metadata, access_token, claims["sub"])
            # The verified ID token has the last word on what both carry (iss, aud, sub…).
            claims = {**userinfo, **claims}
        identity = self._identity(metadata.issuer, id_token, claims)
        expires = tokens.get("expires_in")
        return replace(
            identity,
            access_token=access_token if isinstance(access_token, str) else None,
            access_expires_in=float(expires) if isinstance(expires, (int, float)) else None,
        )

    async def _exchange(
        self, metadata: _Metadata, code: str, redirect_uri: str, code_verifier: str
    ) -> dict[str, Any]:
        body = prepare_token_request(
            "authorization_code", code=code, redirect_uri=redirect_uri, code_verifier=code_verifier
        )
        headers = {
            "Content-Type": "application/x-www-form-urlencoded",
            "Accept": "application/json",
        }
        auth = ClientAuth(
            self.settings.client_id,
            self.settings.client_secret.get_secret_value(),
            metadata.token_auth_method,
        )
        url, headers, body = auth.prepare("POST", metadata.token_endpoint, headers, body)
        response = await self._request("POST", url, headers=headers, content=body)
        if response.status_code >= 500:
            raise OidcUnavailable(f"token endpoint answered {response.status_code}")
        data = _json_object(response)
        if response.status_code != 200:
            error = data.get("error") if data else None
            raise OidcProviderError(
                error if isinstance(error, str) else f"http_{response.status_code}",
                _str_or_none((data or {}).get("error_description")),
            )
        if data is None or not isinstance(data.get("id_token"), str):
            raise OidcInvalidToken("the token response has no id_token")
        return data

    async def _verify_id_token(
        self, metadata: _Metadata, id_token: str, nonce: str, access_token: object
    ) -> dict[str, Any]:
        token = await self._decode_jws(id_token, metadata.id_token_algorithms, "ID token")
        options: dict[str, dict[str, Any]] = {
            "iss": {"essential": True, "value": metadata.issuer},
            "aud": {"essential": True, "value": self.settings.client_id},
            "sub": {"essential": True},
        }
        if self.settings.acr_values:
            # Checked only when present: providers that ignore acr_values do not send one.
            options["acr"] = {"values": self.settings.acr_values.split()}
        params = {"nonce": nonce, "client_id": self.settings.client_id}
        if isinstance(access_token, str):
            params["access_token"] = access_token  # checks at_hash when the token has one
        claims = CodeIDToken(token.claims, token.header, options, params)
        try:
            claims.validate(leeway=CLOCK_LEEWAY)
        except JoseError as error:
            raise OidcInvalidToken(f"ID token: {error}") from error
        return dict(token.claims)

    async def _userinfo(
        self, metadata: _Metadata, access_token: str, subject: str
    ) -> dict[str, Any]:
        assert metadata.userinfo_endpoint is not None
        headers = {"Authorization": f"Bearer {access_token}", "Accept": "application/json"}
        response = await self._request("GET", metadata.userinfo_endpoint, headers=headers)
        if response.status_code >= 500:
            raise OidcUnavailable(f"userinfo endpoint answered {response.status_code}")
        if response.status_code != 200:
            raise OidcProviderError(f"http_{response.status_code}", "userinfo refused the token")
        media_type = response.headers.get("content-type", "").split(";")[0].strip().lower()
        if media_type == "application/jwt":
            claims = await self._verify_signed_userinfo(metadata, response.text.strip())
        else:
            data = _json_object(response)
            if data is None:
                raise OidcInvalidToken(f"userinfo is neither JSON nor a JWT ({media_type!r})")
            claims = data
        # OIDC Core 5.3.4: userinfo about someone else must not be mixed into this identity.
        if claims.get("sub") != subject:
            raise OidcInvalidToken("userinfo is about another subject than the ID token")
        return claims

    async def _verify_signed_userinfo(self, metadata: _Metadata, value: str) -> dict[str, Any]:
        token = await self._decode_jws(value, metadata.userinfo_algorithms, "userinfo")
        # OIDC Core 5.3.2: a signed answer should carry iss and aud; when it does, they must fit.
        options: dict[str, Any] = {
            "iss": {"value": metadata.issuer},
            "aud": {"value": self.settings.client_id},
        }
        try:
            jwt.JWTClaimsRegistry(leeway=CLOCK_LEEWAY, **options).validate(token.claims)
        except JoseError as error:
            raise OidcInvalidToken(f"userinfo: {error}") from error
        return dict(token.claims)

    async def _decode_jws(self, value: str, algorithms: list[str], what: str) -> jwt.Token:
        """Verify a compact JWS against the provider's keys, re-reading them once on a new kid."""
        registry = JWSRegistry(algorithms=algorithms, strict_check_header=False)
        for refresh in (False, True):
            keys = await self._key_set(refresh=refresh)
            try:
                return _verify_jws(value, keys, registry)
            except InvalidKeyIdError as error:
                if refresh:
                    raise OidcInvalidToken(f"{what}: {error}") from error
            except (JoseError, ValueError) as error:
                # ValueError: joserfc's answer to a malformed token or an unusable key.
                raise OidcInvalidToken(f"{what}: {error}") from error
        raise AssertionError("unreachable")

    def _identity(self, issuer: str, id_token: str, claims: dict[str, Any]) -> OidcIdentity:
        settings = self.settings
        email = claims.get(settings.email_claim)
        if not isinstance(email, str) or "@" not in email:
            raise OidcMissingEmail(f"claim {settings.email_claim!r} is {email!r}")
        # ProConnect's addresses are verified and it sends no email_verified; a provider that
        # says "not verified" would let anyone claim someone else's address.
        if claims.get("email_verified") is False:
            raise OidcMissingEmail("the provider says the email is not verified")
        family_name = _str_or_none(claims.get(settings.family_name_claim))
        organisation = claims.get(settings.organisation_claim)
        if isinstance(organisation, int) and not isinstance(organisation, bool):
            organisation = str(organisation)  # a SIRET sent as a JSON number
        return OidcIdentity(
            issuer=issuer,
            subject=str(claims["sub"]),
            email=email.strip().lower(),
            given_name=_str_or_none(claims.get(settings.given_name_claim)),
            family_name=family_name or _str_or_none(claims.get("family_name")),
            organisation_id=_str_or_none(organisation),
            id_token=id_token,
            claims=claims,
        )

    # Discovery, keys and HTTP

    async def _discover(self) -> _Metadata:
        if self._metadata is not None and time.monotonic() - self._metadata_at < CACHE_MAX_AGE:
            return self._metadata
        async with self._lock:
            if self._metadata is None or time.monotonic() - self._metadata_at >= CACHE_MAX_AGE:
                self._metadata = await self._fetch_metadata()
                self._metadata_at = time.monotonic()
            return self._metadata

    async def _fetch_metadata(self) -> _Metadata:
        issuer = self.settings.issuer.rstrip("/")
        url = f"{issuer}/.well-known/openid-configuration"
        response = await self._request("GET", url)
        data = _json_object(response) if response.status_code == 200 else None
        if data is None:
            raise OidcUnavailable(f"discovery at {url} answered {response.status_code}")
        # OIDC Discovery 4.3: the document must name the issuer we asked for (mix-up defence).
        if str(data.get("issuer", "")).rstrip("/") != issuer:
            raise OidcUnavailable(f"discovery names issuer {data.get('issuer')!r}, not {issuer!r}")
        required = ("authorization_endpoint", "token_endpoint", "jwks_uri")
        if not all(isinstance(data.get(name), str) for name in required):
            raise OidcUnavailable(f"discovery at {url} lacks one of {', '.join(required)}")
        id_token_algorithms = _signing_algorithms(data.get("id_token_signing_alg_values_supported"))
        userinfo_algorithms = _signing_algorithms(
            data.get("userinfo_signing_alg_values_supported") or id_token_algorithms
        )
        return _Metadata(
            issuer=str(data["issuer"]),
            authorization_endpoint=data["authorization_endpoint"],
            token_endpoint=data["token_endpoint"],
            jwks_uri=data["jwks_uri"],
            userinfo_endpoint=_str_or_none(data.get("userinfo_endpoint")),
            end_session_endpoint=_str_or_none(data.get("end_session_endpoint")),
            token_auth_method=_token_auth_method(data.get("token_endpoint_auth_methods_supported")),
            id_token_algorithms=id_token_algorithms,
            userinfo_algorithms=userinfo_algorithms,
        )

    async def _key_set(self, *, refresh: bool) -> KeySet:
        seen = self._keys
        if not refresh and seen is not None and time.monotonic() - self._keys_at < CACHE_MAX_AGE:
            return seen
        async with self._lock:
            # Another task may have re-read the keys while this one waited for the lock.
            if self._keys is None or self._keys is seen:
                self._keys = await self._fetch_keys()
                self._keys_at = time.monotonic()
            return self._keys

    async def _fetch_keys(self) -> KeySet:
        metadata = self._metadata
        assert metadata is not None, "keys are read after discovery"
        response = await self._request("GET", metadata.jwks_uri)
        data = _json_object(response) if response.status_code == 200 else None
        if data is None or not isinstance(data.get("keys"), list):
            raise OidcUnavailable(f"JWKS at {metadata.jwks_uri} answered {response.status_code}")
        try:
            return KeySet.import_key_set({"keys": data["keys"]})
        except (JoseError, ValueError) as error:
            raise OidcUnavailable(f"JWKS at {metadata.jwks_uri} is unusable: {error}") from error

    async def _request(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        try:
            return await self._http.request(method, url, timeout=self.settings.timeout, **kwargs)
        except httpx.HTTPError as error:
            raise OidcUnavailable(f"{method} {url}: {error!r}") from error

    @staticmethod
    async def _logged(call: Awaitable[_T]) -> _T:
        """Await `call`, logging why a sign-in failed: the user only sees a generic message."""
        try:
            return await call
        except OidcError as error:
            log.warning("oidc_failed", code=error.code, reason=error.reason)
            raise


def _verify_jws(value: str, keys: KeySet, registry: JWSRegistry) -> jwt.Token:
    """Decode a compact JWS signed by one of `keys`; InvalidKeyIdError if none of them signed it."""
    if extract_compact(value.encode()).headers().get("kid") is not None:
        return jwt.decode(value, keys, registry=registry)
    # RFC 7515 lets a token name no key (oidc-provider-mock's name none): the signer is the
    # published key whose signature verifies.
    for key in keys:
        try:
            return jwt.decode(value, key, registry=registry)
        except (JoseError, ValueError):
            continue
    raise InvalidKeyIdError("no published key verifies the token, which names none")


def _check_state(received: str | None, expected: str) -> None:
    if not received or not expected:
        raise OidcStateMismatch("the callback or the session has no state")
    if not hmac.compare_digest(received.encode(), expected.encode()):
        raise OidcStateMismatch()


def _json_object(response: httpx.Response) -> dict[str, Any] | None:
    try:
        data = response.json()
    except ValueError:
        return None
    return data if isinstance(data, dict) else None


def _str_or_none(value: object) -> str | None:
    return value if isinstance(value, str) and value else None


def _signing_algorithms(value: object) -> list[str]:
    offered = value if isinstance(value, list) else ["RS256"]
    usable = [alg for alg in offered if isinstance(alg, str) and alg.startswith(_ASYMMETRIC)]
    return usable or ["RS256"]


def _token_auth_method(value: object) -> str:
    # Without the field, OIDC Discovery says client_secret_basic is what the provider takes.
    offered = value if isinstance(value, list) else ["client_secret_basic"]
    for method in ("client_secret_basic", "client_secret_post"):
        if method in offered:
            return method
    raise OidcUnavailable(f"the provider accepts no client secret method we use ({offered})")
