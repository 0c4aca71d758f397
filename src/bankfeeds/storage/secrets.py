"""Encryption at rest for connector secrets (Fernet; several keys allow rotation)."""

from __future__ import annotations

import json

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

from bankfeeds.core.errors import ConfigError, SecretsError


def generate_key() -> str:
    """A fresh Fernet key, as text."""
    return Fernet.generate_key().decode("ascii")


class SecretBox:
    """Encrypts a dict of secrets with the newest key and decrypts with any configured key."""

    def __init__(self, keys: list[str]) -> None:
        if not keys:
            raise ConfigError(
                "BANKFEEDS_SECRET_KEY is not set: generate one with "
                "`bankfeeds secrets generate-key` and set it before starting."
            )
        try:
            self._fernet = MultiFernet([Fernet(k.encode("ascii")) for k in keys])
        except (ValueError, UnicodeEncodeError) as exc:
            raise ConfigError(
                "BANKFEEDS_SECRET_KEY is invalid: each key must be 32 url-safe base64 bytes."
            ) from exc

    def encrypt(self, secrets: dict[str, str]) -> str | None:
        """Encrypt ``secrets``; None when there is nothing to keep."""
        if not secrets:
            return None
        data = json.dumps(secrets, sort_keys=True).encode("utf-8")
        return self._fernet.encrypt(data).decode("ascii")

    def decrypt(self, token: str | None) -> dict[str, str]:
        """Decrypt a value written by :meth:`encrypt`."""
        if not token:
            return {}
        try:
            raw = self._fernet.decrypt(token.encode("ascii"))
        except InvalidToken as exc:
            raise SecretsError() from exc
        value = json.loads(raw)
        assert isinstance(value, dict)
        return {str(k): str(v) for k, v in value.items()}

    def rotate(self, token: str) -> str:
        """Re-encrypt ``token`` with the newest key."""
        try:
            return self._fernet.rotate(token.encode("ascii")).decode("ascii")
        except InvalidToken as exc:
            raise SecretsError() from exc
