"""The bankfeeds command, run as a real process."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
from datetime import date, datetime
from pathlib import Path
from typing import IO
from zoneinfo import ZoneInfo

import httpx
from alembic.script import ScriptDirectory

from bankfeeds.sandbox.demo_run import TOKEN_LINE_PREFIX
from bankfeeds.sandbox.generate import seeded_days
from bankfeeds.storage.db.migrate import alembic_config
from bankfeeds.storage.secrets import generate_key

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


class _Lines:
    """The lines a process writes to a pipe, read by a thread so a test can wait for one."""

    def __init__(self, stream: IO[str]) -> None:
        self.lines: list[str] = []
        self._changed = threading.Condition()
        self.closed = False
        self._thread = threading.Thread(target=self._read, args=(stream,), daemon=True)
        self._thread.start()

    def _read(self, stream: IO[str]) -> None:
        with stream:  # the reader owns the pipe: closed at end of file
            for line in stream:
                with self._changed:
                    self.lines.append(line.rstrip("\n"))
                    self._changed.notify_all()
        with self._changed:
            self.closed = True
            self._changed.notify_all()

    def wait_for(self, prefix: str, timeout: float) -> str:
        """The first line starting with ``prefix``; fails when the pipe closes or time is up."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                found = [line for line in self.lines if line.startswith(prefix)]
                if found:
                    return found[0]
                left = deadline - time.monotonic()
                if self.closed or left <= 0:
                    raise AssertionError(f"no line starting {prefix!r} in {self.lines}")
                self._changed.wait(left)

    def finish(self) -> list[str]:
        """Every line, once the writer has closed the pipe."""
        self._thread.join(timeout=30)
        return list(self.lines)


def _today_in_demo_zone() -> date:
    return datetime.now(ZoneInfo("Asia/Kolkata")).date()


def test_demo_reconciles_every_seeded_day_and_ends_with_the_token(tmp_path: Path) -> None:
    before = _today_in_demo_zone()
    # Port 0 everywhere: the OS picks free ports, so nothing else on the machine can break this.
    proc = subprocess.Popen(
        [EXE, "demo", "--port", "0", "--sandbox-port", "0", "--bank-api-port", "0"],
        cwd=tmp_path,
        env=_env(tmp_path),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None and proc.stderr is not None
    # Both pipes are drained all along, so a chatty process can never block on a full pipe.
    out, err = _Lines(proc.stdout), _Lines(proc.stderr)
    try:
        token_line = out.wait_for(TOKEN_LINE_PREFIX, timeout=400)
        token = token_line.removeprefix(TOKEN_LINE_PREFIX)
        assert token.startswith("bf_") and len(token) > 40
        assert (tmp_path / "var" / "secret.key").stat().st_mode & 0o077 == 0
        ui = out.wait_for("bankfeeds demo: web UI ", timeout=0)
        base = ui.removeprefix("bankfeeds demo: web UI ").split("/ui", 1)[0]
        assert out.wait_for("logs (server, workers, pipeline): ", timeout=0).endswith("demo.log")
        span = out.wait_for("sandbox days ", timeout=0)
        # The demo's "today" is read after the test's; around midnight either may be the one.
        days = next(
            d
            for d in map(seeded_days, {before, _today_in_demo_zone()})
            if span.startswith(f"sandbox days {d[0]} to {d[-1]} ")
        )
        assert len(days) == 3
        auth = {"Authorization": f"Bearer {token}"}
        with httpx.Client(base_url=base, headers=auth, timeout=30) as client:
            listed = client.get("/ops/connectors")
            assert listed.status_code == 200
            assert [c["provider"] for c in listed.json()["connectors"]] == [
                "AXIS",
                "BOB",
                "HDFC",
                "ICICI",
                "PG",
            ]
            for day in days:
                jobs = client.get("/ops/recon/jobs", params={"date": str(day)}).json()["jobs"]
                current = sorted(
                    (j["provider"], j["status"]) for j in jobs if j["supersededBy"] is None
                )
                assert current == [
                    ("AXIS", "COMPLETED"),
                    ("BOB", "COMPLETED"),
                    ("HDFC", "COMPLETED"),
                    ("ICICI", "COMPLETED"),
                ], jobs
                # The sandbox plants one difference of each kind per bank and day (generate.py).
                summary = (
                    f"{day} reconciled (AXIS, BOB, HDFC, ICICI COMPLETED): MATCHED 184, "
                    "MATCHED_WITHIN_TOLERANCE 4, AMOUNT_MISMATCH 4, MISSING_IN_BANK 4, "
                    "MISSING_IN_PG 4, STATUS_MISMATCH 4"
                )
                assert summary in out.lines, out.lines
            runs = client.get("/ops/connectors/conn_1/runs").json()["runs"]
            assert sorted(r["cycleDate"] for r in runs) == [str(d) for d in days]
            assert [(r["status"], r["filesDownloaded"]) for r in runs] == [("SUCCESS", 1)] * 3
            # The demo fetched yesterday already, so run-now (README step 3) skips its file ...
            again = client.post("/ops/connectors/conn_1/run-now").json()
            assert again["filesSkipped"] == 1 and again["bytesDownloaded"] == 0
            # ... and the specification's own sample day is left for the README's step 4.
            spec_run = client.post(
                "/ops/connectors/conn_1/run-now", json={"cycleDate": "2025-01-10"}
            ).json()
            assert spec_run["status"] == "SUCCESS" and spec_run["filesDownloaded"] == 1
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    # uvicorn shuts down gracefully, then re-raises SIGTERM so the exit status tells the truth.
    assert proc.returncode in (0, -15)
    assert err.finish() == []  # every log line went to the file
    lines = [line for line in out.finish() if line.strip()]
    assert lines[0] == f"bankfeeds demo: logs go to {tmp_path / 'var' / 'demo.log'}"
    assert lines[-1] == token_line
    assert sum(line.startswith(TOKEN_LINE_PREFIX) for line in lines) == 1
    log = (tmp_path / "var" / "demo.log").read_text()
    assert "Application shutdown complete" in log and token not in log
    assert list((tmp_path / "var" / "objects" / "sha256").rglob("*")) != []


def test_demo_says_in_one_sentence_when_its_port_is_taken(tmp_path: Path) -> None:
    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        held.listen()
        port = held.getsockname()[1]
        result = _run(tmp_path, "demo", "--port", str(port), "--sandbox-port", "0")
    assert result.returncode == 2
    assert result.stderr.strip() == "error: The demo could not start: Address already in use."
    assert result.stdout.strip() == f"bankfeeds demo: logs go to {tmp_path / 'var' / 'demo.log'}"


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
