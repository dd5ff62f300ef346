"""Drive passwords encrypted at rest with Fernet, under a key derived from the secret key.

The key is derived (HKDF-SHA256, its own `info`) rather than the secret key used as is, so
that the session signatures and these ciphertexts never share a key. Changing
`AUTAN_SECRET_KEY` makes stored passwords unreadable: their drives must be connected again.
"""

from __future__ import annotations

import base64

from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from autan.connectors.errors import CredentialUnreadable

_INFO = b"autan drive credentials v1"


class CredentialBox:
    """Encrypts and decrypts drive passwords."""

    def __init__(self, secret_key: str) -> None:
        derived = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=_INFO).derive(
            secret_key.encode()
        )
        self._fernet = Fernet(base64.urlsafe_b64encode(derived))

    def seal(self, password: str) -> str:
        """The stored form of a password."""
        return self._fernet.encrypt(password.encode()).decode("ascii")

    def open(self, sealed: str) -> str:
        """The password back, or CredentialUnreadable (the secret key changed)."""
        try:
            return self._fernet.decrypt(sealed.encode("ascii")).decode()
        except InvalidToken as exc:
            raise CredentialUnreadable() from exc
