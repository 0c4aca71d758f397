"""Real PGP keys and encrypted bank files, made with the ``gpg`` binary in a throwaway home.

``make_keys`` creates four key pairs in one fixture keyring: the bank's (signs files), ours
(decrypts, no passphrase), ours with a passphrase, and a stranger's. ``encrypt_file`` then plays
the bank: encrypt to one of our keys, optionally signed, optionally without integrity protection.
Every gpg call names the home explicitly and the agent is stopped afterwards, so nothing touches
``~/.gnupg`` and no process outlives the test.
"""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import pytest

from tests.support import components

GPG = None if components.hidden(components.GPG) else shutil.which("gpg")
GPGCONF = None if components.hidden(components.GPG) else shutil.which("gpgconf")
#: Why PGP tests skip when the machine lacks GnuPG.
MISSING_GPG = components.skip_message(
    components.GPG,
    components.HIDDEN
    if components.hidden(components.GPG)
    else "gpg and gpgconf are missing (Debian package gnupg)",
)
PASSPHRASE = "correct horse battery staple"

Who = Literal["bank", "ours", "ours_locked", "stranger"]


@dataclass(frozen=True)
class KeyPair:
    """One armored key pair and its primary-key fingerprint."""

    public: str
    private: str
    fingerprint: str


@dataclass(frozen=True)
class Keys:
    """The fixture keyring's home and the four key pairs in it."""

    home: Path
    bank: KeyPair
    ours: KeyPair
    #: Our key protected by PASSPHRASE.
    ours_locked: KeyPair
    stranger: KeyPair

    def pair(self, who: Who) -> KeyPair:
        """The key pair named ``who``."""
        pair: KeyPair = getattr(self, who)
        return pair


def gpg(home: Path, *args: str, passphrase: str = "") -> str:
    """Run gpg in ``home`` without any prompt; return its stdout, raising with stderr on failure."""
    assert GPG is not None, MISSING_GPG
    cmd = [GPG, "--homedir", str(home), "--batch", "--no-tty", "--quiet", "--yes",
           "--pinentry-mode", "loopback", "--passphrase", passphrase, *args]  # fmt: skip
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=60, check=False)
    if done.returncode != 0:
        raise AssertionError(f"gpg {' '.join(args)} failed: {done.stderr}")
    return done.stdout


def stop_agent(home: Path) -> None:
    """Stop the gpg-agent a keyring home started, if any."""
    if GPGCONF is not None:
        subprocess.run(
            [GPGCONF, "--homedir", str(home), "--kill", "all"],
            capture_output=True,
            timeout=30,
            check=False,
        )


def make_keys(tmp: Path) -> Keys:
    """Generate the bank's, our two and a stranger's ed25519/cv25519 key pairs under ``tmp``."""
    if GPG is None or GPGCONF is None:
        # Every PGP test gets its keys here: skip them all rather than fail in gpg().
        pytest.skip(MISSING_GPG)
    home = tmp / "gpg-fixture"
    home.mkdir(mode=0o700)
    # Skip the agent's seconds-long calibration of key protection: these keys are throwaway.
    (home / "gpg-agent.conf").write_text("s2k-count 65536\n")
    try:
        pairs = {
            "bank": _generate(home, "Bank <settlements@bank.example>", ""),
            "ours": _generate(home, "Bankfeeds <ops@bankfeeds.example>", ""),
            "ours_locked": _generate(home, "Bankfeeds locked <ops@bankfeeds.example>", PASSPHRASE),
            "stranger": _generate(home, "Mallory <mallory@attacker.example>", ""),
        }
    finally:
        stop_agent(home)
    return Keys(home=home, **pairs)


def _generate(home: Path, uid: str, passphrase: str) -> KeyPair:
    """One key pair: an ed25519 signing primary key with a cv25519 encryption subkey."""
    gpg(home, "--quick-gen-key", uid, "future-default", "default", "never", passphrase=passphrase)
    listing = gpg(home, "--with-colons", "--list-keys", f"={uid}")
    fingerprint = next(
        line.split(":")[9] for line in listing.splitlines() if line.startswith("fpr:")
    )
    return KeyPair(
        public=gpg(home, "--armor", "--export", fingerprint),
        private=gpg(home, "--armor", "--export-secret-keys", fingerprint, passphrase=passphrase),
        fingerprint=fingerprint,
    )


def encrypt_file(
    src: Path,
    dest: Path,
    keys: Keys,
    *,
    sign: bool = True,
    signer: Who = "bank",
    recipient: Who = "ours",
    mdc: bool = True,
    armor: bool = False,
) -> Path:
    """Encrypt ``src`` to ``recipient`` as the bank would; signed by ``signer`` when ``sign``."""
    args = ["--trust-model", "always", "--recipient", keys.pair(recipient).fingerprint]
    if sign:
        args += ["--local-user", keys.pair(signer).fingerprint, "--sign"]
    if not mdc:
        # The only way GnuPG 2.2 still writes a packet without integrity protection (it warns).
        args.append("--rfc2440")
    if armor:
        args.append("--armor")
    passphrase = PASSPHRASE if sign and signer == "ours_locked" else ""
    try:
        gpg(keys.home, *args, "--output", str(dest), "--encrypt", str(src), passphrase=passphrase)
    finally:
        stop_agent(keys.home)
    return dest
