"""The listed names nearest a file pattern that matched none, for a run's "no file" message.

A bank that writes ``.CSV`` for ``*.csv``, sends ``.txt`` or ``.csv.gz``, or dates its file a day
off leaves a run with nothing to fetch; naming the near misses tells the operator what to change.
Pure: the caller lists the directory.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime
from typing import Final

from bankfeeds.connectors.patterns import date_formats, example_name, matches

MAX_NEAREST: Final = 5
#: Windows of digits tried as a date per name and format: bounds the work on long odd names.
_MAX_DATE_WINDOWS: Final = 16
#: Stands for the pattern's ``?`` in the written-out name; matches any character at no cost.
_ANY: Final = "\x00"
_FORMAT_DIGITS: Final = {"%Y": r"\d{4}", "%m": r"\d{2}", "%d": r"\d{2}", "%y": r"\d{2}"}


@dataclass(frozen=True, slots=True)
class Near:
    """A listed name that nearly matched, and how it differs from what the pattern wants."""

    name: str
    why: str
    #: Orders near misses: by kind first (case, extension, date, spelling), then by closeness.
    rank: tuple[int, int]


def _split_ext(text: str) -> tuple[str, str | None]:
    """``name.ext`` → (``name``, ``.ext``); a leading dot or none at all is no extension."""
    stem, dot, ext = text.rpartition(".")
    if not dot or not stem:
        return text, None
    return stem, "." + ext


def _pattern_ext(pattern: str) -> tuple[str, str | None]:
    """The pattern without its literal extension, and that extension (None if it is a glob)."""
    stem, ext = _split_ext(pattern)
    if ext is None or any(ch in ext for ch in "*?") or date_formats(ext):
        return pattern, None
    return stem, ext


@functools.lru_cache(maxsize=64)
def _format_regex(fmt: str) -> re.Pattern[str]:
    # Formats are %Y-%m-%d style: every non-directive is a literal separator.
    parts = re.split(r"(%[Ymdy])", fmt)
    body = "".join(_FORMAT_DIGITS.get(p, re.escape(p)) for p in parts if p)
    return re.compile(f"(?=({body}))")


def _dates_in(name: str, formats: list[str]) -> set[date]:
    """Dates the name could carry in one of the pattern's date formats."""
    found: set[date] = set()
    for fmt in formats:
        for i, m in enumerate(_format_regex(fmt).finditer(name)):
            if i >= _MAX_DATE_WINDOWS:
                break
            try:
                found.add(datetime.strptime(m.group(1), fmt).date())
            except ValueError:
                continue
    return found


def _distance(a: str, b: str, limit: int) -> int | None:
    """Levenshtein distance of ``a`` and ``b`` if at most ``limit``, else None (banded, cheap)."""
    if abs(len(a) - len(b)) > limit:
        return None
    previous = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        current = [i] + [limit + 1] * len(b)
        low, high = max(1, i - limit), min(len(b), i + limit)
        for j in range(low, high + 1):
            cb = b[j - 1]
            cost = 0 if ca == cb or cb == _ANY else 1
            current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + cost)
        if min(current[low - 1 : high + 1]) > limit:
            return None
        previous = current
    return previous[-1] if previous[-1] <= limit else None


@dataclass(frozen=True, slots=True)
class _Wanted:
    """The pattern's parts that every listed name is compared with, worked out once."""

    pattern: str
    day: date
    stem: str
    ext: str | None
    formats: list[str]


def _classify(want: _Wanted, name: str) -> Near | None:
    """How ``name`` nearly matches, by case, extension or date; None for anything further."""
    if matches(want.pattern, name, want.day, ignore_case=True):
        stem, name_ext = _split_ext(name)
        if want.ext and name_ext and matches(want.stem, stem, want.day):
            return Near(name, "extension case", (0, 0))
        return Near(name, "letter case", (0, 1))
    if want.ext is not None:
        stem, _ = _split_ext(name)
        if stem != name and matches(want.stem, stem, want.day, ignore_case=True):
            return Near(name, "other extension", (1, 0))
        if stem == name and matches(want.stem, name, want.day, ignore_case=True):
            return Near(name, "no extension", (1, 1))
    others = sorted(
        (d for d in _dates_in(name, want.formats) if d != want.day),
        key=lambda d: abs((d - want.day).days),
    )
    for day in others:
        if matches(want.pattern, name, day, ignore_case=True):
            return Near(name, "other date", (2, abs((day - want.day).days)))
    return None


def nearest_names(
    pattern: str, cycle_date: date, names: Iterable[str], limit: int = MAX_NEAREST
) -> list[Near]:
    """Up to ``limit`` listed names nearest the pattern for ``cycle_date``, nearest first.

    Near means, in this order: the name matches but for letter case (``.CSV`` for ``.csv``);
    the same name with another extension or none; the pattern's name for another date (the
    closest date first); a name a few edits away from the pattern's name for the day. Names that
    do match are left out, as is anything further away.
    """
    stem, ext = _pattern_ext(pattern)
    want = _Wanted(pattern, cycle_date, stem, ext, date_formats(pattern))
    near: list[Near] = []
    rest: list[str] = []
    for name in dict.fromkeys(names):
        if matches(pattern, name, cycle_date):
            continue
        found = _classify(want, name)
        if found is not None:
            near.append(found)
        else:
            rest.append(name)
    near.sort(key=lambda n: (n.rank, n.name))
    if len(near) < limit:
        example = example_name(pattern, cycle_date, _ANY).lower()
        near += _spelled_alike(example, rest, limit - len(near))
    return near[:limit]


def _spelled_alike(example: str, names: list[str], keep: int) -> list[Near]:
    """The names (at most ``keep``) a few edits from the pattern's name for the day, nearest first.

    The allowed distance shrinks to the ``keep``-th best found so far, so a large listing of
    unrelated names costs little more than its lengths.
    """
    limit = max(2, len(example) // 5)
    best: list[Near] = []
    for name in names:
        far = _distance(name.lower(), example, limit)
        if far is None:
            continue
        best.append(Near(name, "similar name", (3, far)))
        best.sort(key=lambda n: (n.rank, n.name))
        del best[keep:]
        if len(best) == keep:
            limit = best[-1].rank[1]
    return best


def no_file_message(
    pattern: str, cycle_date: date, directory: str, near: list[Near], listed: int
) -> str:
    """The sentence for a run whose pattern matched no listed file."""
    head = f"No file matched {pattern} for {cycle_date.isoformat()} in {directory}"
    if near:
        names = ", ".join(f"{n.name} ({n.why})" for n in near)
        return f"{head}; nearest names: {names}."
    if listed:
        return f"{head}; none of the {listed} file(s) there comes close."
    return f"{head}; the directory holds no files."
