"""Turn one provider file (bytes) into canonical transaction rows, vectorised with polars.

Reading keeps the physical line number of every row so bad rows and exceptions point at the file.
Every per-field rule is a polars expression; only quoted text lines (rare in bank exports) and
xlsx cells go through Python one by one. Amounts become integer paise by string arithmetic: plain
numbers on the hot path, and the other ways banks write money only for the cells that need it.

Only rows count: title lines, empty lines and trailers are not rows, so they are never bad and
never weigh in the quarantine share. A trailer's record count and totals are checked against the
body; a file that disagrees with its own trailer raises :class:`TrailerMismatch`.
"""

from __future__ import annotations

import itertools
import os
import tempfile
from dataclasses import dataclass, field, replace
from datetime import date
from pathlib import Path
from typing import Literal

import polars as pl

from bankfeeds.connectors.layouts import KEY_FIELDS, NULL_TOKENS, Layout
from bankfeeds.core.errors import TrailerMismatch
from bankfeeds.core.money import format_paise
from bankfeeds.normalise.tabular import (
    Trailer,
    column_index,
    date_expr,
    datetime_expr,
    paise_expr,
    plain_paise_expr,
    read_file,
    sign_expr,
)

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
    """Row counts and paise totals of the good rows, by canonical status, and what was skipped.

    ``replaced_bytes`` counts the bytes the layout's encoding could not read, replaced by U+FFFD
    (harmless in unmapped columns; a row with one in a mapped column is bad). ``header_line`` is
    where the header was found and ``trailer_lines`` the lines set apart as trailers.
    """

    rows: int
    bad_rows: int
    count_by_status: dict[str, int] = field(default_factory=dict)
    gross_paise_by_status: dict[str, int] = field(default_factory=dict)
    net_paise_by_status: dict[str, int] = field(default_factory=dict)
    replaced_bytes: int = 0
    header_line: int = 1
    trailer_lines: tuple[int, ...] = ()


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
    """Parse one file with ``layout`` into canonical rows, bad rows and a quarantine verdict.

    The file is quarantined when more than ``max_bad_share`` of its rows and at least two are
    bad, or when every row is bad (see :func:`_quarantine`). Raises ParseError when the file
    cannot be read at all, LayoutMismatch when its header lacks a needed column and
    TrailerMismatch when its trailer's count or total disagrees with its rows.
    """
    raw_bytes = data.read_bytes() if isinstance(data, Path) else data
    table = read_file(raw_bytes, layout)
    header, body = table.header, table.body
    names = {fld: f"c{i}" for fld, i in column_index(header, layout).items()}
    # Lazy, and each field cleaned once into ``<f>__text`` before parsing reads it: the eager
    # version cleaned typed fields twice and ran the expressions one frame pass at a time.
    fields = body.lazy().with_columns(
        pl.col("__fields").list.get(i, null_on_oob=True).alias(f"c{i}") for i in range(len(header))
    )
    texts = fields.with_columns(_clean(col).alias(f"{fld}__text") for fld, col in names.items())
    parsed = texts.select(
        pl.col("__line"),
        pl.col("__shape"),
        *(pl.col(f"{fld}__text") for fld in names),
        *_parsed_fields(layout, names),
        _raw_json(header),
    ).collect()
    parsed = _odd_amounts(parsed, layout, names)
    parsed = parsed.with_columns(_bad_reason(layout, names, table.replaced_bytes).alias("__reason"))
    _check_trailers(table.trailers, parsed, layout, names)
    good = parsed.filter(pl.col("__reason").is_null())
    rows = _canonical(good, layout, names, side, source_file_id, cycle_date)
    bad = [BadRow(line, reason) for line, reason in parsed.filter(pl.col("__reason").is_not_null())
           .select("__line", "__reason").iter_rows()]  # fmt: skip
    verdict = _quarantine(len(bad), len(bad) + rows.height, max_bad_share, bad)
    summary = _summary(rows, len(bad))
    summary = replace(
        summary,
        replaced_bytes=table.replaced_bytes,
        header_line=table.header_line,
        trailer_lines=tuple(t.line for t in table.trailers),
    )
    return NormaliseResult(rows, bad, summary, verdict is not None, verdict)


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
            exprs.append(plain_paise_expr(text, layout.amount_unit).alias(fld))
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


def _odd_amounts(parsed: pl.DataFrame, layout: Layout, names: dict[str, str]) -> pl.DataFrame:
    """Read the amounts the plain parser left null (``INR 1,000.78``, ``(5.00)``, ``5.00 Dr``…).

    Only those cells go through the full parser, so a file of plain numbers pays nothing more.
    """
    for fld in AMOUNT_FIELDS:
        if fld not in names:
            continue
        unread = parsed.select(pl.col(f"{fld}__text").is_not_null() & pl.col(fld).is_null())
        at = unread.to_series().arg_true()
        if not at.len():
            continue
        cells = parsed.select(pl.col(f"{fld}__text").gather(at).alias("text"))
        values = cells.select(paise_expr(pl.col("text"), layout.amount_unit)).to_series()
        parsed = parsed.with_columns(parsed[fld].clone().scatter(at, values))
    return parsed


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


def _bad_reason(layout: Layout, names: dict[str, str], replaced_bytes: int) -> pl.Expr:
    """The first reason a row cannot be used, or null when it is fine."""
    label = {str(fld): col for fld, col in layout.columns.items()}
    checks: list[pl.Expr] = [pl.when(pl.col("__shape").is_not_null()).then(pl.col("__shape"))]
    if replaced_bytes:
        # An unreadable byte is harmless in a remark, but a key or an amount with one is unknown.
        for fld in names:
            unreadable = pl.col(f"{fld}__text").str.contains("\ufffd", literal=True)
            checks.append(
                pl.when(unreadable).then(
                    pl.lit(f"bytes that are not valid {layout.encoding} in {label[fld]}")
                )
            )
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
    good: pl.DataFrame,
    layout: Layout,
    names: dict[str, str],
    side: str,
    source_file_id: int,
    cycle_date: date,
) -> pl.DataFrame:
    """Build exactly the canonical columns from parsed good rows.

    Fields whose column the file lacks are null. Without any of net amount, fee and tax the
    file says nothing about charges: fee, tax and net stay null, so no fee check is possible.
    """
    has = set(names)

    def text(fld: str) -> pl.Expr:
        return pl.col(f"{fld}__text") if fld in has else pl.lit(None, pl.String)

    sign = pl.col("dr_cr") if layout.sign == "drcr" else pl.lit(1, pl.Int64)
    gross = pl.col("amount") * sign
    tax = pl.col("tax") * sign if "tax" in has else pl.lit(None, pl.Int64)
    fee = pl.col("fee") * sign if "fee" in has else None
    if "net_amount" in has:
        net = pl.col("net_amount") * sign
        fee = fee if fee is not None else gross - net - tax.fill_null(0)
    elif fee is not None or "tax" in has:
        fee = fee if fee is not None else pl.lit(0, pl.Int64)
        net = gross - fee - tax.fill_null(0)
    else:
        fee = net = pl.lit(None, pl.Int64)
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
    """A sentence saying why the file is quarantined, or None when the bad rows are acceptable.

    Quarantined: more than ``limit`` of the rows and at least two are bad, or every row is. A
    single bad row in a small file is then a PARSE_ERROR, not a lost file: 1 of 5 is 20 % but
    says no more about the file than 1 of 40. ``total`` counts rows only (no trailers, empty
    or title lines).
    """
    if total == 0 or not (bad == total or (bad / total > limit and bad >= 2)):
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


def _check_trailers(
    trailers: tuple[Trailer, ...], parsed: pl.DataFrame, layout: Layout, names: dict[str, str]
) -> None:
    """Raise TrailerMismatch when a trailer's record count or total disagrees with the body.

    The count is compared with every data row, good or bad. A total is compared with the sum of
    its column in each way banks total: over every row or over the SUCCESS rows only, as written,
    in absolute values or (``drcr``) signed by the Dr/Cr column; any one agreeing is enough. It is
    skipped when a row's amount is unreadable, since the bad row already says what is wrong.
    """
    label = {str(fld): col for fld, col in layout.columns.items()}
    for trailer in trailers:
        if trailer.count is not None and trailer.count != parsed.height:
            raise TrailerMismatch(
                f"the file looks truncated or padded: trailer line {trailer.line} "
                f"({_shown(trailer.text)}) says {_rows(trailer.count, 'record')}, "
                f"the body has {_rows(parsed.height, 'row')}"
            )
        for fld, claim in (("amount", trailer.amount), ("net_amount", trailer.net_amount)):
            if claim is None or fld not in names or parsed[fld].null_count():
                continue
            stated = pl.select(paise_expr(pl.lit(claim), layout.amount_unit)).item()
            sums = _column_sums(parsed, fld, layout)
            if stated is not None and stated not in sums:
                raise TrailerMismatch(
                    f"the file looks truncated or padded: trailer line {trailer.line} "
                    f"({_shown(trailer.text)}) says the {label[fld]} total is "
                    f"{format_paise(stated)}, the body's {label[fld]} adds up to "
                    f"{format_paise(sums[0])}"
                )


def _rows(count: int, noun: str) -> str:
    """'1 record', '5 records'."""
    return f"{count} {noun}" + ("" if count == 1 else "s")


def _column_sums(parsed: pl.DataFrame, fld: str, layout: Layout) -> list[int]:
    """A column's totals as banks make them; the first is the plain sum over every row."""
    column = pl.col(fld)
    signed = (
        layout.sign == "drcr" and "dr_cr" in parsed.columns and not parsed["dr_cr"].null_count()
    )
    subsets = [pl.lit(True)]
    if "status" in parsed.columns:
        subsets.append((pl.col("status") == "SUCCESS").fill_null(False))
    exprs = []
    for i, rows in enumerate(subsets):
        exprs += [
            column.filter(rows).sum().alias(f"w{i}"),
            column.filter(rows).abs().sum().alias(f"a{i}"),
        ]
        if signed:
            exprs.append((column.abs() * pl.col("dr_cr")).filter(rows).sum().alias(f"s{i}"))
    return [int(v) for v in parsed.select(exprs).row(0)]


def _shown(text: str) -> str:
    """A trailer line fit to quote in a message: printable, 80 characters at most."""
    shown = "".join(c if c.isprintable() else "?" for c in text.strip())
    return repr(shown if len(shown) <= 80 else shown[:80] + "…")
