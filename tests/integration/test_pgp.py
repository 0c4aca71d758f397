"""Decrypting PGP bank files with real gpg: keys and files made here, failures keep no plaintext."""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from tests.support.pgp import (
    GPG,
    GPGCONF,
    MISSING_GPG,
    PASSPHRASE,
    Keys,
    Who,
    encrypt_file,
    gpg,
    make_keys,
    stop_agent,
)

from bankfeeds.core.errors import PgpFailed
from bankfeeds.ingest.pgp import Plaintext, decrypt, is_pgp, plaintext_name

CSV = b"TXNID,CREDIT_AMT\n" + b"".join(b"T%05d,%d.00\n" % (i, i % 997) for i in range(20_000))


@pytest.fixture(scope="module")
def keys(tmp_path_factory: pytest.TempPathFactory) -> Keys:
    """The bank's, our two and a stranger's key pairs, made once for this module."""
    if GPG is None or GPGCONF is None:
        pytest.skip(MISSING_GPG)
    return make_keys(tmp_path_factory.mktemp("keys"))


@dataclass
class Box:
    """One test's folders: the delivered file, the plaintext target and gpg's work area."""

    src: Path
    dest: Path
    workdir: Path
    plain: Path


@pytest.fixture
def short_dir() -> Iterator[Path]:
    """A folder with a short path (gpg-agent's socket paths must fit in 108 bytes)."""
    path = Path(tempfile.mkdtemp(prefix="bf-pgp-"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def box(tmp_path: Path, short_dir: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Box]:
    """Folders for one decryption, with HOME pointed at an empty folder to catch ~/.gnupg use."""
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.delenv("GNUPGHOME", raising=False)
    # Keyrings that do not fit under a deep workdir go to the temp dir: make that ours too.
    fallback = short_dir / "tmp"
    fallback.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(fallback))
    (short_dir / "work").mkdir()
    (tmp_path / "staging").mkdir()
    plain = tmp_path / "AXIS_RECON_20250110.csv"
    plain.write_bytes(CSV)
    b = Box(tmp_path / "AXIS_RECON_20250110.csv.pgp", tmp_path / "staging" / "plain.csv",
            short_dir / "work", plain)  # fmt: skip
    yield b
    # Whatever happened: no keyring left behind, no agent running for it, nothing in ~/.gnupg.
    assert list(b.workdir.iterdir()) == []
    assert list(fallback.iterdir()) == []
    assert not (home / ".gnupg").exists()
    # gpgconf --kill asks the agent to exit; give it a moment to be gone.
    deadline = time.monotonic() + 10
    while _agents_under(short_dir) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert _agents_under(short_dir) == []


def _agents_under(folder: Path) -> list[str]:
    """Command lines of running processes that mention ``folder`` (a leaked gpg-agent would)."""
    found = []
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            try:
                cmdline = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode()
            except OSError:
                continue
            if str(folder) in cmdline:
                found.append(cmdline)
    return found


def _decrypt(
    box: Box,
    keys: Keys,
    *,
    ours: Who = "ours",
    passphrase: str | None = None,
    bank: Who | None = "bank",
) -> Plaintext:
    return decrypt(
        box.src,
        box.dest,
        private_key=keys.pair(ours).private,
        passphrase=passphrase,
        signer_public_key=keys.pair(bank).public if bank else None,
        workdir=box.workdir,
    )


def _refused(box: Box, keys: Keys, match: str, **kw: object) -> PgpFailed:
    with pytest.raises(PgpFailed, match=match) as caught:
        _decrypt(box, keys, **kw)  # type: ignore[arg-type]
    assert not box.dest.exists()
    assert list(box.dest.parent.iterdir()) == []  # no partial plaintext either
    assert caught.value.code == "pgp-failed"
    assert not caught.value.retryable
    return caught.value


@pytest.mark.parametrize("armor", [False, True], ids=["binary", "armored"])
def test_good_signed_file_decrypts_to_identical_bytes(keys: Keys, box: Box, armor: bool) -> None:
    encrypt_file(box.plain, box.src, keys, armor=armor)
    result = _decrypt(box, keys)
    assert result.path == box.dest
    assert box.dest.read_bytes() == CSV
    assert result.size == len(CSV)
    assert result.sha256 == hashlib.sha256(CSV).hexdigest()
    assert result.signer_fingerprint == keys.bank.fingerprint
    assert os.listdir(box.dest.parent) == ["plain.csv"]


def test_deep_workdir_still_works(keys: Keys, box: Box, tmp_path: Path) -> None:
    box.workdir = tmp_path / ("deep-" * 20)
    box.workdir.mkdir()
    encrypt_file(box.plain, box.src, keys)
    assert _decrypt(box, keys).signer_fingerprint == keys.bank.fingerprint
    assert box.dest.read_bytes() == CSV


def test_passphrase_protected_key(keys: Keys, box: Box) -> None:
    encrypt_file(box.plain, box.src, keys, recipient="ours_locked")
    result = _decrypt(box, keys, ours="ours_locked", passphrase=PASSPHRASE)
    assert box.dest.read_bytes() == CSV
    assert result.signer_fingerprint == keys.bank.fingerprint


def test_without_a_bank_key_signatures_are_optional(keys: Keys, box: Box) -> None:
    encrypt_file(box.plain, box.src, keys, sign=False)
    assert _decrypt(box, keys, bank=None).signer_fingerprint is None
    assert box.dest.read_bytes() == CSV


def test_encrypted_to_another_key(keys: Keys, box: Box) -> None:
    encrypt_file(box.plain, box.src, keys, recipient="stranger")
    _refused(box, keys, "not to the connector's PGP key")


def test_tampered_ciphertext(keys: Keys, box: Box) -> None:
    encrypt_file(box.plain, box.src, keys)
    data = bytearray(box.src.read_bytes())
    data[len(data) // 2] ^= 0x01
    box.src.write_bytes(bytes(data))
    _refused(box, keys, "damaged or was altered|altered after it was encrypted")


def test_signed_by_a_stranger(keys: Keys, box: Box) -> None:
    encrypt_file(box.plain, box.src, keys, signer="stranger")
    err = _refused(box, keys, "signed by .*, not by the bank's key")
    assert keys.bank.fingerprint[-16:] in err.message


def test_signed_by_our_own_key_is_not_the_bank(keys: Keys, box: Box) -> None:
    # Our key is in the temporary keyring (we decrypt with it), so gpg calls this signature good.
    encrypt_file(box.plain, box.src, keys, signer="ours")
    err = _refused(box, keys, "not by the bank's key")
    assert keys.ours.fingerprint[-16:] in err.message


def test_unsigned_when_the_bank_signature_is_required(keys: Keys, box: Box) -> None:
    encrypt_file(box.plain, box.src, keys, sign=False)
    _refused(box, keys, "not signed")


def test_message_without_integrity_protection(keys: Keys, box: Box) -> None:
    encrypt_file(box.plain, box.src, keys, mdc=False)
    _refused(box, keys, r"without integrity protection \(no MDC\)")


def test_wrong_passphrase(keys: Keys, box: Box) -> None:
    encrypt_file(box.plain, box.src, keys, recipient="ours_locked")
    _refused(box, keys, "passphrase .* is wrong", ours="ours_locked", passphrase="wrong")


def test_missing_passphrase_never_prompts(keys: Keys, box: Box) -> None:
    encrypt_file(box.plain, box.src, keys, recipient="ours_locked")
    _refused(box, keys, "none is configured", ours="ours_locked", passphrase=None)


def test_symmetric_file_with_our_passphrase_is_refused(keys: Keys, box: Box) -> None:
    # Decrypts with the passphrase alone, so it proves nothing about who made it.
    gpg(keys.home, "--symmetric", "--output", str(box.src), str(box.plain), passphrase=PASSPHRASE)
    _refused(box, keys, "not encrypted to the connector's PGP key",
             ours="ours_locked", passphrase=PASSPHRASE, bank=None)  # fmt: skip


def test_altered_near_the_end_fails_the_integrity_check(keys: Keys, box: Box) -> None:
    encrypt_file(box.plain, box.src, keys)
    data = bytearray(box.src.read_bytes())
    data[-5] ^= 0x01  # inside the MDC packet itself
    box.src.write_bytes(bytes(data))
    _refused(box, keys, "altered after it was encrypted: its integrity check failed")


def test_signed_but_not_encrypted(keys: Keys, box: Box) -> None:
    gpg(keys.home, "--local-user", keys.bank.fingerprint, "--sign", "--output", str(box.src),
        str(box.plain))  # fmt: skip
    stop_agent(keys.home)
    _refused(box, keys, "not PGP-encrypted data")


def test_not_pgp_data(keys: Keys, box: Box) -> None:
    box.src.write_bytes(CSV)
    _refused(box, keys, "not PGP-encrypted data")


def test_unreadable_private_key(keys: Keys, box: Box) -> None:
    encrypt_file(box.plain, box.src, keys)
    with pytest.raises(PgpFailed, match="private key could not be read"):
        decrypt(box.src, box.dest, private_key=keys.ours.public, passphrase=None,
                signer_public_key=None, workdir=box.workdir)  # fmt: skip
    assert not box.dest.exists()


def test_unreadable_bank_key(keys: Keys, box: Box) -> None:
    encrypt_file(box.plain, box.src, keys)
    with pytest.raises(PgpFailed, match="pgpPublicKey"):
        decrypt(box.src, box.dest, private_key=keys.ours.private, passphrase=None,
                signer_public_key="not a key", workdir=box.workdir)  # fmt: skip
    assert not box.dest.exists()


@pytest.mark.parametrize(
    ("name", "pgp", "plain"),
    [
        ("AXIS_RECON_20250110.csv.pgp", True, "AXIS_RECON_20250110.csv"),
        ("X.CSV.GPG", True, "X.CSV"),
        ("x.zip.asc", True, "x.zip"),
        ("x.csv", False, "x.csv"),
        (".pgp", False, ".pgp"),
        ("x.pgpx", False, "x.pgpx"),
    ],
)
def test_pgp_names(name: str, pgp: bool, plain: str) -> None:
    assert is_pgp(name) is pgp
    assert plaintext_name(name) == plain
