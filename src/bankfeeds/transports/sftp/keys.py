"""Parsing of SSH private keys supplied by users (pure CPU; no connection is made)."""

from __future__ import annotations

import asyncssh


def private_key_problem(text: str, passphrase: str | None) -> tuple[str, str] | None:
    """Return ``(field, sentence)`` when the key cannot be used, else None."""
    try:
        asyncssh.import_private_key(text, passphrase)
    except asyncssh.KeyEncryptionError:
        if passphrase is None:
            return ("config.passphrase", "the private key is encrypted; a passphrase is required")
        return ("config.passphrase", "the passphrase does not decrypt the private key")
    except (asyncssh.KeyImportError, ValueError, TypeError) as exc:
        if passphrase is None and "passphrase" in str(exc).lower():
            return ("config.passphrase", "the private key is encrypted; a passphrase is required")
        return (
            "config.privateKey",
            "is not a readable private key (expected OpenSSH or PEM RSA, ECDSA or Ed25519)",
        )
    return None
