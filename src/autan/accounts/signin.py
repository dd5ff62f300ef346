"""Signing in with a password: one implementation for the JSON API and the sign-in page."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from autan.accounts import login
from autan.accounts.errors import LocalLoginDisabled, LoginFailed
from autan.accounts.models import User
from autan.accounts.sessions import SessionCodec, SessionData
from autan.accounts.throttle import LoginThrottle


@dataclass(frozen=True, slots=True)
class SignedIn:
    """A new browser session: its user, the cookie value to set, and its data (CSRF token)."""

    user: User
    cookie: str
    data: SessionData


class PasswordSignIn:
    """Checks a password under the login throttle and opens a session."""

    def __init__(self, throttle: LoginThrottle, codec: SessionCodec, *, enabled: bool) -> None:
        self._throttle = throttle
        self._codec = codec
        self._enabled = enabled

    def ensure_enabled(self) -> None:
        """`LocalLoginDisabled` unless this deployment lets people sign in with a password."""
        if not self._enabled:
            raise LocalLoginDisabled()

    async def sign_in(
        self, session: AsyncSession, email: str, password: str, ip: str | None
    ) -> SignedIn:
        """A session for this email and password, or `LocalLoginDisabled` / `LoginFailed`."""
        self.ensure_enabled()
        await self._throttle.check(email, ip)
        try:
            user = await login.check_password(session, email, password, ip=ip)
        except LoginFailed:
            await self._throttle.failed(email, ip)
            raise
        await self._throttle.succeeded(email, ip)
        cookie, data = self._codec.issue(user.id, user.session_epoch)
        return SignedIn(user, cookie, data)
