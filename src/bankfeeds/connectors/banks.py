"""Who a bank is, and which files make its day: aliases, restatements, the current set of files.

Payment gateways name the acquiring bank as they please: ``AXIS``, ``Axis Bank Ltd.``, an IFSC
such as ``UTIB0000123`` or its four-letter prefix ``UTIB``. Every spelling is reduced to one *key*
(upper case, punctuation and company suffixes dropped) and looked up in the providers' alias sets,
so a PG row is picked for a bank's recon exactly when one of that bank's aliases names it.

A bank's day may arrive in several files. Parts (``_1``, ``_2``, ``_part2``) add up; a
restatement (``_v2``, ``_rev1``, ``_resend``, ``_corrected``, ``_revised``) replaces the file it
restates. The *lineage* of a name is the name without its restatement marker: within a lineage
the newest file stands, and the day is every lineage's newest file. Pure rules, no I/O.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import polars as pl

#: Built-in aliases of each provider: names, short codes and the IFSC prefix.
BUILT_IN_ALIASES: dict[str, tuple[str, ...]] = {
    "AXIS": ("AXIS", "AXIS BANK", "UTIB", "AXISBANK"),
    "BOB": ("BOB", "BANK OF BARODA", "BARB", "BARODA"),
    "HDFC": ("HDFC", "HDFC BANK", "HDFCBANK"),
    "ICICI": ("ICICI", "ICICI BANK", "ICIC", "ICICIBANK"),
    "SBI": ("SBI", "STATE BANK OF INDIA", "SBIN", "STATE BANK"),
    "YES": ("YES", "YES BANK", "YESB", "YESBANK"),
    "KOTAK": ("KOTAK", "KOTAK MAHINDRA BANK", "KKBK", "KOTAK BANK", "KOTAK MAHINDRA"),
}
#: An IFSC: four letters of bank, a zero, six characters of branch.
_IFSC = re.compile(r"^([A-Z]{4})0[A-Z0-9]{6}$")
_SUFFIXES = re.compile(r"\s+(?:LTD|LIMITED|PLC|CO|CORP|CORPORATION)$")
_RESTATEMENT = re.compile(
    r"(?i)[_\-. ](?:(?:v|ver|rev|r)(\d*)|resend|resent|corrected|correction|revised|amended)"
    r"(?=\.[^.]+$|$)"
)


def bank_key(name: str) -> str:
    """One spelling per bank name: upper case, IFSC reduced to its prefix, suffixes dropped."""
    text = re.sub(r"[^A-Z0-9 ]+", " ", name.upper())
    text = " ".join(text.split())
    ifsc = _IFSC.match(text.replace(" ", ""))
    if ifsc:
        return ifsc.group(1)
    while (cut := _SUFFIXES.sub("", text)) != text:
        text = cut
    return text


@dataclass(frozen=True, slots=True)
class BankDirectory:
    """Every provider's alias keys; built from the built-ins plus each connector's own aliases."""

    aliases: Mapping[str, frozenset[str]]

    def provider_of(self, bank: str) -> str | None:
        """The provider a PG row's bank field names, or None when no alias matches."""
        key = bank_key(bank)
        if not key:
            return None
        for provider, keys in self.aliases.items():
            if key in keys:
                return provider
        return None

    def keys_of(self, provider: str) -> frozenset[str]:
        """The alias keys that name ``provider`` (always including its own name)."""
        return self.aliases.get(provider, frozenset()) | {bank_key(provider)}


def directory(extra: Iterable[tuple[str, Sequence[str]]] = ()) -> BankDirectory:
    """The built-in aliases, extended by (provider, aliases) pairs such as connectors configure."""
    found: dict[str, set[str]] = {
        p: {bank_key(a) for a in names} | {p} for p, names in BUILT_IN_ALIASES.items()
    }
    for provider, names in extra:
        found.setdefault(provider, {bank_key(provider)}).update(bank_key(a) for a in names)
    return BankDirectory({p: frozenset(k for k in keys if k) for p, keys in found.items()})


def alias_problem(alias: str) -> str | None:
    """Why a configured alias cannot name a bank, or None when it can."""
    if not isinstance(alias, str) or not bank_key(alias):
        return "must be a bank name, code or IFSC prefix with at least one letter or digit"
    if len(alias) > 80:
        return "must be at most 80 characters"
    return None


def lineage(name: str) -> str:
    """The file a name restates: the name without a restatement marker, upper-cased."""
    return _RESTATEMENT.sub("", name).upper()


def restatement(name: str) -> int:
    """How far a name restates its lineage: 0 unmarked, the number of ``_v3``/``_rev2``, else 1."""
    found = _RESTATEMENT.search(name)
    if found is None:
        return 0
    number = found.group(1)
    return int(number) if number else 1


@dataclass(frozen=True, slots=True)
class DayFile:
    """A ready file of a day, as far as choosing the day's current files needs to know it."""

    pk: int
    connector_pk: int
    name: str


def current_files(files: Iterable[DayFile]) -> list[DayFile]:
    """The day's current files: per connector and lineage the latest restatement, by id.

    The latest is the highest restatement number (``_v3`` over ``_v2`` over the unmarked name),
    then the newest file (a new version of one name, the higher id): an original that arrives
    after its correction, or is stored after it in the same run, must not replace it.
    """
    newest: dict[tuple[int, str], DayFile] = {}
    for f in files:
        key = (f.connector_pk, lineage(f.name))
        if key not in newest or _rank(f) > _rank(newest[key]):
            newest[key] = f
    return sorted(newest.values(), key=lambda f: f.pk)


def _rank(f: DayFile) -> tuple[int, int]:
    return restatement(f.name), f.pk


#: The top-level ``bank`` string of a row's raw JSON when it holds no escapes. In the compact JSON
#: that normalise writes, a quote preceded by ``{`` or ``,`` always opens a key, so this cannot
#: match inside a value.
_PLAIN_BANK = r'[{,]"bank":"([^"\\]*)"'


def bank_names(pg: pl.DataFrame) -> pl.Series:
    """The ``bank`` field of each canonical PG row's original fields (null where it has none)."""
    raw = pl.col("raw")
    # A regex is ~10x faster than a JSON path over a million rows; the rare value with escapes
    # (where the regex finds nothing) is decoded properly.
    bank = pg.select(raw.str.extract(_PLAIN_BANK)).to_series()
    escaped = pg.select(bank.is_null() & raw.str.contains('"bank":"', literal=True)).to_series()
    if escaped.any():
        decoded = pg.select(raw.str.json_path_match("$.bank")).to_series()
        bank = bank.zip_with(~escaped, decoded)
    return bank


def rows_for_provider(pg: pl.DataFrame, banks: BankDirectory, provider: str) -> pl.DataFrame:
    """The canonical PG rows whose bank field is one of ``provider``'s aliases."""
    names = bank_names(pg)
    # A day has a handful of distinct bank spellings: key those in Python, not every row.
    wanted = banks.keys_of(provider)
    hits = [n for n in names.drop_nulls().unique().to_list() if bank_key(n) in wanted]
    return pg.filter(names.is_in(hits))
