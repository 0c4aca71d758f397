"""The bankfeeds command, run as a real process."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
from alembic.script import ScriptDirectory

from bankfeeds.adapters.db.migrate import alembic_config
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
    head = ScriptDirectory.from_config(alembic_config("sqlite://")).get_current_head()
    assert up.returncode == 0
    assert up.stdout.strip() == f"database at {head}"
    assert (tmp_path / "var" / "bankfeeds.db").exists()
    down = _run(tmp_path, "db", "downgrade", "base")
    assert down.returncode == 0 and "database at base" in down.stdout


def test_demo_fetches_verifies_and_serves(tmp_path: Path) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen(
        [EXE, "demo", "--port", str(port), "--sandbox-port", "0"],
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
        auth = {"Authorization": f"Bearer {token}"}
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", headers=auth, timeout=10) as client:
            runs: list[dict[str, object]] = []
            for _ in range(600):
                try:
                    runs = client.get("/ops/connectors/conn_1/runs").json()["runs"]
                except httpx.TransportError:
                    runs = []
                if len(runs) == 2 and all(r["status"] == "SUCCESS" for r in runs):
                    break
                time.sleep(0.1)
            assert [r["status"] for r in runs] == ["SUCCESS"] * 2, runs
            assert all(r["filesDownloaded"] == 1 for r in runs)
            spec_run = client.post("/ops/connectors/conn_1/run-now").json()
            assert spec_run["status"] == "SUCCESS" and spec_run["filesDownloaded"] == 1
            again = client.post("/ops/connectors/conn_1/run-now").json()
            assert again["filesSkipped"] == 1 and again["bytesDownloaded"] == 0
            listed = client.get("/ops/connectors").json()
            assert [c["provider"] for c in listed["connectors"]] == [
                "AXIS",
                "BOB",
                "HDFC",
                "ICICI",
                "PG",
            ]
    finally:
        proc.terminate()
        _, stderr = proc.communicate(timeout=30)
    # uvicorn shuts down gracefully, then re-raises SIGTERM so the exit status tells the truth.
    assert proc.returncode in (0, -15)
    assert "Application shutdown complete" in stderr
    assert list((tmp_path / "var" / "objects" / "sha256").rglob("*")) != []


def test_sandbox_seed_and_generate(tmp_path: Path) -> None:
    seeded = _run(tmp_path, "sandbox", "seed", "--days", "2")
    assert seeded.returncode == 0, seeded.stderr
    upload = tmp_path / "var" / "sftp" / "upload"
    # The last two days, plus the days around the spec's own sample (2025-01-08 to 10).
    spec_days = {"PG_TXN_20250108.csv", "PG_TXN_20250109.csv"}
    pg_files = sorted(p.name for p in upload.glob("PG_TXN_*.csv") if p.name not in spec_days)
    assert len(pg_files) == 2
    assert (upload / "AXIS_RECON_20250110.csv.sha256").exists()
    for name in pg_files:
        assert (upload / f"{name}.sha256").exists()
    again = _run(tmp_path, "sandbox", "seed", "--days", "2")
    assert "seeded 0 day(s)" in again.stdout
    made = _run(tmp_path, "sandbox", "generate", "--date", "2025-01-08")
    assert made.returncode == 0 and (upload / "AXIS_RECON_20250108.csv.sha256").exists()
    bad = _run(tmp_path, "sandbox", "generate", "--date", "yesterday")
    assert bad.returncode == 2
    assert bad.stderr.strip() == "error: --date 'yesterday' is not a date like 2025-01-10."
