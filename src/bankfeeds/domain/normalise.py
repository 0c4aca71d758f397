"""Turn one provider file (bytes) into canonical transaction rows, vectorised with polars.

Reading keeps the physical line number of every row so bad rows and exceptions point at the file.
Every per-field rule is a polars expression; only quoted text lines (rare in bank exports) and
xlsx cells go through Python one by one. Amounts become integer paise by string arithmetic.
"""

from __future__ import annotations

import itertools
import os
import tempfile
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Literal

import polars as pl

from bankfeeds.domain.layouts import KEY_FIELDS, NULL_TOKENS, Layout
from bankfeeds.domain.tabular import (
    date_expr,
    datetime_expr,
    paise_expr,
    read_table,
    sign_expr,
)
from bankfeeds.errors import LayoutMismatch

CANONICAL_SCHEMA: dict[str, pl.DataType] = {
    "side": pl.String(), "source_file_id": pl.Int64(), "source_row": pl.Int64(),
    "cycle_date": pl.Date(), "txn_id": pl.String(), "utr": pl.String(), "rrn": pl.String(),
    "gross_paise": pl.Int64(), "fee_paise": pl.Int64(), "tax_paise": pl.Int64(),
    "net_paise": pl.Int64(), "currency": pl.String(), "status": pl.String(),
    "status_raw": pl.String(), "txn_at": pl.Datetime("us", "UTC"), "value_date": pl.Date(),
    "payment_method": pl.String(), "merchant_id": pl.String(), "raw": pl.String(),
}  # fmt: skip
AMOUNT_FIELDS = ("amount", "net_amount", "fee", "tax")
#: How a present but unreadable value of each typed field is described in a bad row.
_PROBLEMS = {
    **{f: "invalid amount" for f in AMOUNT_FIELDS},
    "value_date": "invalid date", "txn_at": "invalid date",
    "status": "unknown status", "dr_cr": "invalid Dr/Cr marker",
}  # fmt: skip


@dataclass(frozen=True, slots=True)
class BadRow:
    """A row that could not be normalised: its 1-based line in the file and why."""

    line: int
    reason: str


@dataclass(frozen=True, slots=True)
class NormaliseSummary:
    """Row counts and paise totals of the good rows, by canonical status."""

    rows: int
    bad_rows: int
    count_by_status: dict[str, int] = field(default_factory=dict)
    gross_paise_by_status: dict[str, int] = field(default_factory=dict)
    net_paise_by_status: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class NormaliseResult:
    """Canonical rows, the rows that failed, a summary and the quarantine verdict."""

    rows: pl.DataFrame
    bad_rows: list[BadRow]
    summary: NormaliseSummary
    quarantined: bool = False
    quarantine_reason: str | None = None


def normalise(
    data: bytes | Path,
    layout: Layout,
    *,
    side: Literal["PG", "BANK"],
    source_file_id: int,
    cycle_date: date,
    max_bad_share: float = 0.05,
) -> NormaliseResult:
    """Parse one file with ``layout`` into canonical rows, bad rows and a quarantine verdict."""
    raw_bytes = data.read_bytes() if isinstance(data, Path) else data
    header, body = read_table(raw_bytes, layout)
    names = _column_names(header, layout)
    # Lazy, and each field cleaned once into ``<f>__text`` before parsing reads it: the eager
    # version cleaned typed fields twice and ran the expressions one frame pass at a time.
    fields = body.lazy().with_columns(
        pl.col("__fields").list.get(i, null_on_oob=True).alias(f"c{i}") for i in range(len(header))
    )
    texts = fields.with_columns(_clean(col).alias(f"{fld}__text") for fld, col in names.items())
    parsed = (
        texts.select(
            pl.col("__line"),
            pl.col("__shape"),
            *(pl.col(f"{fld}__text") for fld in names),
            *_parsed_fields(layout, names),
            _raw_json(header),
        )
        .with_columns(_bad_reason(layout, names).alias("__reason"))
        .collect()
    )
    good = parsed.filter(pl.col("__reason").is_null())
    rows = _canonical(good, layout, side, source_file_id, cycle_date)
    bad = [BadRow(line, reason) for line, reason in parsed.filter(pl.col("__reason").is_not_null())
           .select("__line", "__reason").iter_rows()]  # fmt: skip
    verdict = _quarantine(len(bad), len(bad) + rows.height, max_bad_share, bad)
    return NormaliseResult(rows, bad, _summary(rows, len(bad)), verdict is not None, verdict)


def write_parquet(df: pl.DataFrame, path: Path) -> None:
    """Write ``df`` to ``path`` as Parquet atomically (temp file in the same folder, rename)."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        df.write_parquet(tmp)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _column_names(header: list[str], layout: Layout) -> dict[str, str]:
    """Map each mapped field to its frame column ``c<i>``; raise if the header lacks one."""
    index = {name.strip().upper(): i for i, name in reversed(list(enumerate(header)))}
    missing = [col for col in layout.columns.values() if col.strip().upper() not in index]
    if missing:
        raise LayoutMismatch(
            f"{layout.name} header (line {layout.header_row + 1}) has no column "
            + ", ".join(repr(m) for m in missing)
        )
    return {fld: f"c{index[col.strip().upper()]}" for fld, col in layout.columns.items()}


def _spellings(token: str) -> set[str]:
    """Every upper/lower-case spelling of an ASCII ``token``."""
    options = [{c.lower(), c.upper()} for c in token]
    return {"".join(p) for p in itertools.product(*options)}


#: Every case spelling of the null tokens: a set lookup on the trimmed text gives what
#: upper-casing then looking up gives, without allocating an upper-cased copy of every cell.
_NULL_SPELLINGS = sorted(set().union(*(_spellings(t) for t in NULL_TOKENS)))


def _clean(column: str) -> pl.Expr:
    """A field's text trimmed, with the usual 'no value' tokens turned into null."""
    text = pl.col(column).str.strip_chars()
    return pl.when(text.is_in(_NULL_SPELLINGS)).then(None).otherwise(text)


def _parsed_fields(layout: Layout, names: dict[str, str]) -> list[pl.Expr]:
    """For every typed field, ``<f>`` parsed from its cleaned text column ``<f>__text``."""
    exprs = []
    for fld in names:
        text = pl.col(f"{fld}__text")
        if fld in AMOUNT_FIELDS:
            exprs.append(paise_expr(text, layout.amount_unit).alias(fld))
        elif fld == "value_date":
            exprs.append(date_expr(text, layout).alias(fld))
        elif fld == "txn_at":
            exprs.append(datetime_expr(text, layout).alias(fld))
        elif fld == "status":
            upper = text.str.to_uppercase()
            exprs.append(
                upper.replace_strict(layout.status_map, default=None, return_dtype=pl.String).alias(
                    fld
                )
            )
        elif fld == "dr_cr":
            exprs.append(sign_expr(text, layout).alias(fld))
    return exprs


def _raw_json(header: list[str]) -> pl.Expr:
    """The original fields, keyed by the file's header names, as one JSON object per row."""
    return (
        pl.struct(pl.col(f"c{i}").alias(name) for i, name in enumerate(header))
        .struct.json_encode()
        .alias("__raw")
    )


def _quoted(text: pl.Expr) -> pl.Expr:
    """A field's text fit to quote in a reason: control characters as '?', 40 characters at most.

    Reasons end up in exception rows: a NUL would be refused by PostgreSQL, and a 10 MB field
    quoted whole would copy the field into every place the reason goes.
    """
    shown = text.str.replace_all(r"[\x00-\x1f\x7f]", "?")
    return (
        pl.when(shown.str.len_chars() > 40)
        .then(pl.concat_str(shown.str.slice(0, 40), pl.lit("…")))
        .otherwise(shown)
    )


def _bad_reason(layout: Layout, names: dict[str, str]) -> pl.Expr:
    """The first reason a row cannot be used, or null when it is fine."""
    label = {str(fld): col for fld, col in layout.columns.items()}
    checks: list[pl.Expr] = [pl.when(pl.col("__shape").is_not_null()).then(pl.col("__shape"))]
    for fld in layout.required:
        checks.append(
            pl.when(pl.col(f"{fld}__text").is_null()).then(pl.lit(f"missing {label[fld]}"))
        )
    for name, what in _PROBLEMS.items():
        if name in names:
            text = pl.col(f"{name}__text")
            message = pl.format(f"{what} '{{}}' in {label[name]}", _quoted(text))
            checks.append(pl.when(text.is_not_null() & pl.col(name).is_null()).then(message))
    keys = [pl.col(f"{k}__text") for k in KEY_FIELDS if k in names]
    checks.append(
        pl.when(pl.all_horizontal(k.is_null() for k in keys)).then(pl.lit("no txn_id, utr or rrn"))
    )
    return pl.coalesce(*checks)


def _canonical(
    good: pl.DataFrame, layout: Layout, side: str, source_file_id: int, cycle_date: date
) -> pl.DataFrame:
    """Build exactly the canonical columns from parsed good rows."""
    has = set(layout.columns)

    def text(fld: str) -> pl.Expr:
        return pl.col(f"{fld}__text") if fld in has else pl.lit(None, pl.String)

    sign = pl.col("dr_cr") if layout.sign == "drcr" else pl.lit(1, pl.Int64)
    gross = pl.col("amount") * sign
    tax = pl.col("tax") * sign if "tax" in has else pl.lit(None, pl.Int64)
    fee = pl.col("fee") * sign if "fee" in has else None
    if "net_amount" in has:
        net = pl.col("net_amount") * sign
        fee = fee if fee is not None else gross - net - tax.fill_null(0)
    else:
        fee = fee if fee is not None else pl.lit(0, pl.Int64)
        net = gross - fee - tax.fill_null(0)
    status = pl.col("status") if "status" in has else pl.lit(layout.default_status)
    return good.select(
        pl.lit(side).alias("side"),
        pl.lit(source_file_id, pl.Int64).alias("source_file_id"),
        pl.col("__line").cast(pl.Int64).alias("source_row"),
        pl.lit(cycle_date, pl.Date).alias("cycle_date"),
        text("txn_id").alias("txn_id"),
        text("utr").str.to_uppercase().alias("utr"),
        text("rrn").alias("rrn"),
        gross.alias("gross_paise"),
        fee.alias("fee_paise"),
        tax.alias("tax_paise"),
        net.alias("net_paise"),
        text("currency").fill_null(layout.currency).str.to_uppercase().alias("currency"),
        status.alias("status"),
        (text("status") if "status" in has else status).alias("status_raw"),
        (pl.col("txn_at") if "txn_at" in has else pl.lit(None)).alias("txn_at"),
        (pl.col("value_date") if "value_date" in has else pl.lit(None)).alias("value_date"),
        text("payment_method").str.to_uppercase().alias("payment_method"),
        text("merchant_id").alias("merchant_id"),
        pl.col("__raw").alias("raw"),
    ).cast(CANONICAL_SCHEMA)  # type: ignore[arg-type]


def _quarantine(bad: int, total: int, limit: float, rows: list[BadRow]) -> str | None:
    """A sentence saying why the file is quarantined, or None when the bad share is acceptable."""
    if total == 0 or bad / total <= limit:
        return None
    first = rows[0]
    return (
        f"{bad} of {total} rows ({bad / total:.1%}) could not be parsed, above the "
        f"{limit:.1%} limit; first at line {first.line}: {first.reason}"
    )


def _summary(rows: pl.DataFrame, bad: int) -> NormaliseSummary:
    """Counts and gross/net paise totals of the canonical rows by status."""
    by = rows.group_by("status").agg(
        pl.len().alias("n"),
        pl.col("gross_paise").sum().alias("g"),
        pl.col("net_paise").sum().alias("t"),
    )
    return NormaliseSummary(
        rows=rows.height,
        bad_rows=bad,
        count_by_status={s: int(n) for s, n in by.select("status", "n").iter_rows()},
        gross_paise_by_status={s: int(g) for s, g in by.select("status", "g").iter_rows()},
        net_paise_by_status={s: int(t) for s, t in by.select("status", "t").iter_rows()},
    )
