"""A throwaway OpenSSH sshd on 127.0.0.1 for integration tests (needs root and /usr/sbin/sshd).

Layout under ``/run/bankfeeds-test-<random>``: a host key, a config, authorized keys, and one
chroot per user (root-owned, as sshd demands) holding a user-owned, writable ``upload/``.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import pwd
import secrets
import shutil
import socket
import subprocess
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import asyncssh
import pytest

from tests.support import components

SSHD = Path("/usr/sbin/sshd")
PASSWORD_USER = "bftest"
KEY_USER = "bftestkey"
PASSWORD = "bftest-Pass-1"
RSA_PASSPHRASE = "correct horse battery staple"


def skip_reason() -> str | None:
    """Why sshd tests cannot run here (a :func:`components.skip_message`), or None."""
    if components.hidden(components.SSHD):
        return components.skip_message(components.SSHD, components.HIDDEN)
    if not SSHD.exists():
        return components.skip_message(
            components.SSHD, f"{SSHD} is missing (Debian package openssh-server)"
        )
    if os.geteuid() != 0:
        return components.skip_message(
            components.SSHD,
            "the tests must run as root (chroot, system users, privilege separation)",
        )
    return None


@dataclass(frozen=True)
class ClientKey:
    """A private key a test logs in with, as connector configuration would hold it."""

    private_text: str
    passphrase: str | None
    public_line: str


@dataclass(frozen=True)
class Sshd:
    """A running sshd: where it listens, who may log in, and where each user's files live."""

    host: str
    port: int
    fingerprint: str
    base: Path
    keys: dict[str, ClientKey]

    def upload_dir(self, user: str) -> Path:
        """The local directory that ``user`` sees as ``/upload``."""
        return self.base / "chroot" / user / "upload"

    def fresh_dir(self, user: str) -> tuple[str, Path]:
        """A new empty directory under ``/upload`` for one test: (remote path, local path)."""
        name = uuid.uuid4().hex[:12]
        local = self.upload_dir(user) / name
        local.mkdir(mode=0o755)
        return f"/upload/{name}", local


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _ensure_users() -> None:
    # Several xdist workers may get here at once; useradd itself is not safe to race.
    with open("/run/bankfeeds-test-users.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        for user in (PASSWORD_USER, KEY_USER):
            try:
                pwd.getpwnam(user)
            except KeyError:
                subprocess.run(
                    [
                        "useradd",
                        "--system",
                        "--no-create-home",
                        "--shell",
                        "/usr/sbin/nologin",
                        user,
                    ],
                    check=True,
                )
        # A set password also keeps the key user from counting as "locked" for sshd.
        creds = f"{PASSWORD_USER}:{PASSWORD}\n{KEY_USER}:{secrets.token_hex(16)}\n"
        subprocess.run(["chpasswd"], input=creds.encode(), check=True)


def _client_keys() -> dict[str, ClientKey]:
    ed = asyncssh.generate_private_key("ssh-ed25519")
    rsa = asyncssh.generate_private_key("ssh-rsa", key_size=2048)
    return {
        "ed25519": ClientKey(
            ed.export_private_key().decode(), None, ed.export_public_key().decode().strip()
        ),
        "rsa": ClientKey(
            rsa.export_private_key("openssh", RSA_PASSPHRASE).decode(),
            RSA_PASSPHRASE,
            rsa.export_public_key().decode().strip(),
        ),
    }


def _layout(base: Path, keys: dict[str, ClientKey]) -> asyncssh.SSHKey:
    base.mkdir(mode=0o755)
    host_key = asyncssh.generate_private_key("ssh-ed25519")
    key_path = base / "ssh_host_ed25519_key"
    key_path.write_bytes(host_key.export_private_key())
    key_path.chmod(0o600)
    (base / "keys").mkdir(mode=0o755)
    auth = base / "keys" / KEY_USER
    auth.write_text("\n".join(k.public_line for k in keys.values()) + "\n")
    auth.chmod(0o644)
    for user in (PASSWORD_USER, KEY_USER):
        upload = base / "chroot" / user / "upload"
        upload.mkdir(parents=True, mode=0o755)
        entry = pwd.getpwnam(user)
        os.chown(upload, entry.pw_uid, entry.pw_gid)
    return host_key


def _config(base: Path, port: int) -> Path:
    config = base / "sshd_config"
    config.write_text(
        f"""Port {port}
ListenAddress 127.0.0.1
HostKey {base}/ssh_host_ed25519_key
PidFile none
UsePAM no
PasswordAuthentication yes
KbdInteractiveAuthentication no
PubkeyAuthentication yes
PermitRootLogin no
AuthorizedKeysFile {base}/keys/%u
AllowUsers {PASSWORD_USER} {KEY_USER}
Subsystem sftp internal-sftp
ForceCommand internal-sftp
ChrootDirectory {base}/chroot/%u
AllowTcpForwarding no
X11Forwarding no
MaxStartups 64:30:128
MaxSessions 64
LogLevel ERROR
"""
    )
    return config


def _wait_listening(proc: subprocess.Popen[bytes], port: int, log: Path) -> None:
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"sshd exited with {proc.returncode}: {log.read_text()}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.5):
            return
        time.sleep(0.05)
    raise RuntimeError(f"sshd did not listen on port {port}: {log.read_text()}")


@contextlib.contextmanager
def running_sshd() -> Iterator[Sshd]:
    """Start sshd with its own host key and users; stop it by PID and remove its files."""
    _ensure_users()
    Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)
    base = Path(f"/run/bankfeeds-test-{secrets.token_hex(6)}")
    keys = _client_keys()
    host_key = _layout(base, keys)
    port = free_port()
    config = _config(base, port)
    log = base / "sshd.log"
    with log.open("wb") as err:
        proc = subprocess.Popen([str(SSHD), "-D", "-e", "-f", str(config)], stderr=err)
    try:
        _wait_listening(proc, port, log)
        yield Sshd("127.0.0.1", port, host_key.get_fingerprint("sha256"), base, keys)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture(scope="session")
def sshd() -> Iterator[Sshd]:
    """One sshd per test session (per xdist worker); skipped with a reason when impossible."""
    reason = skip_reason()
    if reason is not None:
        pytest.skip(reason)
    with running_sshd() as server:
        yield server
