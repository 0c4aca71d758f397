"""Building and reading API connector requests: date tokens, Link headers, digests; pure, no I/O."""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Mapping
from datetime import date, datetime
from email.utils import parsedate_to_datetime
from typing import Any, Final
from urllib.parse import quote, unquote, urljoin, urlsplit

from bankfeeds.core.errors import ChecksumMismatch, ConfigError, ParseError
from bankfeeds.core.text import has_control_char

_TOKEN: Final = re.compile(r"\{([^{}]*)\}")
_SCHEME: Final = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:")
_HEX64: Final = re.compile(r"[0-9a-fA-F]{64}")
_UNSAFE_NAME: Final = re.compile(r"[^A-Za-z0-9_-]+")
#: Characters left alone in a rendered path or query value: RFC 3986 unreserved only.
_SAFE_VALUE: Final = "-._~"


def render_tokens(template: str, cycle_date: date, *, encode: bool = False) -> str:
    """Replace ``{cycleDate}`` (ISO) and ``{cycleDate:%d%m%Y}`` tokens; encode values if asked."""

    def one(found: re.Match[str]) -> str:
        name, _, fmt = found[1].partition(":")
        if name != "cycleDate":
            raise ConfigError(
                f"Unknown token {found[0]} in {template!r}; use {{cycleDate}} or "
                "{cycleDate:%Y-%m-%d}."
            )
        value = cycle_date.strftime(fmt) if fmt else cycle_date.isoformat()
        return quote(value, safe=_SAFE_VALUE) if encode else value

    return _TOKEN.sub(one, template)


#: Headers that frame or route the request, or that the adapter sets itself: never configurable.
_FORBIDDEN_HEADERS: Final = frozenset(
    {
        "host", "content-length", "transfer-encoding", "connection", "keep-alive", "te",
        "trailer", "upgrade", "accept-encoding", "expect",
    }
)  # fmt: skip
_HEADER_NAME: Final = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")
MAX_HEADER_NAME: Final = 100
MAX_HEADER_VALUE: Final = 4096
MAX_ENDPOINT: Final = 2000
#: Any date renders a template for the save-time check: the rules do not depend on the day.
_SAMPLE_DAY: Final = date(2000, 1, 31)


def control_problem(value: str) -> str | None:
    """Why a secret or header value is unusable: control characters (CR, LF, NUL, DEL...)."""
    if has_control_char(value):
        return "must not contain control characters such as line breaks"
    return None


def header_name_problem(name: str) -> str | None:
    """Why ``name`` cannot be a configured request header, or None."""
    if not 1 <= len(name) <= MAX_HEADER_NAME or not _HEADER_NAME.fullmatch(name):
        return f"must be an HTTP header name (letters, digits, '-'; at most {MAX_HEADER_NAME})"
    lowered = name.lower()
    if lowered in _FORBIDDEN_HEADERS or lowered.startswith("proxy-"):
        return "frames or routes the request and cannot be set"
    return None


def header_value_problem(value: str) -> str | None:
    """Why ``value`` cannot be sent in a request header, or None (the same rule at save and run)."""
    if (problem := control_problem(value)) is not None:
        return problem
    if len(value) > MAX_HEADER_VALUE:
        return f"must be at most {MAX_HEADER_VALUE} characters"
    if not value.isascii():
        return "must be ASCII text (it is sent in an HTTP header)"
    return None


def _path_problem(path: str) -> str | None:
    """Why a rendered endpoint path cannot be requested, or None."""
    if _SCHEME.match(path) or path.startswith(("//", "\\\\")) or "\\" in path:
        return "must be a path such as /v1/settlements, without a scheme or host"
    # Checked after decoding too, twice over: %2e%2e (and %252e%252e) is .. to some servers.
    decoded = path
    for _ in range(3):
        decoded = unquote(decoded)
    if any(seg in ("..", ".") for seg in decoded.replace("\\", "/").split("/")):
        return "must not contain . or .. segments (plain or percent-encoded)"
    return None


def template_problem(template: str) -> str | None:
    """Why a text with date tokens cannot be rendered on any day (an unknown token), or None."""
    try:
        render_tokens(template, _SAMPLE_DAY)
    except ConfigError:
        return "uses an unknown token; use {cycleDate} or {cycleDate:%Y-%m-%d}"
    return None


def endpoint_problem(endpoint: str) -> str | None:
    """Why an endpoint template cannot be requested on any day, or None (save and run)."""
    if len(endpoint) > MAX_ENDPOINT:
        return f"must be at most {MAX_ENDPOINT} characters"
    if has_control_char(endpoint) or " " in endpoint:
        return "must not contain spaces or control characters"
    if not endpoint.startswith("/"):
        return "must start with '/'"
    # The query after '?' is rendered too (``build_url``), so its tokens must be known as well.
    if (problem := template_problem(endpoint)) is not None:
        return problem
    return _path_problem(render_tokens(endpoint.partition("?")[0], _SAMPLE_DAY, encode=True))


def render_path(endpoint: str, cycle_date: date) -> str:
    """The endpoint's path with its tokens filled in; refuses a scheme, a host or ``..``."""
    path = render_tokens(endpoint, cycle_date, encode=True)
    if (problem := _path_problem(path)) is not None:
        raise ConfigError(f"The endpoint {endpoint!r} {problem}.")
    return path


def render_query(params: Mapping[str, str], cycle_date: date) -> str:
    """A query string from ``params`` with tokens rendered and names and values URL-encoded."""
    return "&".join(
        f"{quote(name, safe=_SAFE_VALUE)}="
        f"{quote(render_tokens(value, cycle_date), safe=_SAFE_VALUE)}"
        for name, value in params.items()
    )


def build_url(
    base_url: str, endpoint: str, query_params: Mapping[str, str], cycle_date: date
) -> str:
    """The URL of the first request for ``cycle_date``: base URL, rendered path and query."""
    path, _, own_query = endpoint.partition("?")
    rendered = render_path(path, cycle_date)
    queries = []
    if own_query:
        pairs = [pair.partition("=") for pair in own_query.split("&") if pair]
        queries.append(render_query({name: value for name, _, value in pairs}, cycle_date))
    if query_params:
        queries.append(render_query(query_params, cycle_date))
    url = base_url.rstrip("/") + "/" + rendered.lstrip("/") if rendered else base_url
    return url + ("?" + "&".join(queries) if queries else "")


def with_query_param(url: str, name: str, value: str) -> str:
    """``url`` with query parameter ``name`` set to ``value`` (replacing any earlier value)."""
    parts = urlsplit(url)
    key = quote(name, safe=_SAFE_VALUE)
    kept = [p for p in parts.query.split("&") if p and p.partition("=")[0] != key]
    kept.append(f"{key}={quote(value, safe=_SAFE_VALUE)}")
    return parts._replace(query="&".join(kept), fragment="").geturl()


def _split_outside(text: str, sep: str) -> list[str]:
    """Split on ``sep`` where it is not inside ``<...>`` or double quotes."""
    out: list[str] = []
    buf: list[str] = []
    in_uri = in_quote = False
    for ch in text:
        if ch == '"' and not in_uri:
            in_quote = not in_quote
        elif ch == "<" and not in_quote:
            in_uri = True
        elif ch == ">" and not in_quote:
            in_uri = False
        if ch == sep and not in_uri and not in_quote:
            out.append("".join(buf))
            buf = []
        else:
            buf.append(ch)
    out.append("".join(buf))
    return out


def next_link(link_header: str | None, current_url: str) -> str | None:
    """The absolute ``rel="next"`` target of an RFC 8288 ``Link`` header, or None."""
    if not link_header:
        return None
    for link in _split_outside(link_header, ","):
        target, *params = _split_outside(link.strip(), ";")
        target = target.strip()
        if not (target.startswith("<") and target.endswith(">")):
            continue
        for param in params:
            name, _, value = param.strip().partition("=")
            rels = value.strip().strip('"').lower().split()
            if name.strip().lower() == "rel" and "next" in rels:
                return urljoin(current_url, target[1:-1].strip())
    return None


def json_path(doc: Any, path: str) -> Any:
    """The value at a dotted path (``data.items``; numbers index arrays); ParseError if absent."""
    node = doc
    for step in (s for s in path.split(".") if s):
        if isinstance(node, dict) and step in node:
            node = node[step]
        elif isinstance(node, list) and step.isdigit() and int(step) < len(node):
            node = node[int(step)]
        else:
            raise ParseError(f"The response has nothing at {path!r} (stopped at {step!r}).")
    return node


def cursor_value(doc: Any, path: str) -> str | None:
    """The next-page cursor at ``path``, or None when it is absent, null or empty (last page)."""
    try:
        value = json_path(doc, path)
    except ParseError:
        return None
    if value is None or value == "" or value is False:
        return None
    if isinstance(value, dict | list):
        raise ParseError(f"The cursor at {path!r} is not a string or a number.")
    return str(value)


def _b64_sha256(value: str, header: str) -> str:
    try:
        raw = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raw = b""
    if len(raw) != 32:
        raise ChecksumMismatch(f"The server's {header} sha-256 value {value[:60]!r} is not valid.")
    return raw.hex()


def digest_sha256(header_name: str, value: str | None) -> str | None:
    """Hex SHA-256 of ``Digest: sha-256=<b64>`` or ``Repr-Digest: sha-256=:<b64>:``, or None.

    A sha-256 entry that is not 32 bytes of base64 raises ChecksumMismatch: the server claimed a
    checksum we cannot compare with.
    """
    if not value:
        return None
    for item in _split_outside(value, ","):
        algorithm, sep, encoded = item.strip().partition("=")
        if not sep or algorithm.strip().lower() != "sha-256":
            continue
        encoded = encoded.strip()
        if header_name.lower() == "repr-digest" or (encoded.startswith(":") and len(encoded) > 1):
            encoded = encoded.removeprefix(":").removesuffix(":")
        return _b64_sha256(encoded, header_name)
    return None


def checksum_header_sha256(header_name: str, value: str | None) -> str | None:
    """Hex SHA-256 from a bank's own checksum header (hex, or base64 of the 32 bytes)."""
    if value is None or not value.strip():
        return None
    text = value.strip()
    if text.lower().startswith("sha-256="):
        text = text[8:].strip(":")
    if _HEX64.fullmatch(text):
        return text.lower()
    return _b64_sha256(text, header_name)


def retry_after_seconds(value: str | None, now: datetime) -> float | None:
    """Seconds a ``Retry-After`` header asks us to wait (delta or HTTP date), None if unreadable."""
    if value is None or not value.strip():
        return None
    text = value.strip()
    if text.isdigit():
        return float(text)
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        return None
    return max(0.0, (when - now).total_seconds())


def day_file_name(endpoint: str, cycle_date: date) -> str:
    """A stable, safe file name for one day's delivery: ``settlements_20250110.csv``."""
    segments = [s for s in endpoint.partition("?")[0].split("/") if s]
    last = render_tokens(segments[-1], cycle_date) if segments else "api"
    stem = last.rsplit(".", 1)[0] if "." in last.lstrip(".") else last
    stem = _UNSAFE_NAME.sub("_", stem).strip("_.-")[:100] or "api"
    stamp = f"{cycle_date:%Y%m%d}"
    return f"{stem}.csv" if stamp in stem else f"{stem}_{stamp}.csv"
