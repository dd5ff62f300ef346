"""Errors of accounts and API keys."""

from __future__ import annotations

from autan.core.errors import Conflict, Forbidden, InvalidRequest, NotFound, Unauthenticated


class InvalidApiKey(Unauthenticated):
    code = "invalid_api_key"

    def __init__(self) -> None:
        super().__init__("Incorrect API key provided. You can create a key in your Autan settings.")


class MissingApiKey(Unauthenticated):
    code = "missing_api_key"

    def __init__(self) -> None:
        super().__init__(
            "You didn't provide an API key. Send it in the header `Authorization: Bearer KEY`."
        )


class UserNotFound(NotFound):
    code = "user_not_found"

    def __init__(self, email: str) -> None:
        super().__init__("No user with the email {email}.", values={"email": email})


class UserExists(Conflict):
    code = "user_exists"

    def __init__(self, email: str) -> None:
        super().__init__("A user with the email {email} already exists.", values={"email": email})


class InvalidEmail(InvalidRequest):
    code = "invalid_email"

    def __init__(self, email: str) -> None:
        super().__init__(
            "“{email}” is not a valid email address.", param="email", values={"email": email}
        )


class SessionExpired(Unauthenticated):
    code = "session_expired"

    def __init__(self) -> None:
        super().__init__("Your session has ended. Please sign in again.")


class CsrfFailed(Forbidden):
    code = "csrf_failed"

    def __init__(self) -> None:
        super().__init__(
            "This form has expired or did not come from Autan. Reload the page and try again."
        )


class LoginFailed(Unauthenticated):
    code = "login_failed"

    def __init__(self) -> None:
        super().__init__("Wrong email or password.")


class NotSignedIn(Unauthenticated):
    code = "not_signed_in"

    def __init__(self) -> None:
        super().__init__("You are not signed in. Sign in, or send an API key.")


class PendingSignInMissing(Unauthenticated):
    code = "pending_sign_in_missing"

    def __init__(self) -> None:
        super().__init__("Your sign-in has expired. Please sign in again with your organisation.")


class LocalLoginDisabled(Forbidden):
    code = "local_login_disabled"

    def __init__(self) -> None:
        super().__init__("Sign-in with a password is disabled here. Use your organisation's login.")
