"""Read a provider file into a header and a frame of field lists, keeping physical line numbers.

Text files are decoded, split into lines and then into fields with polars; lines holding a quote
character go through the ``csv`` module instead (bank exports rarely quote, so this stays off the
hot path). Quoted fields spanning several lines are not supported: such a row is reported bad,
as is a line the ``csv`` module cannot read (an over-long quoted field); neither stops the file.
xlsx sheets are read with openpyxl, one cell at a time (spreadsheets are small by nature).
The field parsers at the end turn text columns into paise, dates, UTC timestamps and signs.
"""

from __future__ import annotations

import csv
import io
import re
import warnings
from datetime import date, datetime, time

import polars as pl

from bankfeeds.domain.layouts import Layout
from bankfeeds.errors import ParseError

# Digits with optional Indian (1,18,000) or Western (118,000) grouping and up to 2 decimals.
_RUPEES_RE = r"^[+-]?(?:\d+|\d{1,3}(?:,\d{2})*,\d{3}|\d{1,3}(?:,\d{3})+)(?:\.\d{1,2})?$"
_PAISE_RE = r"^[+-]?\d{1,17}$"
#: Columns of the frame returned by :func:`read_table`.
BODY_SCHEMA: dict[str, pl.DataType] = {
    "__line": pl.Int64(), "__text": pl.String(), "__fields": pl.List(pl.String()),
}  # fmt: skip


def read_table(data: bytes, layout: Layout) -> tuple[list[str], pl.DataFrame]:
    """The header names and the data rows (``__line``, ``__text``, ``__fields``, ``__shape``)."""
    if layout.file_format == "xlsx":
        header, body = _read_xlsx(data, layout)
    else:
        header, body = _read_text(data, layout)
    width = len(header)
    count = pl.col("__fields").list.len()
    shape: pl.Expr = pl.when(count != width).then(
        pl.format(f"expected {width} fields, found {{}}", count)
    )
    if "__problem" not in body.columns:
        return header, body.with_columns(shape.alias("__shape"))
    shape = pl.coalesce(pl.col("__problem"), shape)
    return header, body.with_columns(shape.alias("__shape")).drop("__problem")


def _read_text(data: bytes, layout: Layout) -> tuple[list[str], pl.DataFrame]:
    """Decode and split a delimited text file."""
    try:
        text = data.decode(layout.encoding)
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise ParseError(
            f"file is not valid {layout.encoding}: {exc.reason} at byte {exc.start} (line {line})"
        ) from exc
    if not text.strip():
        raise ParseError("file is empty: it has no header line")
    lines = pl.Series("__text", _split_lines(text), pl.String).str.strip_suffix("\r")
    frame = pl.DataFrame({"__line": pl.int_range(1, len(lines) + 1, eager=True), "__text": lines})
    if frame.height <= layout.header_row:
        raise ParseError(f"file has no header line (expected at line {layout.header_row + 1})")
    header_line = str(frame["__text"][layout.header_row])
    fields, problem = _split_quoted([header_line], layout.delimiter)
    if problem[0] is not None:
        raise ParseError(f"header (line {layout.header_row + 1}) is unreadable: {problem[0]}")
    header = _unique_names(fields[0])
    body = _drop_trailers(frame.slice(layout.header_row + 1), layout)
    return header, _split_fields(body, layout.delimiter)


def _split_lines(text: str) -> list[str]:
    """Physical lines: LF or CRLF endings, or CR alone when the file has no LF at all.

    A lone CR inside an LF file is kept as text rather than taken for a line end, so a stray one
    cannot shift the line numbers of everything after it.
    """
    if "\n" not in text and "\r" in text:
        return text.split("\r")
    return text.split("\n")


def _drop_trailers(body: pl.DataFrame, layout: Layout) -> pl.DataFrame:
    """Drop blank lines, lines matching the trailer pattern and the last ``footer_rows`` lines."""
    body = body.filter(pl.col("__text").str.strip_chars() != "")
    if layout.trailer_pattern is not None:
        body = body.filter(~pl.col("__text").str.contains(layout.trailer_pattern))
    if layout.footer_rows:
        body = body.head(max(body.height - layout.footer_rows, 0))
    return body


def _split_fields(body: pl.DataFrame, delimiter: str) -> pl.DataFrame:
    """Split each line on the delimiter; quoted lines are parsed by the csv module."""
    quoted = pl.col("__text").str.contains('"', literal=True)
    plain = body.filter(~quoted).with_columns(
        pl.col("__text").str.split(delimiter, literal=True).alias("__fields")
    )
    rare = body.filter(quoted)
    if not rare.height:
        return plain.cast(BODY_SCHEMA)  # type: ignore[arg-type]
    fields, problems = _split_quoted(rare["__text"].to_list(), delimiter)
    rare = rare.with_columns(
        pl.Series("__fields", fields, pl.List(pl.String)),
        pl.Series("__problem", problems, pl.String),
    )
    with_problem: dict[str, pl.DataType] = {**BODY_SCHEMA, "__problem": pl.String()}
    plain = plain.with_columns(pl.lit(None, pl.String).alias("__problem"))
    parts = [plain.cast(with_problem), rare.cast(with_problem)]  # type: ignore[arg-type]
    return pl.concat(parts).sort("__line")


class _OneLine:
    """Feeds the csv reader one line at a time, and ends its input there.

    A reader over the whole list would run an unclosed quote on into the next lines, merging
    several into one record; fed one line, it ends the field at the line's end instead
    (``strict=False``), so every physical line gives exactly one record.
    """

    def __init__(self) -> None:
        self.line: str | None = None

    def __iter__(self) -> _OneLine:
        return self

    def __next__(self) -> str:
        line, self.line = self.line, None
        if line is None:
            raise StopIteration
        return line


def _split_quoted(lines: list[str], delimiter: str) -> tuple[list[list[str]], list[str | None]]:
    """CSV-split lines that may hold quoted fields: one field list and one problem per line."""
    feed = _OneLine()
    reader = csv.reader(feed, delimiter=delimiter, quotechar='"', strict=False)
    fields: list[list[str]] = []
    problems: list[str | None] = []
    for line in lines:
        feed.line = line
        try:
            fields.append(next(reader, []))
            problems.append(None)
        except csv.Error as exc:  # an over-long field, or a CR in an unquoted field
            fields.append([])
            problems.append(f"line is not readable CSV: {exc}")
    return fields, problems


def _unique_names(names: list[str]) -> list[str]:
    """Header names without a stray BOM, blanks named, repeats suffixed: keys must be unique."""
    seen: dict[str, int] = {}
    out = []
    for i, raw in enumerate(names):
        name = raw.replace("\ufeff", "").strip() or f"column_{i + 1}"
        seen[name] = seen.get(name, 0) + 1
        out.append(name if seen[name] == 1 else f"{name}_{seen[name]}")
    return out


def _read_xlsx(data: bytes, layout: Layout) -> tuple[list[str], pl.DataFrame]:
    """Read the first sheet of a workbook; each row's number is its ``line``."""
    import openpyxl  # imported here: only xlsx layouts pay for it

    try:
        with warnings.catch_warnings():
            # Bank-made workbooks often carry style quirks openpyxl warns about; they don't matter.
            warnings.simplefilter("ignore")
            book = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except Exception as exc:  # openpyxl raises many unrelated types for a broken file
        raise ParseError(f"file is not a readable xlsx workbook: {exc}") from exc
    try:
        rows = [
            [_cell_text(v) for v in row] for row in book.worksheets[0].iter_rows(values_only=True)
        ]
    finally:
        book.close()
    if len(rows) <= layout.header_row:
        raise ParseError(f"sheet has no header row (expected at row {layout.header_row + 1})")
    header = _unique_names([c or "" for c in _trim_row(rows[layout.header_row])])
    numbered = [(i + 1, row) for i, row in enumerate(rows) if i > layout.header_row]
    body = pl.DataFrame(
        {
            "__line": [n for n, _ in numbered],
            "__text": ["\t".join(c or "" for c in row) for _, row in numbered],
            "__fields": [_pad(_trim_row(row), len(header)) for _, row in numbered],
        },
        schema=BODY_SCHEMA,
    )
    return header, _drop_trailers(body, layout)


def _trim_row(row: list[str | None]) -> list[str | None]:
    """A sheet row without its trailing empty cells (read-only sheets pad rows to the widest)."""
    end = len(row)
    while end and row[end - 1] in (None, ""):
        end -= 1
    return row[:end]


def _pad(row: list[str | None], width: int) -> list[str | None]:
    """Pad a short sheet row with empty cells: a sheet cannot tell 'short' from 'empty at end'."""
    return row + [None] * (width - len(row)) if len(row) < width else row


def _cell_text(value: object) -> str | None:
    """A cell as the text a CSV export would hold: numbers as Excel shows them (15 digits)."""
    if value is None:
        return None
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d" if value.time() == time() else "%Y-%m-%d %H:%M:%S")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, float):
        # Excel stores computed values to 17 digits (3540.2999999999997) but shows 15, as a bank's
        # CSV export would; the shown text is what the amount parser must see.
        text = format(value, ".15g")
        return text if "e" in text else re.sub(r"\.0$", "", text)
    return str(value)


# --- field parsers (polars expressions) ---


def paise_expr(text: pl.Expr, unit: str) -> pl.Expr:
    """Integer paise from a rupee string (any comma grouping, <= 2 decimals) or a paise string."""
    if unit == "paise":
        return pl.when(text.str.contains(_PAISE_RE)).then(text.cast(pl.Int64, strict=False))
    parts = text.str.replace_all(",", "", literal=True).str.extract_groups(
        r"^(?P<sign>[+-]?)(?P<rupees>\d+)(?:\.(?P<frac>\d{1,2}))?$"
    )
    whole = parts.struct.field("rupees").cast(pl.Int64, strict=False) * 100
    frac = parts.struct.field("frac").fill_null("0").str.pad_end(2, "0").cast(pl.Int64)
    magnitude = whole + frac
    signed = pl.when(parts.struct.field("sign") == "-").then(-magnitude).otherwise(magnitude)
    return pl.when(text.str.contains(_RUPEES_RE)).then(signed)


def _local_datetimes(text: pl.Expr, layout: Layout) -> list[pl.Expr]:
    """One UTC datetime attempt per datetime format; naive values are in the layout's zone."""
    out = []
    for fmt in layout.datetime_formats:
        if "%z" in fmt:
            zoned = text.str.replace(r"Z$", "+00:00")
            out.append(zoned.str.to_datetime(fmt, strict=False, time_unit="us", time_zone="UTC"))
        else:
            naive = text.str.to_datetime(fmt, strict=False, time_unit="us")
            out.append(_to_utc(naive, layout.timezone))
    return out


def date_expr(text: pl.Expr, layout: Layout) -> pl.Expr:
    """A date from the layout's date formats, else the local date of one of its datetimes."""
    dates = [text.str.to_date(fmt, strict=False) for fmt in layout.date_formats]
    stamps = [
        d.dt.convert_time_zone(layout.timezone).dt.date() for d in _local_datetimes(text, layout)
    ]
    return pl.coalesce(*dates, *stamps)


def datetime_expr(text: pl.Expr, layout: Layout) -> pl.Expr:
    """A UTC timestamp from the datetime formats; a bare date means local midnight."""
    midnights = [
        _to_utc(text.str.to_date(fmt, strict=False).cast(pl.Datetime("us")), layout.timezone)
        for fmt in layout.date_formats
    ]
    return pl.coalesce(*_local_datetimes(text, layout), *midnights)


def _to_utc(naive: pl.Expr, zone: str) -> pl.Expr:
    """Naive wall-clock times in ``zone`` as UTC; a DST gap gives null, a fold the earlier time."""
    local = naive.dt.replace_time_zone(zone, ambiguous="earliest", non_existent="null")
    return local.dt.convert_time_zone("UTC")


def sign_expr(text: pl.Expr, layout: Layout) -> pl.Expr:
    """+1 for a credit marker, -1 for a debit marker, null otherwise."""
    upper = text.str.to_uppercase()
    return (
        pl.when(upper.is_in(list(layout.credit_markers))).then(pl.lit(1, pl.Int64))
        .when(upper.is_in(list(layout.debit_markers))).then(pl.lit(-1, pl.Int64))
    )  # fmt: skip
