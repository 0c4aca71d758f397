"""The sandbox's bank API: one provider's settlement files served over HTTP for API connectors.

``GET /v1/settlements?date=YYYY-MM-DD`` pages through the rows of the provider's file for that day
as JSON (``{"data": [...], "next": cursor | null}``, a ``Repr-Digest`` on every page);
``GET /v1/settlements.csv?date=`` serves the file itself with a ``Digest`` header and
``/v1/settlements.csv.sha256?date=`` its sidecar. Every call needs ``Authorization: Bearer``.
"""

from __future__ import annotations

import base64
import csv
import hashlib
import hmac
import json
import re
import socket
import threading
import time
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response

from bankfeeds.connectors.layouts import LAYOUTS

DEFAULT_PAGE_SIZE = 20
_CURSOR = re.compile(r"r(\d{1,9})")


def _problem(status: int, message: str) -> JSONResponse:
    headers = {"WWW-Authenticate": 'Bearer realm="bank"'} if status == 401 else None
    return JSONResponse({"message": message}, status_code=status, headers=headers)


def _day(text: str | None) -> date | None:
    try:
        return date.fromisoformat(text or "")
    except ValueError:
        return None


def _rows(path: Path, provider: str) -> list[dict[str, str]]:
    """The data rows of a sandbox file, read with the provider's layout (preamble and trailers)."""
    layout = LAYOUTS.get(provider)
    encoding = layout.encoding if layout else "utf-8"
    delimiter = layout.delimiter if layout else ","
    lines = path.read_text(encoding=encoding).splitlines()
    lines = lines[layout.header_row :] if layout else lines
    if layout and layout.footer_rows:
        lines = lines[: -layout.footer_rows]
    if layout and layout.trailer_pattern:
        trailer = re.compile(layout.trailer_pattern)
        lines = [line for line in lines if not trailer.search(line)]
    reader = csv.DictReader([line for line in lines if line.strip()], delimiter=delimiter)
    return [dict(row) for row in reader]


def create_bank_api(
    root: Path, token: str, *, provider: str = "AXIS", page_size: int = DEFAULT_PAGE_SIZE
) -> FastAPI:
    """The demo bank API over the ``{provider}_*YYYYMMDD*.csv`` files in ``root``."""
    app = FastAPI(title=f"{provider} sandbox bank API", docs_url=None, redoc_url=None)
    expected = f"Bearer {token}".encode()

    def file_for(day: date) -> Path | None:
        stamp = f"{day:%Y%m%d}"
        found = sorted(
            p for p in root.glob(f"{provider}_*{stamp}*.csv") if not p.name.startswith(".")
        )
        return found[0] if found else None

    def refusal(request: Request) -> tuple[JSONResponse | None, Path | None]:
        given = request.headers.get("authorization", "").encode()
        if not hmac.compare_digest(given, expected):
            return _problem(401, "A valid bearer token is required."), None
        day = _day(request.query_params.get("date"))
        if day is None:
            return _problem(400, "Give the cycle date as date=YYYY-MM-DD."), None
        path = file_for(day)
        if path is None:
            return _problem(404, f"No {provider} settlement file for {day.isoformat()} yet."), None
        return None, path

    @app.get("/v1/settlements")
    async def settlements(request: Request, cursor: str | None = None) -> Response:
        problem, path = refusal(request)
        if problem is not None or path is None:
            return problem or _problem(500, "unreachable")
        start = 0
        if cursor is not None:
            found = _CURSOR.fullmatch(cursor)
            if found is None:
                return _problem(400, f"The cursor {cursor[:40]!r} is not one we issued.")
            start = int(found[1])
        rows = _rows(path, provider)
        end = start + page_size
        page: dict[str, Any] = {
            "data": rows[start:end],
            "next": f"r{end}" if end < len(rows) else None,
        }
        body = json.dumps(page, ensure_ascii=False).encode()
        digest = base64.b64encode(hashlib.sha256(body).digest()).decode()
        return Response(
            body, media_type="application/json", headers={"Repr-Digest": f"sha-256=:{digest}:"}
        )

    @app.get("/v1/settlements.csv")
    async def settlements_csv(request: Request) -> Response:
        problem, path = refusal(request)
        if problem is not None or path is None:
            return problem or _problem(500, "unreachable")
        data = path.read_bytes()
        digest = base64.b64encode(hashlib.sha256(data).digest()).decode()
        headers = {
            "Digest": f"sha-256={digest}",
            "Content-Disposition": f'attachment; filename="{path.name}"',
        }
        return Response(data, media_type="text/csv", headers=headers)

    @app.get("/v1/settlements.csv.sha256")
    async def settlements_sidecar(request: Request) -> Response:
        problem, path = refusal(request)
        if problem is not None or path is None:
            return problem or _problem(500, "unreachable")
        sidecar = path.with_name(path.name + ".sha256")
        text = (
            sidecar.read_bytes()
            if sidecar.exists()
            else f"{hashlib.sha256(path.read_bytes()).hexdigest()}  {path.name}\n".encode()
        )
        return Response(text, media_type="text/plain")

    return app


@dataclass
class RunningBankApi:
    """A bank API served in a background thread; ``stop()`` shuts it down."""

    url: str
    server: uvicorn.Server
    thread: threading.Thread
    sock: socket.socket

    def stop(self, timeout: float = 20) -> None:
        """Ask the server to finish and wait for its thread."""
        self.server.should_exit = True
        self.thread.join(timeout=timeout)
        self.sock.close()


def run_bank_api(
    root: Path,
    token: str,
    port: int = 0,
    *,
    provider: str = "AXIS",
    host: str = "127.0.0.1",
    page_size: int = DEFAULT_PAGE_SIZE,
) -> RunningBankApi:
    """Serve the bank API with uvicorn on ``host:port`` (0 = a free port) in a daemon thread."""
    app = create_bank_api(root, token, provider=provider, page_size=page_size)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    bound = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, log_config=None, lifespan="off"))
    thread = threading.Thread(
        target=server.run, kwargs={"sockets": [sock]}, name="bank-api", daemon=True
    )
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            sock.close()
            raise RuntimeError(f"The sandbox bank API did not start on {host}:{bound}.")
        time.sleep(0.01)
    return RunningBankApi(f"http://{host}:{bound}", server, thread, sock)
