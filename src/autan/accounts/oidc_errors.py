"""Errors of sign-in through an OpenID Connect provider (ProConnect or another).

Each error has a fixed message for the user and a `reason` with the technical detail for the
logs: what the provider sent back can be written by anyone who crafts a callback URL, so it
never goes into a message shown to a user.
"""

from __future__ import annotations

from autan.core.errors import AutanError, ErrorKind, InvalidRequest, Unauthenticated


class OidcError(AutanError):
    """Base class of the OIDC sign-in errors, so a caller can catch them all at once."""

    def __init__(self, message: str, *, reason: str) -> None:
        super().__init__(message)
        self.reason = reason


class OidcStateMismatch(OidcError, InvalidRequest):
    """The callback does not belong to the sign-in this browser started (CSRF, old tab)."""

    code = "oidc_state_mismatch"

    def __init__(self, reason: str = "the state parameter does not match") -> None:
        super().__init__(
            "This sign-in link has expired or was opened in another browser. Please sign in again.",
            reason=reason,
        )


class OidcProviderError(OidcError, Unauthenticated):
    """The provider refused the sign-in, or refused to exchange the authorisation code."""

    code = "oidc_provider_error"

    def __init__(self, error: str, description: str | None = None) -> None:
        # OAuth error codes are ASCII words; anything longer is noise or an attack on the logs.
        self.error = error[:64]
        self.description = description[:300] if description else None
        if self.error == "access_denied":
            message = "The sign-in was cancelled or refused by your identity provider."
        else:
            message = "Your identity provider could not sign you in. Please try again."
        reason = self.error if not self.description else f"{self.error}: {self.description}"
        super().__init__(message, reason=reason)


class OidcInvalidToken(OidcError, Unauthenticated):
    """An answer of the provider failed verification (signature, issuer, audience, nonce…)."""

    code = "oidc_invalid_token"

    def __init__(self, reason: str) -> None:
        super().__init__(
            "The answer of your identity provider could not be verified. Please sign in again.",
            reason=reason,
        )


class OidcUnavailable(OidcError):
    """The provider cannot be reached, or its discovery document or keys are unusable."""

    kind = ErrorKind.UNAVAILABLE
    code = "oidc_unavailable"

    def __init__(self, reason: str) -> None:
        super().__init__(
            "Your identity provider cannot be reached at the moment. Please try again shortly.",
            reason=reason,
        )


class OidcMissingEmail(OidcError, Unauthenticated):
    """The provider did not give a (verified) email address, which accounts are keyed on."""

    code = "oidc_missing_email"

    def __init__(self, reason: str = "no email claim") -> None:
        super().__init__(
            "Your identity provider did not share a verified email address, "
            "which is needed to sign you in.",
            reason=reason,
        )
