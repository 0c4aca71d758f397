"""Decrypt PGP bank files with GnuPG in a throwaway keyring, verifying the bank's signature.

Each call gets its own GnuPG home under ``workdir`` (mode 0700), imports the connector's private
key and the bank's public key there, lets ``gpg`` stream the plaintext to a temporary file next to
``dest`` and reads gpg's machine-readable status lines to decide. The plaintext only becomes
``dest`` when decryption succeeded, the message carried a good integrity check (MDC) and, when a
bank key is configured, a good signature by exactly that key; otherwise no plaintext is kept.
The home and any gpg-agent it started are removed afterwards, whatever happened. gpg always runs
with ``--batch`` and loopback pinentry, so it never prompts and never uses ``~/.gnupg``.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Final

import gnupg  # type: ignore[import-untyped]

from bankfeeds.core.errors import PgpFailed

_SUFFIXES: Final = (".pgp", ".gpg", ".asc")
_CHUNK: Final = 1 << 20
# 107 bytes of socket path, minus "/gpg-XXXXXXXX" and the longest socket, "/S.gpg-agent.browser".
_MAX_HOME_PARENT: Final = 107 - 13 - 20
# Never prompt, never reach the network for keys, never guess a key from a keyserver.
_OPTIONS: Final = [
    "--pinentry-mode", "loopback", "--no-auto-key-retrieve", "--no-auto-key-locate",
    "--no-symkey-cache", "--no-greeting", "--no-permission-warning",
]  # fmt: skip
# libgpg-error codes: GPG_ERR_BAD_PASSPHRASE; GPG_ERR_NO_PASSPHRASE, _CANCELED, _NO_PIN.
_BAD_PASSPHRASE: Final = 11
_NO_PASSPHRASE: Final = frozenset({58, 99, 177})
_SIGNATURE_PROBLEMS: Final = {
    "EXPSIG": "its signature has expired",
    "EXPKEYSIG": "it is signed with a key that has expired",
    "REVKEYSIG": "it is signed with a key that has been revoked",
}


@dataclass(frozen=True)
class Plaintext:
    """A decrypted file: where it is, its size and SHA-256, and who signed it (if anyone)."""

    path: Path
    size: int
    sha256: str
    signer_fingerprint: str | None


def is_pgp(name: str) -> bool:
    """Whether a file name says it is PGP-encrypted (``.pgp``, ``.gpg`` or ``.asc``)."""
    return name.lower().endswith(_SUFFIXES) and len(name) > 4


def plaintext_name(name: str) -> str:
    """The file name with its PGP suffix removed (``X.csv.pgp`` -> ``X.csv``)."""
    return name[:-4] if is_pgp(name) else name


def decrypt(
    src: Path,
    dest: Path,
    *,
    private_key: str,
    passphrase: str | None,
    signer_public_key: str | None,
    workdir: Path,
) -> Plaintext:
    """Decrypt ``src`` to ``dest`` with a temporary keyring; raise PgpFailed and keep nothing."""
    # An empty passphrase means "none": python-gnupg would otherwise read one from the data.
    passphrase = passphrase or None
    home = _make_home(workdir)
    # Plaintext goes to a hidden name first and becomes ``dest`` only once everything checks out.
    partial = dest.with_name(f".{dest.name}.{home.name}.partial")
    try:
        gpg = _gpg(home)
        ours = _import_private(gpg, private_key, passphrase)
        bank = _import_signer(gpg, signer_public_key) if signer_public_key else None
        try:
            result = gpg.decrypt_file(
                str(src), passphrase=passphrase, output=str(partial), always_trust=True
            )
        except (OSError, ValueError) as exc:
            raise PgpFailed(f"the file could not be decrypted: {exc}.") from exc
        status = _status(result.stderr)
        _check_decryption(status, result.stderr, ours, has_passphrase=passphrase is not None)
        signer = _check_signature(status, bank)
        size, sha256 = _digest(partial)
        os.replace(partial, dest)
        return Plaintext(dest, size, sha256, signer)
    except BaseException:
        partial.unlink(missing_ok=True)
        dest.unlink(missing_ok=True)
        raise
    finally:
        _stop_agent(home)
        shutil.rmtree(home, ignore_errors=True)


def _make_home(workdir: Path) -> Path:
    """A fresh, private (0700) GnuPG home under ``workdir``, or the temp dir if that is too deep."""
    # gpg-agent's sockets live in the home and a Unix socket path must fit in 108 bytes;
    # with a longer path the agent cannot start and every secret-key operation fails.
    parent = workdir.resolve()
    deep = len(str(parent)) > _MAX_HOME_PARENT
    home = Path(tempfile.mkdtemp(prefix="gpg-", dir=None if deep else parent))
    # A fresh agent would first spend seconds calibrating how hard to protect keys it stores;
    # this keyring lives for one call in a private folder, so the minimum count is enough.
    (home / "gpg-agent.conf").write_text("s2k-count 65536\n")
    return home


def _gpg(home: Path) -> gnupg.GPG:
    """A python-gnupg handle bound to ``home`` and nothing else."""
    binary = shutil.which("gpg")
    if binary is None:
        raise PgpFailed("PGP files need GnuPG's gpg program, which is not installed here.")
    env = {**os.environ, "GNUPGHOME": str(home)}
    try:
        return gnupg.GPG(gpgbinary=binary, gnupghome=str(home), options=_OPTIONS, env=env)
    except (OSError, ValueError) as exc:
        raise PgpFailed(f"GnuPG could not be started: {exc}.") from exc


def _import_private(gpg: gnupg.GPG, armored: str, passphrase: str | None) -> list[str]:
    """Import the connector's secret key; return the fingerprints imported."""
    result = gpg.import_keys(armored, passphrase=passphrase)
    if not int(result.sec_read) or not result.fingerprints:
        raise PgpFailed(
            "the connector's PGP private key could not be read; paste the whole armored "
            "'PGP PRIVATE KEY BLOCK'."
        )
    return [str(f) for f in result.fingerprints]


def _import_signer(gpg: gnupg.GPG, armored: str) -> list[str]:
    """Import the bank's public key; return its fingerprints."""
    result = gpg.import_keys(armored)
    if not result.fingerprints:
        raise PgpFailed(
            "the bank's PGP public key (pgpPublicKey) could not be read; paste the whole "
            "armored 'PGP PUBLIC KEY BLOCK'."
        )
    return [str(f) for f in result.fingerprints]


def _status(stderr: str) -> dict[str, list[list[str]]]:
    """gpg's ``[GNUPG:]`` status lines, by keyword, each as its list of arguments."""
    out: dict[str, list[list[str]]] = {}
    for line in stderr.splitlines():
        if line.startswith("[GNUPG:] "):
            keyword, *args = line[9:].split()
            out.setdefault(keyword, []).append(args)
    return out


def _gpg_error(args: list[str]) -> int:
    """The libgpg-error code (without its source bits) of an ``ERROR <where> <code>`` line."""
    try:
        return int(args[1]) & 0xFFFF
    except (IndexError, ValueError):
        return 0


def _gpg_says(stderr: str) -> str:
    """gpg's last human-readable complaint, for the one case no status line explains."""
    lines = [ln[5:].strip() for ln in stderr.splitlines() if ln.startswith("gpg: ")]
    return lines[-1] if lines else "no reason given"


def _check_decryption(
    status: dict[str, list[list[str]]], stderr: str, ours: list[str], *, has_passphrase: bool
) -> None:
    """Raise PgpFailed unless gpg decrypted with our key and the MDC was present and good."""
    failures = {
        _gpg_error(args) for args in status.get("ERROR", []) if args[0] == "pkdecrypt_failed"
    }
    locked = (
        "BAD_PASSPHRASE" in status
        or "MISSING_PASSPHRASE" in status
        or ("NEED_PASSPHRASE" in status and "DECRYPTION_KEY" not in status)
        or bool(failures & {_BAD_PASSPHRASE, *_NO_PASSPHRASE})
    )
    if locked and has_passphrase:
        raise PgpFailed("the PGP passphrase configured for the connector's private key is wrong.")
    if locked:
        raise PgpFailed(
            "the connector's PGP private key is protected by a passphrase, and none is configured."
        )
    used = {args[0] for args in status.get("DECRYPTION_KEY", [])}
    if "NO_SECKEY" in status and not used:
        wanted = ", ".join(args[0] for args in status["NO_SECKEY"])
        raise PgpFailed(
            f"the file is encrypted to key {wanted}, not to the connector's PGP key "
            f"{_short(ours[0])}; ask the bank to encrypt to our key."
        )
    if "BADMDC" in status:
        raise PgpFailed("the file was altered after it was encrypted: its integrity check failed.")
    mdc = [args[0] for args in status.get("DECRYPTION_INFO", [])]
    if "0" in mdc or ("DECRYPTION_OKAY" in status and "GOODMDC" not in status):
        raise PgpFailed(
            "the file was encrypted without integrity protection (no MDC), so it cannot be "
            "trusted; ask the bank to use a current PGP tool."
        )
    if "BEGIN_DECRYPTION" not in status:
        raise PgpFailed("the file is not PGP-encrypted data.")
    if "DECRYPTION_OKAY" not in status or "DECRYPTION_FAILED" in status:
        raise PgpFailed(
            f"the file could not be decrypted; it is damaged or was altered ({_gpg_says(stderr)})."
        )
    if not used:
        # A passphrase-only (symmetric) message decrypts without any key: not from the bank.
        raise PgpFailed("the file is not encrypted to the connector's PGP key.")
    if "GOODMDC" not in status:
        raise PgpFailed("the file's integrity check (MDC) could not be confirmed.")


def _check_signature(status: dict[str, list[list[str]]], bank: list[str] | None) -> str | None:
    """The signer's primary fingerprint; raise PgpFailed unless the bank's key signed the file."""
    # VALIDSIG <signing key fpr> ... <primary key fpr>: compare primary keys.
    valid = [args[9] if len(args) > 9 else args[0] for args in status.get("VALIDSIG", [])]
    if bank is None:
        return valid[0] if len(valid) == 1 else None
    expected = _short(bank[0])
    if "BADSIG" in status:
        who = status["BADSIG"][0][0]
        raise PgpFailed(
            f"the file's signature (by key {who}) does not match its contents: the file was "
            "altered or the signature is forged."
        )
    for keyword, problem in _SIGNATURE_PROBLEMS.items():
        if keyword in status:
            raise PgpFailed(f"the file cannot be trusted: {problem}.")
    matching = [fpr for fpr in valid if fpr in bank]
    if matching and "GOODSIG" in status:
        return matching[0]
    others = valid + [_errsig_key(args) for args in status.get("ERRSIG", [])]
    if others:
        raise PgpFailed(
            f"the file is signed by {_short(others[0])}, not by the bank's key {expected}."
        )
    raise PgpFailed(
        f"the file is not signed, but the bank's signature (key {expected}) is required."
    )


def _errsig_key(args: list[str]) -> str:
    """The signer named by an ERRSIG line: its fingerprint when gpg knows it, else its key id."""
    return args[6] if len(args) > 6 and args[6] != "-" else args[0]


def _short(fingerprint: str) -> str:
    """A fingerprint shortened for a sentence (its last 16 hex digits, as gpg shows key ids)."""
    return f"{fingerprint[:4]}…{fingerprint[-16:]}" if len(fingerprint) > 20 else fingerprint


def _digest(path: Path) -> tuple[int, str]:
    """Size and SHA-256 of a file, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    size = 0
    with path.open("rb") as fh:
        while block := fh.read(_CHUNK):
            digest.update(block)
            size += len(block)
    return size, digest.hexdigest()


def _stop_agent(home: Path) -> None:
    """Stop the gpg-agent this home started, so no process outlives the call."""
    gpgconf = shutil.which("gpgconf")
    if gpgconf is None:
        return
    # Best effort: an agent whose home is gone also exits on its own within a minute.
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        subprocess.run(  # noqa: S603 - fixed program and arguments
            [gpgconf, "--homedir", str(home), "--kill", "all"],
            capture_output=True,
            timeout=30,
            check=False,
        )
