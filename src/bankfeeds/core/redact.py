"""Removing secrets from text before it is stored, logged or shown; pure, no I/O.

One function, :func:`redact`, is used at every boundary where a connector run's error text leaves
the run: the run record, the exceptions it opens, the log lines it writes, the test answer.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Iterable, Mapping
from typing import Final
from urllib.parse import quote, quote_plus

MASK: Final = "********"
#: Config fields whose values are secrets wherever they appear: encrypted at rest, masked in views,
#: redacted in the audit trail.
SECRET_FIELDS: Final = (
    "password", "privateKey", "passphrase", "token", "apiKey", "pgpPrivateKey", "pgpPassphrase"
)  # fmt: skip
#: Shorter values are not searched for: they would match everywhere and hide nothing worth it.
MIN_SECRET_CHARS: Final = 4

# ``Bearer <token>`` as sent in an Authorization header (a bank often quotes it back).
_BEARER: Final = re.compile(r"\b(Bearer)(\s+)([A-Za-z0-9._~+/=-]{8,})")
# ``Basic <base64 of user:pass>``: masked only when it really decodes to a user:pass pair, so
# prose such as "Basic authentication failed" is left alone.
_BASIC: Final = re.compile(r"\b(Basic)(\s+)([A-Za-z0-9+/]{4,}={0,2})")
# ``Authorization: ...``, ``X-Api-Key: ...``, ``api_key=...``, ``"client_secret": "..."``.
_NAMED: Final = re.compile(
    r"(?i)\b((?:proxy-)?authorization|cookie|set-cookie"
    r"|[a-z0-9_-]*(?:api[-_]?key|token|secret|password|passphrase)[a-z0-9_-]*)"
    r"""(["']?\s*[:=]\s*["']?)"""
    r"""(?!\*{8})((?:Bearer |Basic )?[^\s"',;&<>]+)"""
)


def _basic(found: re.Match[str]) -> str:
    try:
        decoded = base64.b64decode(found[3], validate=True)
    except (binascii.Error, ValueError):
        return found[0]
    return f"{found[1]}{found[2]}{MASK}" if b":" in decoded else found[0]


def secret_forms(value: str) -> set[str]:
    """The spellings of ``value`` an error message may carry: as is, escaped, URL-encoded."""
    forms = {
        value,
        repr(value)[1:-1],
        repr(value.encode("utf-8", "replace"))[2:-1],
        json.dumps(value)[1:-1],
        quote(value, safe=""),
        quote_plus(value, safe=""),
        " ".join(value.split()),
    }
    # A multi-line value may be quoted one line at a time.
    forms.update(line.strip() for line in value.splitlines())
    return {f for f in forms if len(f) >= MIN_SECRET_CHARS}


def basic_credentials(username: str, password: str) -> str:
    """The base64 ``user:pass`` an HTTP Basic header carries (itself a secret)."""
    return base64.b64encode(f"{username}:{password}".encode()).decode("ascii")


def secret_values(
    secrets: Mapping[str, str],
    headers: Mapping[str, str] | None = None,
    username: str | None = None,
) -> tuple[str, ...]:
    """Every value to hide for a connector: its secrets, custom header values, Basic pair."""
    values = [v for k, v in secrets.items() if k != "headers"]
    values += list((headers or {}).values())
    if username and "password" in secrets:
        values.append(basic_credentials(username, secrets["password"]))
    return tuple(v for v in values if v)


def redact(text: str, secrets: Iterable[str] = ()) -> str:
    """``text`` with every secret (in every spelling) and credential-like header value masked."""
    forms: set[str] = set()
    for secret in secrets:
        forms |= secret_forms(secret)
    # Longest first, so a secret that contains another is masked whole.
    for form in sorted(forms, key=len, reverse=True):
        text = text.replace(form, MASK)
    text = _BEARER.sub(rf"\1\2{MASK}", text)
    text = _BASIC.sub(_basic, text)
    return _NAMED.sub(rf"\1\2{MASK}", text)
