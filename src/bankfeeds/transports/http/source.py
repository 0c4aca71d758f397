"""The HTTP API source: the only code that fetches settlement data from a bank's API (httpx).

Every request and every redirect hop passes the SSRF guard (``transports/ssrf.py``) and then
connects to the address the guard checked, sending the real host name as ``Host`` and as the TLS
server name, so the certificate is still verified for the host. Bodies stream to staging files,
hashed as they arrive and cut off at the size cap. Whether a checksum mismatch fails the file is
the pipeline's decision: this module only reports what the server said the SHA-256 should be.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import json
import logging
import re
import ssl
import time
from collections.abc import AsyncIterator, Callable, Generator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from email.message import Message
from pathlib import Path
from typing import Any, Final, Literal
from urllib.parse import urljoin, urlsplit, urlunsplit

import httpx

from bankfeeds.core.errors import (
    ApiProtocolError,
    ApiRateLimited,
    ApiRefused,
    ApiUnavailable,
    ParseError,
    ResponseTooLarge,
)
from bankfeeds.core.redact import redact, secret_values
from bankfeeds.transports.addresses import DEFAULT_PORTS, Origin
from bankfeeds.transports.checksum import parse_sidecar
from bankfeeds.transports.http.formats import (
    json_records,
    write_csv_pages,
    write_records_csv,
    xml_records,
)
from bankfeeds.transports.http.requests import (
    build_url,
    checksum_header_sha256,
    cursor_value,
    day_file_name,
    digest_sha256,
    next_link,
    render_tokens,
    retry_after_seconds,
    with_query_param,
)
from bankfeeds.transports.sink import HashingSink
from bankfeeds.transports.ssrf import SafeTarget, resolve_safe

log = logging.getLogger(__name__)

AuthType = Literal["none", "bearer", "apiKey", "basic"]
ResponseFormat = Literal["csv", "json", "xml"]
Pagination = Literal["none", "link", "cursor"]

MAX_REDIRECTS: Final = 5
#: 429 answers waited out per request before giving the decision back to the run's retry policy.
MAX_RATE_LIMIT_WAITS: Final = 3
SIDECAR_LIMIT: Final = 64 * 1024
DEFAULT_MAX_BYTES: Final = 512 * 1024 * 1024
_REDIRECTS: Final = frozenset({301, 302, 303, 307, 308})
_MESSAGE_CHARS: Final = 200
_ERROR_BODY_LIMIT: Final = 8 * 1024
_DEFAULT_PORTS: Final = DEFAULT_PORTS


@dataclass(frozen=True)
class HttpParams:
    """How to call one bank API for a day: URL template, auth, format, paging, checksums, caps."""

    base_url: str
    endpoint: str = ""
    auth_type: AuthType = "none"
    token: str | None = field(default=None, repr=False)
    api_key: str | None = field(default=None, repr=False)
    api_key_header: str = "X-API-Key"
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    headers: Mapping[str, str] = field(default_factory=dict, repr=False)
    query_params: Mapping[str, str] = field(default_factory=dict)
    response_format: ResponseFormat = "csv"
    records_path: str | None = None
    pagination: Pagination = "none"
    cursor_field: str | None = None
    cursor_param: str = "cursor"
    checksum_header: str | None = None
    sidecar_url: str | None = None
    max_pages: int = 1000
    record_tag: str | None = None
    connect_timeout: float = 15
    read_timeout: float = 60
    max_bytes: int = DEFAULT_MAX_BYTES
    allow_hosts: frozenset[str] = frozenset()
    max_retry_after_seconds: float = 60
    #: PEM file of CA certificates to trust instead of the public ones (a bank's private CA).
    ca_file: str | None = None

    def secret_values(self) -> tuple[str, ...]:
        """Every value error text must not carry: secrets, header values, the Basic pair."""
        secrets = {"token": self.token, "apiKey": self.api_key, "password": self.password}
        kept = {k: v for k, v in secrets.items() if v}
        return secret_values(kept, self.headers, self.username)


@dataclass(frozen=True)
class Page:
    """One response body as delivered, in its staging file, with the SHA-256 the server gave."""

    url: str
    path: Path
    sha256: str
    size: int
    #: What the server said the SHA-256 is (None when it said nothing); compared by the pipeline.
    expected_sha256: str | None
    status: int
    #: Where ``expected_sha256`` came from: a header name or ``sidecar``.
    checksum_source: str | None = None


@dataclass(frozen=True)
class ApiDelivery:
    """A day's pages and the one CSV file assembled from them (the file the pipeline ingests).

    For a single CSV response the file is the page itself (same path and SHA-256).
    """

    pages: list[Page]
    path: Path
    sha256: str
    size: int
    name: str
    #: Why the bank has nothing for the day (a holiday); then there is no file to ingest.
    no_data: str | None = None

    @property
    def checksum_mismatches(self) -> list[Page]:
        """Pages whose SHA-256 differs from what the server said."""
        return [
            p for p in self.pages if p.expected_sha256 is not None and p.expected_sha256 != p.sha256
        ]


class _Budget:
    """Bytes still allowed across all of a day's responses."""

    def __init__(self, limit: int, progress: Callable[[int], None] | None) -> None:
        self.limit = limit
        self.used = 0
        self._progress = progress

    def take(self, count: int, url: str) -> None:
        self.used += count
        if self.used > self.limit:
            raise ResponseTooLarge(
                f"The response from {_shown(url)} passed the {self.limit:,}-byte cap; refused."
            )
        if self._progress is not None:
            self._progress(self.used)


def _shown(url: str) -> str:
    """A URL as it may appear in messages and logs (no fragment; credentials never get here)."""
    return urlsplit(url)._replace(fragment="").geturl()


def _origin(url: str) -> Origin:
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").rstrip(".").lower()
    return scheme, host, parts.port or _DEFAULT_PORTS.get(scheme, 0)


def _netloc(host: str, port: int, scheme: str) -> str:
    shown = f"[{host}]" if ":" in host else host
    return shown if _DEFAULT_PORTS.get(scheme) == port else f"{shown}:{port}"


def _clean_message(text: str) -> str:
    return " ".join(text.split())[:_MESSAGE_CHARS]


def _message_from(body: bytes) -> str:
    """The server's own explanation: a JSON ``message``/``detail``/``error``, else its text."""
    text = body.decode("utf-8", "replace")
    try:
        doc = json.loads(text)
    except ValueError:
        return _clean_message(text)
    for key in ("message", "detail", "error_description", "error", "title"):
        value = doc.get(key) if isinstance(doc, dict) else None
        if isinstance(value, dict):
            value = value.get("message") or value.get("detail")
        if isinstance(value, str) and value.strip():
            return _clean_message(value)
    return _clean_message(text)


def _filename(headers: httpx.Headers) -> str | None:
    """The file name a ``Content-Disposition`` header gives, if any."""
    disposition = headers.get("content-disposition")
    if not disposition:
        return None
    message = Message()
    message["content-disposition"] = disposition
    name = message.get_filename()
    return name.replace("\\", "/").rsplit("/", 1)[-1] if name else None


class _HashingWriter:
    """A file writer that also counts and hashes what passes through it."""

    def __init__(self, out: Any) -> None:
        self._out = out
        self.digest = hashlib.sha256()
        self.size = 0

    def write(self, data: bytes, /) -> int:
        self.digest.update(data)
        self.size += len(data)
        written: int = self._out.write(data)
        return written


def _opened(paths: list[Path]) -> Generator[Any, None, None]:
    for path in paths:
        with path.open("rb") as handle:
            yield handle


def _assemble(params: HttpParams, pages: list[Path], dest: Path) -> tuple[str, int]:
    """Write the day's CSV from its pages (a worker thread); return its SHA-256 and size."""
    try:
        with dest.open("wb") as raw:
            out = _HashingWriter(raw)
            if params.response_format == "csv":
                with contextlib.closing(_opened(pages)) as handles:
                    write_csv_pages(handles, out)
            else:
                records = []
                for path in pages:
                    body = path.read_bytes()
                    if params.response_format == "json":
                        records += json_records(body, params.records_path)
                    else:
                        records += xml_records(body, params.record_tag)
                write_records_csv(records, out)
    except BaseException:
        dest.unlink(missing_ok=True)
        raise
    return out.digest.hexdigest(), out.size


def _ssl_context(ca_file: str | None) -> ssl.SSLContext:
    if ca_file is None:
        import certifi

        return ssl.create_default_context(cafile=certifi.where())
    return ssl.create_default_context(cafile=ca_file)


def _is_tls_failure(exc: BaseException) -> bool:
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, ssl.SSLCertVerificationError):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


class HttpSource:
    """A bank API session for one connector; open with ``async with open_http(params)``."""

    def __init__(self, params: HttpParams, tls: ssl.SSLContext) -> None:
        self.params = params
        self._tls = tls
        self._clients: dict[tuple[str, str, int], httpx.AsyncClient] = {}
        self._secrets = params.secret_values()

    def _say(self, text: str) -> str:
        """``text`` fit for an error message: no secret of this connector in any spelling."""
        return redact(text, self._secrets)

    async def aclose(self) -> None:
        """Close every connection."""
        clients, self._clients = list(self._clients.values()), {}
        for client in clients:
            await client.aclose()

    def _client(self, target: SafeTarget) -> httpx.AsyncClient:
        # One pool per host name: pools are keyed by the pinned address, and a connection made
        # for one host name (its TLS server name) must not be reused for another.
        key = (target.scheme, target.host, target.port)
        client = self._clients.get(key)
        if client is None:
            p = self.params
            client = httpx.AsyncClient(
                timeout=httpx.Timeout(
                    connect=p.connect_timeout,
                    read=p.read_timeout,
                    write=p.read_timeout,
                    pool=p.connect_timeout,
                ),
                follow_redirects=False,
                # An environment proxy would connect by name and undo the pinning.
                trust_env=False,
                verify=self._tls,
            )
            self._clients[key] = client
        return client

    def _auth_headers(self) -> dict[str, str]:
        p = self.params
        if p.auth_type == "bearer" and p.token:
            return {"Authorization": f"Bearer {p.token}"}
        if p.auth_type == "apiKey" and p.api_key:
            return {p.api_key_header: p.api_key}
        if p.auth_type == "basic" and p.username is not None:
            pair = f"{p.username}:{p.password or ''}".encode()
            return {"Authorization": "Basic " + base64.b64encode(pair).decode("ascii")}
        return {}

    async def _send(self, target: SafeTarget, with_auth: bool) -> httpx.Response:
        """GET the guard's checked addresses in turn (pinned); return the first answer.

        ``with_auth``: the custom headers and the credentials go along (same origin only).
        """
        parts = urlsplit(target.url)
        headers = {
            **(self.params.headers if with_auth else {}),
            "Host": _netloc(target.host, target.port, target.scheme),
            # The checksum a server sends is over the bytes as sent; ask for them uncompressed.
            "Accept-Encoding": "identity",
            "User-Agent": "bankfeeds",
        }
        if with_auth:
            headers.update(self._auth_headers())
        extensions = {"sni_hostname": target.host} if target.scheme == "https" else {}
        client = self._client(target)
        failure: httpx.HTTPError | None = None
        for ip in target.ips:
            pinned = urlunsplit(
                (parts.scheme, _netloc(ip, target.port, "pin"), parts.path or "/", parts.query, "")
            )
            request = client.build_request("GET", pinned, headers=headers, extensions=extensions)
            try:
                return await client.send(request, stream=True)
            except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
                if _is_tls_failure(exc):
                    raise ApiProtocolError(
                        self._say(f"The TLS certificate of {target.host} was refused: {exc}.")
                    ) from exc
                failure = exc  # try the host's next address
            except httpx.TimeoutException as exc:
                raise ApiUnavailable(
                    f"{target.host} did not answer within {self.params.read_timeout:g} s."
                ) from exc
            except httpx.HTTPError as exc:
                raise ApiUnavailable(
                    self._say(f"The request to {target.host} failed: {exc}.")
                ) from exc
        where = f"{target.host}:{target.port}"
        raise ApiUnavailable(self._say(f"Could not connect to {where}: {failure}.")) from failure

    async def _refusal(self, response: httpx.Response, url: str) -> None:
        """Raise the error for a 4xx or 5xx answer, with the server's own message."""
        body = b""
        with contextlib.suppress(httpx.HTTPError):
            async for chunk in response.aiter_bytes():
                body += chunk
                if len(body) >= _ERROR_BODY_LIMIT:
                    break
        await response.aclose()
        # Redacted before it is cut to a sentence, so no prefix of a quoted secret survives.
        text = self._say(body[:_ERROR_BODY_LIMIT].decode("utf-8", "replace"))
        said = _message_from(text.encode("utf-8"))
        status = response.status_code
        sentence = self._say(
            f"{_shown(url)} answered HTTP {status}" + (f": {said.rstrip('.')}" if said else "")
        )
        if status >= 500:
            raise ApiUnavailable(sentence + ".", http_status=status)
        hint = " Check the connector's credentials." if status in (401, 403) else ""
        raise ApiRefused(sentence + "." + hint, http_status=status)

    @contextlib.asynccontextmanager
    async def exchange(
        self, url: str, *, trusted: Origin | None = None
    ) -> AsyncIterator[tuple[str, httpx.Response]]:
        """GET ``url`` through the guard, following redirects and waiting out short 429s.

        ``trusted`` is the origin the connector was configured with (default: ``url``'s own);
        only requests to it carry the credentials and custom headers, and only it may use a
        bare allow-list entry on another port. Yields the final URL and the (streaming, 2xx)
        response; raises our errors otherwise.
        """
        current, origin = url, trusted or _origin(url)
        hops = waits = 0
        while True:
            # Scheme, host and port: anything else is another origin (as browsers judge it).
            same = _origin(current) == origin
            target = await resolve_safe(current, self.params.allow_hosts, configured=same)
            response = await self._send(target, with_auth=same)
            status = response.status_code
            if status in _REDIRECTS:
                location = response.headers.get("location")
                await response.aclose()
                hops += 1
                if not location or hops > MAX_REDIRECTS:
                    why = (
                        "without a Location" if not location else f"more than {MAX_REDIRECTS} times"
                    )
                    raise ApiProtocolError(f"{_shown(url)} redirected {why}.")
                current = urljoin(current, location.strip())
                continue
            if status == 429:
                await response.aclose()
                wait = retry_after_seconds(response.headers.get("retry-after"), datetime.now(UTC))
                waits += 1
                cap = self.params.max_retry_after_seconds
                if wait is None or wait > cap or waits > MAX_RATE_LIMIT_WAITS:
                    asked = f"{wait:g} s" if wait is not None else "an unstated time"
                    raise ApiRateLimited(
                        f"{_shown(current)} is rate limiting us (HTTP 429, retry after {asked}).",
                        retry_after=wait,
                    )
                log.info("rate limited, waiting", extra={"url": _shown(current), "wait_s": wait})
                await asyncio.sleep(wait)
                continue
            if status >= 400:
                await self._refusal(response, current)
            if not 200 <= status < 300:
                await response.aclose()
                raise ApiProtocolError(f"{_shown(current)} answered HTTP {status}, not 2xx.")
            try:
                yield current, response
            finally:
                await response.aclose()
            return

    async def _stream(
        self, response: httpx.Response, url: str, dest: Path, budget: _Budget
    ) -> tuple[str, int]:
        """Stream a body to ``dest``, hashing as it goes; ``dest`` is removed on any failure."""
        length = response.headers.get("content-length", "")
        if length.isdigit() and budget.used + int(length) > budget.limit:
            raise ResponseTooLarge(
                f"{_shown(url)} announced {int(length):,} bytes, over the "
                f"{budget.limit:,}-byte cap; refused."
            )
        sink = HashingSink(dest)
        try:
            try:
                async for chunk in response.aiter_bytes():
                    budget.take(len(chunk), url)
                    await sink.put(chunk)
            except httpx.TimeoutException as exc:
                raise ApiUnavailable(
                    f"{_shown(url)} sent nothing for {self.params.read_timeout:g} s."
                ) from exc
            except httpx.HTTPError as exc:
                raise ApiUnavailable(
                    self._say(f"The response from {_shown(url)} broke off: {exc}.")
                ) from exc
            return await sink.finish()
        except BaseException:
            await sink.abort()
            raise

    async def read_small(self, url: str, limit: int = SIDECAR_LIMIT) -> bytes:
        """GET a small body (a sidecar) into memory, refusing anything over ``limit`` bytes."""
        async with self.exchange(url) as (final, response):
            body = b""
            try:
                async for chunk in response.aiter_bytes():
                    body += chunk
                    if len(body) > limit:
                        raise ResponseTooLarge(
                            f"{_shown(final)} is over {limit:,} bytes; it is not a checksum file."
                        )
            except httpx.HTTPError as exc:
                raise ApiUnavailable(
                    self._say(f"The response from {_shown(final)} broke off: {exc}.")
                ) from exc
        return body

    def _expected(self, headers: httpx.Headers) -> tuple[str | None, str | None]:
        """The SHA-256 the response's headers claim, and which header claimed it."""
        configured = self.params.checksum_header
        if configured:
            value = checksum_header_sha256(configured, headers.get(configured))
            if value is not None:
                return value, configured
        for name in ("Repr-Digest", "Content-Digest", "Digest"):
            value = digest_sha256(name, headers.get(name))
            if value is not None:
                return value, name
        return None, None

    async def _fetch_page(
        self, url: str, dest: Path, budget: _Budget, trusted: Origin
    ) -> tuple[Page, httpx.Headers, str | None]:
        """Fetch one page to ``dest``; return it, its headers and the file name it came as."""
        # A next-page link may name another origin: it gets no credentials (``trusted``).
        async with self.exchange(url, trusted=trusted) as (final, response):
            sha256, size = await self._stream(response, final, dest, budget)
            expected, source = self._expected(response.headers)
            page = Page(final, dest, sha256, size, expected, response.status_code, source)
            log.info(
                "api page fetched",
                extra={"url": _shown(final), "status": page.status, "bytes": size},
            )
            return page, response.headers, _filename(response.headers)

    async def _sidecar(self, page: Page, filename: str | None, cycle_date: date) -> Page:
        """The page with the SHA-256 from the configured sidecar URL as its expectation."""
        template = self.params.sidecar_url or ""
        if re.match(r"^[A-Za-z][A-Za-z0-9+.-]*://", template):
            url = render_tokens(template, cycle_date, encode=True)
        else:
            url = build_url(self.params.base_url, template, {}, cycle_date)
        content = await self.read_small(url)
        name = filename or urlsplit(page.url).path.rsplit("/", 1)[-1] or "response"
        expected = parse_sidecar(content, name)
        return Page(page.url, page.path, page.sha256, page.size, expected, page.status, "sidecar")

    async def _next_url(self, first: str, page: Page, headers: httpx.Headers) -> str | None:
        """The next page's URL, or None on the last page."""
        p = self.params
        if p.pagination == "link":
            return next_link(headers.get("link"), page.url)
        if p.pagination == "cursor" and p.cursor_field:
            try:
                doc = json.loads(await asyncio.to_thread(page.path.read_bytes))
            except ValueError as exc:
                raise ParseError(f"Page {page.url} is not valid JSON: {exc}.") from exc
            cursor = cursor_value(doc, p.cursor_field)
            return with_query_param(first, p.cursor_param, cursor) if cursor else None
        return None

    async def fetch_day(
        self, cycle_date: date, staging: Path, progress: Callable[[int], None] | None = None
    ) -> ApiDelivery:
        """Fetch every page for ``cycle_date`` into ``staging`` and assemble the day's CSV.

        ``progress`` gets the running byte count. Page files stay in ``staging`` next to the
        assembled file (the caller cleans staging); on failure this call's files are removed.
        A day the bank has nothing for (the first request answers 404, or no page has a byte or
        a record) is a delivery with ``no_data`` set and no file.
        """
        p = self.params
        first = build_url(p.base_url, p.endpoint, p.query_params, cycle_date)
        name = day_file_name(p.endpoint, cycle_date)
        stem = name.removesuffix(".csv")
        single_csv = p.response_format == "csv" and p.pagination == "none"
        budget = _Budget(p.max_bytes, progress)
        pages: list[Page] = []
        seen: set[str] = set()
        url: str | None = first
        try:
            while url is not None:
                if len(pages) >= p.max_pages:
                    raise ApiProtocolError(
                        f"{_shown(first)} has more than {p.max_pages} pages (maxPages); refused."
                    )
                seen.add(url)
                number = len(pages) + 1
                dest = staging / (
                    name if single_csv else f"{stem}.page{number:04d}.{p.response_format}"
                )
                try:
                    page, headers, filename = await self._fetch_page(
                        url, dest, budget, _origin(first)
                    )
                except ApiRefused as exc:
                    # A bank API says "no file for that day" (a holiday) with a 404 on the day's
                    # first request; a 404 on a later page is a broken chain and stays an error.
                    if pages or exc.http_status != 404:
                        raise
                    return self._no_data(cycle_date, staging / name, exc.message)
                pages.append(page)
                if p.sidecar_url:
                    pages[-1] = await self._sidecar(page, filename, cycle_date)
                url = await self._next_url(first, page, headers)
                if url is not None and url in seen:
                    raise ApiProtocolError(f"{_shown(first)}'s pages lead back to {_shown(url)}.")
            if not any(pg.size for pg in pages):  # 204 No Content, or empty bodies
                for page in pages:
                    page.path.unlink(missing_ok=True)
                why = f"{_shown(first)} sent nothing."
                return self._no_data(cycle_date, staging / name, why, pages)
            if single_csv:
                only = pages[0]
                return ApiDelivery(pages, only.path, only.sha256, only.size, name)
            sha256, size = await asyncio.to_thread(
                _assemble, p, [pg.path for pg in pages], staging / name
            )
        except BaseException:
            for page in pages:
                page.path.unlink(missing_ok=True)
            raise
        if size == 0:  # JSON or XML pages without a single record
            why = f"{_shown(first)} returned no records."
            return self._no_data(cycle_date, staging / name, why, pages)
        return ApiDelivery(pages, staging / name, sha256, size, name)

    @staticmethod
    def _no_data(
        cycle_date: date, path: Path, why: str, pages: list[Page] | None = None
    ) -> ApiDelivery:
        """The delivery of a day the bank has nothing for: no file, and the reason."""
        sentence = f"No data for {cycle_date.isoformat()}: {why}"
        return ApiDelivery(pages or [], path, "", 0, path.name, no_data=sentence)


@contextlib.asynccontextmanager
async def open_http(params: HttpParams) -> AsyncIterator[HttpSource]:
    """An HttpSource for ``params``; closes its connections on exit.

    A connector's params were checked by its config model (``connectors.model.ApiConfig``)
    when they were built, so nothing is checked again here.
    """
    tls = await asyncio.to_thread(_ssl_context, params.ca_file)
    source = HttpSource(params, tls)
    try:
        yield source
    finally:
        await source.aclose()


async def check_reachable(params: HttpParams, *, today: date | None = None) -> str:
    """Test connection: check the URL and make one request for yesterday; a one-line summary."""
    day = (today or datetime.now(UTC).date()) - timedelta(days=1)
    url = build_url(params.base_url, params.endpoint, params.query_params, day)
    target = await resolve_safe(url, params.allow_hosts)
    started = time.monotonic()
    async with open_http(params) as source, source.exchange(url) as (_final, response):
        status = response.status_code
    elapsed = (time.monotonic() - started) * 1000
    return (
        f"{target.host} ({target.ip}) answered HTTP {status} for {day.isoformat()} "
        f"in {elapsed:.0f} ms."
    )
