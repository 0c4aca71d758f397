"""File-name patterns with cycle-date tokens and globs, and checks on server-supplied names."""

from __future__ import annotations

import functools
import re
import unicodedata
from datetime import date
from typing import Final

from bankfeeds.core.text import has_control_char

MAX_PATTERN_LENGTH: Final = 255
#: Longest file name used locally: what common file systems and the name columns hold.
MAX_NAME_LENGTH: Final = 255
#: Characters that change how a name displays without being visible: bidi embeddings, overrides
#: and isolates, and the line and paragraph separators. A name holding one can pose as another.
_INVISIBLE: Final = frozenset("\u061c\u200e\u200f\u2028\u2029") | frozenset(
    chr(c) for c in [*range(0x202A, 0x202F), *range(0x2066, 0x206A)]
)

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
    "SBI": "SBI_MIS_YYYYMMDD*.csv",
    "YES": "YES_SETTLEMENT_YYYYMMDD*.txt",
    "KOTAK": "KOTAK_SETTLEMENT_YYYYMMDD*.xlsx",
    "PG": "PG_TXN_YYYYMMDD*.csv",
}


def _odd_char(text: str) -> str | None:
    """The first C1 control, lone surrogate or display-changing character in ``text``, if any."""
    if text.isascii():  # all of those are outside ASCII; ASCII controls are refused before
        return None
    for ch in text:
        if ch in _INVISIBLE or unicodedata.category(ch) in ("Cc", "Cs"):
            return ch
    return None


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
    if has_control_char(pattern):
        return "The file pattern contains a control character (such as NUL or a newline)."
    if all(fmt is None for _, fmt in _tokens(pattern)):
        return (
            "The file pattern needs a date token (YYYYMMDD, YYYY-MM-DD, DDMMYYYY, YYMMDD) "
            "or a glob (* or ?) so it can match more than one fixed name."
        )
    return None


def date_formats(pattern: str) -> list[str]:
    """The strftime formats of the pattern's date tokens, left to right (``%Y%m%d`` …)."""
    return [fmt for _, fmt in _tokens(pattern) if fmt is not None and fmt not in _GLOBS]


def example_name(pattern: str, cycle_date: date, wildcard: str = "") -> str:
    """The pattern written out for one date: ``*`` left out, ``?`` as ``wildcard``."""
    out: list[str] = []
    for text, fmt in _tokens(pattern):
        if fmt is None:
            out.append(text)
        elif fmt == "?":
            out.append(wildcard)
        elif fmt != "*":
            out.append(cycle_date.strftime(fmt))
    return "".join(out)


@functools.lru_cache(maxsize=1024)
def pattern_regex(pattern: str, cycle_date: date) -> re.Pattern[str]:
    """Compile a pattern into a full-match regex for the files of one cycle date.

    For display and diagnostics only: :func:`matches` does not use it, because several ``*``
    (``.*``) in one regex backtrack polynomially on a long hostile name.
    """
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


@functools.lru_cache(maxsize=1024)
def _runs(
    pattern: str, cycle_date: date, ignore_case: bool = False
) -> tuple[tuple[re.Pattern[str], int], ...]:
    """The pattern for one date as the runs between its ``*``, with their widths.

    Each run is a regex without quantifiers (literals, and ``.`` for ``?``), so it matches exactly
    ``width`` characters. ``A*B*`` gives ``A``, ``B`` and an empty run: a leading or trailing
    ``*`` shows as an empty first or last run.
    """
    flags = re.DOTALL | (re.IGNORECASE if ignore_case else 0)
    runs: list[tuple[list[str], int]] = [([], 0)]
    for text, fmt in _tokens(pattern):
        if fmt == "*":
            runs.append(([], 0))
            continue
        literal = "" if fmt == "?" else text if fmt is None else cycle_date.strftime(fmt)
        parts, width = runs[-1]
        parts.append(re.escape(literal) if literal else ".")
        runs[-1] = (parts, width + (len(literal) or 1))
    return tuple((re.compile("".join(parts), flags), width) for parts, width in runs)


def matches(pattern: str, name: str, cycle_date: date, *, ignore_case: bool = False) -> bool:
    """Whether a file name matches the pattern for the given cycle date.

    Never backtracks across ``*``, so it runs in O(len(name) x len(pattern)) whatever either
    holds: the first and last runs are pinned to the ends, and each run in between is taken at its
    first occurrence, which is never worse than a later one since the next ``*`` absorbs the rest.
    ``ignore_case`` is for diagnostics (which names come close); fetching is case-sensitive.
    """
    runs = _runs(pattern, cycle_date, ignore_case)
    if len(runs) == 1:
        return runs[0][0].fullmatch(name) is not None
    (head, _), (tail, tail_width) = runs[0], runs[-1]
    end = len(name) - tail_width
    if end < 0 or tail.fullmatch(name, end) is None:
        return False
    found = head.match(name, 0, end)
    if found is None:
        return False
    at = found.end()
    for run, _ in runs[1:-1]:
        found = run.search(name, at, end)
        if found is None:
            return False
        at = found.end()
    return True


def unsafe_name_reason(name: str) -> str | None:
    """Return why a server-supplied file name must not be used locally, or None if it is safe."""
    if name in ("", ".", ".."):
        return f"The server listed the name {name!r}, which is not a file name."
    if "/" in name or "\\" in name:
        return f"The server listed {name!r}, which contains a path separator."
    if "\x00" in name:
        return f"The server listed {name!r}, which contains a NUL byte."
    if has_control_char(name):
        return f"The server listed {name!r}, which contains a control character."
    if len(name) > MAX_NAME_LENGTH:
        return (
            f"The server listed a name of {len(name)} characters ({name[:40]!r}…); "
            f"the limit is {MAX_NAME_LENGTH}."
        )
    odd = _odd_char(name)
    if odd is not None:
        return (
            f"The server listed {name!r}, which contains the invisible or undecodable "
            f"character U+{ord(odd):04X}."
        )
    return None


def normalisation_twins(names: list[str]) -> dict[str, list[str]]:
    """Names that differ from another listed name only by Unicode normalisation, each mapped to
    the others it cannot be told apart from (NFC and NFD spellings of ``é`` look the same)."""
    groups: dict[str, list[str]] = {}
    for name in dict.fromkeys(names):
        groups.setdefault(unicodedata.normalize("NFC", name), []).append(name)
    return {
        name: [other for other in group if other != name]
        for group in groups.values()
        if len(group) > 1
        for name in group
    }
