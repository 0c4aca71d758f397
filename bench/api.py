"""API benchmark: ``GET /ops/connectors`` over 1,000 connectors under wrk, against bare FastAPI.

Run as ``.venv/bin/python bench/api.py [--quick] [--rounds N] [--seconds S] [--json OUT]``; needs
``wrk`` (Debian package ``wrk``). It creates 1,000 connectors through the connector service in a
fresh SQLite database, with ten runs each over the last ten days so health has history, and an
admin token. Then it starts, each in its own process on a free loopback port:

- bankfeeds: ``bankfeeds serve --no-scheduler``, the real app as operators run it;
- the reference: a minimal FastAPI app (same uvicorn settings) whose one route returns, from
  memory, the exact bytes bankfeeds answered for the same request.

Both are loaded with ``wrk -t2 -c32 --latency`` for 30 s (5 s with ``--quick``), interleaved,
round by round (3 rounds, 1 with ``--quick``). The route pages (``limit`` at most 200), so the
request asks for the largest page: ``/ops/connectors?limit=200``, the first 200 connectors with
health, ``total`` 1,000.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a script: make ``bench`` importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sqlalchemy import insert

from bankfeeds.access import tokens
from bankfeeds.connectors.model import ConnectorCreate
from bankfeeds.core.config import load_settings
from bankfeeds.core.ids import parse_id
from bankfeeds.pipeline import handoff
from bankfeeds.storage.context import AppContext
from bankfeeds.storage.db import migrate
from bankfeeds.storage.db.models import ConnectorRun
from bankfeeds.storage.secrets import generate_key
from bench.common import Row, Samples, machine, markdown_table, write_json

CONNECTORS = 1000
PAGE = 200  # the route's largest page (``limit`` is validated ``le=200``)
PATH = f"/ops/connectors?limit={PAGE}"
PROVIDERS = ("AXIS", "BOB", "HDFC", "ICICI")
EXE = str(Path(sys.executable).with_name("bankfeeds"))
RESULTS = Path(__file__).with_name("results-api.md")


# --- data -------------------------------------------------------------------------------------


def _body(i: int) -> ConnectorCreate:
    """Connector ``i``: an SFTP connector of one of the providers, every tenth one paused."""
    provider = PROVIDERS[i % len(PROVIDERS)]
    return ConnectorCreate.model_validate(
        {
            "name": f"{provider} bench {i:04d}",
            "type": "SFTP",
            "provider": provider,
            "status": "PAUSED" if i % 10 == 9 else "ACTIVE",
            "config": {
                "host": f"sftp{i % 7}.bank.example",
                "port": 22,
                "username": "bank",
                "password": "bankpass",
                "remotePath": "/upload",
                "filePattern": f"{provider}_RECON_YYYYMMDD*.csv",
                "schedule": f"{i % 60} 19 * * *",
                "timezone": "Asia/Kolkata",
            },
        }
    )


def _runs(connector_pk: int, i: int, now: datetime) -> list[dict[str, Any]]:
    """Ten finished daily runs; some connectors fail now and then, a few keep failing."""
    out = []
    for day in range(10):
        started = now - timedelta(days=day, hours=1)
        failed = (i % 5 == 0 and day % 3 == 0) or (i % 50 == 1 and day < 4)
        out.append(
            {
                "connector_id": connector_pk,
                "cycle_date": (started - timedelta(days=1)).date(),
                "trigger": "SCHEDULE",
                "status": "FAILED" if failed else "SUCCESS",
                "scheduled_for": started,
                "queued_at": started,
                "started_at": started,
                "finished_at": started + timedelta(seconds=3),
                "duration_ms": 3000 + i % 700,
                "files_discovered": 1,
                "files_downloaded": 0 if failed else 1,
                "error_code": "SFTP_TIMEOUT" if failed else None,
                "error_message": "The server did not answer in time." if failed else None,
            }
        )
    return out


async def seed(settings_env: dict[str, str]) -> str:
    """Create the connectors (through the service), their runs and an admin token; the token."""
    ctx = AppContext.build(load_settings(**settings_env, _env_file=None))
    try:
        now = ctx.clock()
        ids = []
        for i in range(CONNECTORS):
            view, _ = await handoff.create_connector(
                ctx=ctx, body=_body(i), actor="bench", idempotency_key=None
            )
            ids.append(parse_id("connector", str(view["id"])))
        rows = [run for i, pk in enumerate(ids) for run in _runs(pk, i, now)]
        async with ctx.sessions.begin() as session:
            await session.execute(insert(ConnectorRun), rows)
        _, token = await tokens.create_token(ctx=ctx, name="bench", role="admin", actor="bench")
        return token
    finally:
        await ctx.close()


# --- servers ----------------------------------------------------------------------------------


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_ready(url: str, headers: dict[str, str], proc: subprocess.Popen[bytes]) -> bytes:
    """Poll ``url`` until it answers 200; its body."""
    deadline = time.monotonic() + 60
    while True:
        if proc.poll() is not None:
            raise RuntimeError(f"the server on {url} exited with {proc.returncode}")
        try:
            with urllib.request.urlopen(urllib.request.Request(url, headers=headers)) as r:
                return bytes(r.read())
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def stop(proc: subprocess.Popen[bytes]) -> None:
    """SIGTERM, then SIGKILL after 15 s."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def serve_reference(body_file: str, port: int) -> None:
    """The reference: one route answering the stored bytes (run in its own process)."""
    import uvicorn
    from fastapi import FastAPI, Response

    body = Path(body_file).read_bytes()
    app = FastAPI()

    @app.get("/ops/connectors")
    async def listing() -> Response:
        return Response(content=body, media_type="application/json")

    # The same uvicorn settings as ``bankfeeds serve`` (cli.serve_app).
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_config=None, proxy_headers=False)
    uvicorn.Server(config).run()


# --- load -------------------------------------------------------------------------------------

_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 60e3}


def _millis(text: str) -> float:
    number, unit = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text).groups()  # type: ignore[union-attr]
    return float(number) * _UNITS[unit]


def parse_wrk(output: str) -> tuple[float, float, int]:
    """Requests/s, p99 latency (ms) and socket errors from ``wrk --latency`` output."""
    if m := re.search(r"Non-2xx or 3xx responses: (\d+)", output):
        raise RuntimeError(f"wrk saw {m.group(1)} error responses:\n{output}")
    rps = re.search(r"Requests/sec:\s+([\d.]+)", output)
    p99 = re.search(r"^\s+99%\s+(\S+)", output, re.MULTILINE)
    if rps is None or p99 is None:
        raise RuntimeError(f"unexpected wrk output:\n{output}")
    errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)",
                       output)  # fmt: skip
    failed = sum(int(n) for n in errors.groups()) if errors else 0
    return float(rps.group(1)), _millis(p99.group(1)), failed


def load(url: str, token: str | None, seconds: int) -> tuple[float, float, int]:
    """``wrk -t2 -c32`` against ``url`` for ``seconds``; requests/s, p99 ms, socket errors."""
    # A generous timeout: wrk leaves timed-out requests out of the latency figures.
    command = ["wrk", "-t2", "-c32", f"-d{seconds}s", "--latency", "--timeout", "60s"]
    if token:
        command += ["-H", f"Authorization: Bearer {token}"]
    done = subprocess.run([*command, url], check=True, capture_output=True, text=True)
    return parse_wrk(done.stdout)


# --- the run ----------------------------------------------------------------------------------


def measure(home: Path, rounds: int, seconds: int) -> tuple[list[Row], list[str]]:
    """Seed, start both servers, load them interleaved; the table rows and notes."""
    env_settings = {
        "DATABASE_URL": f"sqlite:///{home / 'bankfeeds.db'}",
        "BANKFEEDS_SECRET_KEY": generate_key(),
        "BANKFEEDS_DATA_DIR": str(home / "data"),
        "SCHEDULER_ENABLED": "false",
    }
    migrate.upgrade(env_settings["DATABASE_URL"])
    started = time.perf_counter()
    token = asyncio.run(seed(env_settings))
    notes = [f"seeding {CONNECTORS:,} connectors through the service: "
             f"{time.perf_counter() - started:.1f} s"]  # fmt: skip
    env = {k: v for k, v in os.environ.items() if not k.startswith("BANKFEEDS_")}
    env.update(env_settings)
    ours_port, ref_port = free_port(), free_port()
    with (home / "ours.log").open("wb") as log:
        ours = subprocess.Popen(
            [EXE, "serve", "--no-scheduler", "--host", "127.0.0.1", "--port", str(ours_port)],
            env=env, cwd=home, stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip
    ref: subprocess.Popen[bytes] | None = None
    try:
        auth = {"Authorization": f"Bearer {token}"}
        body = wait_ready(f"http://127.0.0.1:{ours_port}{PATH}", auth, ours)
        listing = json.loads(body)
        if listing["total"] != CONNECTORS or len(listing["connectors"]) != PAGE:
            raise RuntimeError(f"unexpected listing: total {listing['total']}")
        (home / "body.json").write_bytes(body)
        with (home / "ref.log").open("wb") as log:
            ref = subprocess.Popen(
                [sys.executable, __file__, "--reference", str(home / "body.json"), str(ref_port)],
                stdout=log, stderr=subprocess.STDOUT,
            )  # fmt: skip
        if wait_ready(f"http://127.0.0.1:{ref_port}{PATH}", {}, ref) != body:
            raise RuntimeError("the reference does not answer the same bytes")
        notes.append(f"response: {len(body):,} bytes, {PAGE} connectors with health")
        rps, p99, errors = Samples(), Samples(), {"ref": 0, "ours": 0}
        for r in range(rounds):
            print(f"round {r + 1}/{rounds}", file=sys.stderr, flush=True)
            for name, port, token_ in (("ref", ref_port, None), ("ours", ours_port, token)):
                done = load(f"http://127.0.0.1:{port}{PATH}", token_, seconds)
                rps.add(name, done[0])
                p99.add(name, done[1])
                errors[name] += done[2]
        if errors["ref"] or errors["ours"]:
            notes.append(
                f"wrk socket errors: reference {errors['ref']}, bankfeeds {errors['ours']}"
            )
    finally:
        stop(ours)
        if ref is not None:
            stop(ref)
    what = f"GET /ops/connectors?limit={PAGE} of {CONNECTORS:,}, wrk -c32 {seconds}s"
    rows = [
        Row(f"{what}: throughput", "FastAPI, same bytes from memory", "req/s",
            rps.figure("ref"), rps.figure("ours"), 0.5),
        Row(f"{what}: p99 latency", "FastAPI, same bytes from memory", "ms",
            p99.figure("ref"), p99.figure("ours"), None, "lower"),
    ]  # fmt: skip
    return rows, notes


def main() -> None:
    """Parse arguments, run, print and save the table (and the JSON rows when asked)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="one round of 5 s")
    parser.add_argument("--rounds", type=int, help="rounds (default 3, or 1 with --quick)")
    parser.add_argument("--seconds", type=int, help="wrk duration (default 30, or 5 with --quick)")
    parser.add_argument("--json", type=Path, help="also write the rows as JSON to this file")
    parser.add_argument("--reference", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.reference:
        serve_reference(args.reference[0], int(args.reference[1]))
        return
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is not installed (apt-get install wrk)")
    # Stopped from outside (make bench interrupted): unwind, so the servers are stopped too.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    rounds = args.rounds or (1 if args.quick else 3)
    seconds = args.seconds or (5 if args.quick else 30)
    with tempfile.TemporaryDirectory(prefix="bankfeeds-bench-api-") as tmp:
        rows, notes = measure(Path(tmp), rounds, seconds)
    text = "\n".join(
        [
            f"## API (bench/api.py{' --quick' if args.quick else ''}), medians of {rounds}",
            "",
            f"Machine: {machine()}. wrk -t2 -c32 on loopback; SQLite; both servers are "
            "one uvicorn process.",
            "",
            markdown_table(rows),
            "",
            *(f"- {n}" for n in notes),
            "",
        ]
    )
    print(text)
    RESULTS.write_text(text)
    if args.json:
        write_json(args.json, rows, notes=notes)


if __name__ == "__main__":
    main()
