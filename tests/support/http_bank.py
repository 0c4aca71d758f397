"""A bank API for HTTP source tests: every behaviour the adapter must handle, on a real server."""

from __future__ import annotations

import asyncio
import base64
import datetime as dt
import hashlib
import socket
import threading
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import uvicorn
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse

CSV_BODY = b"TXNID,AMOUNT,UTR\nT1,100.00,UTR1\nT2,250.50,UTR2\n"
CSV_SHA = hashlib.sha256(CSV_BODY).hexdigest()
TOKEN = "tok-s3cret"
API_KEY = "key-s3cret"
USER, PASSWORD = "merchant", "pa:ss"
PAGES = [
    [{"id": "T1", "amount": 10.00}, {"id": "T2", "amount": 20.5}],
    [{"id": "T3", "amount": 30, "note": "late"}],
    [{"id": "T4", "amount": 40, "meta": {"k": 1}}],
]


def _b64(data: bytes) -> str:
    return base64.b64encode(hashlib.sha256(data).digest()).decode()


def _check_headers(body: bytes, check: str, wrong: bool) -> dict[str, str]:
    """The checksum header a test asked for, right or deliberately wrong."""
    signed = body + b"tampered" if wrong else body
    return {
        "digest": {"Digest": f"sha-256={_b64(signed)}"},
        "repr": {"Repr-Digest": f"sha-256=:{_b64(signed)}:"},
        "header": {"X-Checksum-SHA256": hashlib.sha256(signed).hexdigest()},
        "none": {},
    }[check]


def create_test_bank() -> FastAPI:
    """The test bank; ``app.state.seen`` records (path, headers) of every request."""
    app = FastAPI()
    seen: list[tuple[str, dict[str, str]]] = []
    hits: dict[str, int] = {}
    app.state.seen = seen

    @app.middleware("http")
    async def record(request: Request, call_next):  # type: ignore[no-untyped-def]
        seen.append((request.url.path + "?" + request.url.query, dict(request.headers)))
        return await call_next(request)

    def hit(key: str) -> int:
        hits[key] = hits.get(key, 0) + 1
        return hits[key]

    @app.get("/csv")
    async def csv_file(check: str = "digest", wrong: int = 0) -> Response:
        headers = _check_headers(CSV_BODY, check, bool(wrong))
        headers["Content-Disposition"] = 'attachment; filename="settlements.csv"'
        return Response(CSV_BODY, media_type="text/csv", headers=headers)

    @app.get("/csv.sha256")
    async def sidecar(wrong: int = 0, name: str = "settlements.csv") -> Response:
        digest = hashlib.sha256(CSV_BODY + (b"x" if wrong else b"")).hexdigest()
        return Response(f"{digest}  {name}\n", media_type="text/plain")

    @app.get("/csv/link")
    async def csv_pages(page: int = 1) -> Response:
        rows = {1: b"T1,1\nT2,2\n", 2: b"T3,3\n", 3: b"T4,4"}[page]
        headers = {"Link": f'</csv/link?page={page + 1}>; rel="next"'} if page < 3 else {}
        return Response(b"ID,AMT\n" + rows, media_type="text/csv", headers=headers)

    @app.get("/json/link")
    async def json_link(request: Request, page: int = 1) -> Response:
        body = JSONResponse({"data": PAGES[page - 1], "page": page}).body
        headers = _check_headers(body, "repr", False)
        if page < len(PAGES):
            nxt = str(request.url.include_query_params(page=page + 1))
            headers["Link"] = f'<{nxt}>; rel="next", </json/link?page=1>; rel="first"'
        return Response(body, media_type="application/json", headers=headers)

    @app.get("/json/cursor")
    async def json_cursor(cursor: str | None = None, loop: int = 0) -> JSONResponse:
        index = {None: 0, "c2": 1, "c3": 2}[cursor]
        nxt = None if index == len(PAGES) - 1 else f"c{index + 2}"
        if loop:
            nxt = "c2"
        return JSONResponse({"result": {"items": PAGES[index]}, "meta": {"next": nxt}})

    @app.get("/xml")
    async def xml() -> Response:
        body = (
            b'<?xml version="1.0"?><settlements><txn id="T1"><amount>10.00</amount></txn>'
            b'<txn id="T2"><amount>20.00</amount><utr>U2</utr></txn></settlements>'
        )
        return Response(body, media_type="application/xml")

    @app.get("/limited")
    async def limited(key: str, after: str = "1") -> Response:
        if hit(f"limited:{key}") == 1 or after == "3600":
            return JSONResponse(
                {"message": "slow down"}, status_code=429, headers={"Retry-After": after}
            )
        return Response(CSV_BODY, media_type="text/csv")

    @app.get("/flaky")
    async def flaky(key: str) -> Response:
        if hit(f"flaky:{key}") == 1:
            return JSONResponse({"error": "database down"}, status_code=500)
        return Response(CSV_BODY, media_type="text/csv")

    @app.get("/refuse")
    async def refuse() -> JSONResponse:
        return JSONResponse({"message": "token expired for merchant 42"}, status_code=403)

    @app.get("/missing")
    async def missing() -> Response:
        return Response("no such report\n" * 50, status_code=404, media_type="text/plain")

    @app.get("/empty")
    async def empty() -> Response:
        return Response(status_code=204)

    @app.get("/redirect")
    async def redirect(to: str, code: int = 302) -> Response:
        return Response(status_code=code, headers={"Location": to})

    @app.get("/loop")
    async def loop() -> Response:
        return Response(status_code=307, headers={"Location": "/loop"})

    @app.get("/huge")
    async def huge(size: int, announce: int = 0) -> Response:
        block = b"0123456789abcdef" * 4096

        async def body() -> AsyncIterator[bytes]:
            sent = 0
            while sent < size:
                chunk = block[: size - sent]
                sent += len(chunk)
                yield chunk

        headers = {"Content-Length": str(size)} if announce else {}
        return StreamingResponse(body(), media_type="text/csv", headers=headers)

    @app.get("/slow")
    async def slow() -> Response:
        await asyncio.sleep(3)
        return Response(CSV_BODY, media_type="text/csv")

    @app.get("/auth")
    async def auth(request: Request) -> Response:
        pair = base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
        accepted = {f"Bearer {TOKEN}", f"Basic {pair}"}
        if request.headers.get("authorization") in accepted or API_KEY in (
            request.headers.get("x-api-key"),
            request.headers.get("x-bank-key"),
        ):
            return Response(CSV_BODY, media_type="text/csv")
        return JSONResponse({"detail": "missing or wrong credentials"}, status_code=401)

    return app


@dataclass(frozen=True)
class Tls:
    """A self-signed certificate for ``localhost`` (the CA file a client trusts is the cert)."""

    cert: Path
    key: Path


def make_tls(folder: Path) -> Tls:
    """Write a self-signed certificate valid only for the DNS name ``localhost``."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "bankfeeds test bank")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(hours=1))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost")]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    paths = Tls(folder / "cert.pem", folder / "key.pem")
    paths.cert.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    paths.key.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return paths


@contextmanager
def serve_tls(app: FastAPI, tls: Tls) -> Iterator[int]:
    """Serve ``app`` over HTTPS on 127.0.0.1; yield the port; stop on exit."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(
        app,
        log_level="warning",
        lifespan="off",
        ssl_certfile=str(tls.cert),
        ssl_keyfile=str(tls.key),
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the TLS test server did not start")
        time.sleep(0.01)
    try:
        yield port
    finally:
        server.should_exit = True
        thread.join(timeout=20)
        sock.close()
