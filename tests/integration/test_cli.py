"""The bankfeeds command, run as a real process."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

from bankfeeds.adapters.secrets import generate_key

EXE = str(Path(sys.executable).with_name("bankfeeds"))


def _env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("BANKFEEDS_", "DATABASE_"))}
    env.update(BANKFEEDS_DATA_DIR=str(tmp_path / "var"), **extra)
    return env


def _run(tmp_path: Path, *args: str, **extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [EXE, *args],
        cwd=tmp_path,
        env=_env(tmp_path, **extra),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_token_create_prints_token_last(tmp_path: Path) -> None:
    key = generate_key()
    made = _run(
        tmp_path, "token", "create", "--name", "ops", "--role", "operator", BANKFEEDS_SECRET_KEY=key
    )
    assert made.returncode == 0, made.stderr
    token = made.stdout.strip().splitlines()[-1]
    assert token.startswith("bf_") and len(token) > 40
    listed = _run(tmp_path, "token", "list", BANKFEEDS_SECRET_KEY=key)
    assert "ops" in listed.stdout and "operator" in listed.stdout and token not in listed.stdout
    again = _run(tmp_path, "token", "create", "--name", "ops", BANKFEEDS_SECRET_KEY=key)
    assert again.returncode == 1
    assert again.stderr.strip() == "error: A token named 'ops' already exists."
    bad_role = _run(
        tmp_path, "token", "create", "--name", "x", "--role", "root", BANKFEEDS_SECRET_KEY=key
    )
    assert bad_role.returncode == 1 and "role: must be one of" in bad_role.stderr


def test_serve_refuses_without_secret_key(tmp_path: Path) -> None:
    result = _run(tmp_path, "serve", "--port", "1")
    assert result.returncode == 2
    assert "BANKFEEDS_SECRET_KEY is not set" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_invalid_setting_is_one_sentence(tmp_path: Path) -> None:
    result = _run(tmp_path, "db", "upgrade", SFTP_PORT="0")
    assert result.returncode == 2
    assert result.stderr.strip().startswith("error: SFTP_PORT is invalid")


def test_db_upgrade_and_downgrade(tmp_path: Path) -> None:
    up = _run(tmp_path, "db", "upgrade")
    assert up.returncode == 0 and "database at 0001" in up.stdout
    assert (tmp_path / "var" / "bankfeeds.db").exists()
    down = _run(tmp_path, "db", "downgrade", "base")
    assert down.returncode == 0 and "database at base" in down.stdout


def test_demo_serves_and_prints_admin_token(tmp_path: Path) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen(
        [EXE, "demo", "--port", str(port)],
        cwd=tmp_path,
        env=_env(tmp_path),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        token = proc.stdout.readline().strip()
        assert token.startswith("bf_")
        assert (tmp_path / "var" / "secret.key").stat().st_mode & 0o077 == 0
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10) as client:
            for _ in range(100):
                try:
                    client.get("/healthz")
                    break
                except httpx.TransportError:
                    time.sleep(0.1)
            response = client.get("/ops/connectors", headers={"Authorization": f"Bearer {token}"})
            assert response.status_code == 200
    finally:
        proc.terminate()
        proc.wait(timeout=20)
        for stream in (proc.stdout, proc.stderr):
            if stream is not None:
                stream.close()
