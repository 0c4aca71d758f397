"""File-name patterns with cycle-date tokens and globs, and checks on server-supplied names."""

from __future__ import annotations

import functools
import re
from datetime import date
from typing import Final

MAX_PATTERN_LENGTH: Final = 255

#: Longest token first, so ``YYYY-MM-DD`` is never read as ``YYYY`` plus literals, and ``YYYYMMDD``
#: is never read as ``YY`` + ``YYMMDD``.
_DATE_TOKENS: Final[tuple[tuple[str, str], ...]] = (
    ("YYYY-MM-DD", "%Y-%m-%d"),
    ("YYYYMMDD", "%Y%m%d"),
    ("DDMMYYYY", "%d%m%Y"),
    ("YYMMDD", "%y%m%d"),
)
_GLOBS: Final = {"*": ".*", "?": "."}

DEFAULT_PATTERNS: Final[dict[str, str]] = {
    "AXIS": "AXIS_RECON_YYYYMMDD*.csv",
    "BOB": "BOB_RECON_YYYYMMDD*.csv",
    "HDFC": "HDFC_TXN_YYYYMMDD*.csv",
    "ICICI": "ICICI_SETTLEMENT_YYYYMMDD*.csv",
    "SBI": "SBI_SETTLEMENT_YYYYMMDD*.csv",
    "YES": "YES_RECON_YYYYMMDD*.csv",
    "KOTAK": "KOTAK_RECON_YYYYMMDD*.csv",
    "PG": "PG_TXN_YYYYMMDD*.csv",
}


def _has_control_char(text: str) -> bool:
    return any(ord(ch) < 0x20 or ord(ch) == 0x7F for ch in text)


def _tokens(pattern: str) -> list[tuple[str, str | None]]:
    """Split a pattern into (text, strftime format or glob marker) parts, scanning left to right."""
    parts: list[tuple[str, str | None]] = []
    literal: list[str] = []
    i = 0
    while i < len(pattern):
        token = next((t for t in _DATE_TOKENS if pattern.startswith(t[0], i)), None)
        if token is not None:
            parts.append(("".join(literal), None))
            literal = []
            parts.append((token[0], token[1]))
            i += len(token[0])
        elif pattern[i] in _GLOBS:
            parts.append(("".join(literal), None))
            literal = []
            parts.append((pattern[i], pattern[i]))
            i += 1
        else:
            literal.append(pattern[i])
            i += 1
    parts.append(("".join(literal), None))
    return [p for p in parts if p[0]]


def validate_pattern(pattern: str) -> str | None:
    """Return a sentence saying what is wrong with a file pattern, or None if it is usable."""
    if not pattern:
        return "The file pattern is empty; give a name such as AXIS_RECON_YYYYMMDD*.csv."
    if len(pattern) > MAX_PATTERN_LENGTH:
        return f"The file pattern is {len(pattern)} characters long; the limit is 255."
    if "/" in pattern or "\\" in pattern:
        return "The file pattern must be a file name, not a path; remove every '/' and '\\'."
    if _has_control_char(pattern):
        return "The file pattern contains a control character (such as NUL or a newline)."
    if all(fmt is None for _, fmt in _tokens(pattern)):
        return (
            "The file pattern needs a date token (YYYYMMDD, YYYY-MM-DD, DDMMYYYY, YYMMDD) "
            "or a glob (* or ?) so it can match more than one fixed name."
        )
    return None


@functools.lru_cache(maxsize=1024)
def pattern_regex(pattern: str, cycle_date: date) -> re.Pattern[str]:
    """Compile a pattern into a full-match regex for the files of one cycle date."""
    pieces: list[str] = []
    for text, fmt in _tokens(pattern):
        if fmt is None:
            pieces.append(re.escape(text))
        elif fmt in _GLOBS:
            pieces.append(_GLOBS[fmt])
        else:
            pieces.append(re.escape(cycle_date.strftime(fmt)))
    # DOTALL so '*' also spans odd characters; unsafe names are refused separately.
    return re.compile("".join(pieces), re.DOTALL)


def matches(pattern: str, name: str, cycle_date: date) -> bool:
    """Whether a file name matches the pattern for the given cycle date."""
    return pattern_regex(pattern, cycle_date).fullmatch(name) is not None


def unsafe_name_reason(name: str) -> str | None:
    """Return why a server-supplied file name must not be used locally, or None if it is safe."""
    if name in ("", ".", ".."):
        return f"The server listed the name {name!r}, which is not a file name."
    if "/" in name or "\\" in name:
        return f"The server listed {name!r}, which contains a path separator."
    if "\x00" in name:
        return f"The server listed {name!r}, which contains a NUL byte."
    if _has_control_char(name):
        return f"The server listed {name!r}, which contains a control character."
    return None
