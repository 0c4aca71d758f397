"""Read a provider file into a header, data rows and trailers, keeping physical line numbers.

Text files are decoded with the layout's encoding; a byte it cannot read becomes U+FFFD and is
counted rather than failing the file (it only matters in a mapped column, which the normaliser
checks). Lines are split into fields with polars; lines holding a quote character go through the
``csv`` module instead (bank exports rarely quote, so this stays off the hot path). Quoted fields
spanning several lines are not supported: such a row is reported bad, as is a line the ``csv``
module cannot read (an over-long quoted field); neither stops the file. xlsx sheets are read with
openpyxl, one cell at a time (spreadsheets are small by nature).

The header is looked for, not assumed: it is the line of the first 20 holding the layout's mapped
column names (``header_row`` is where it is expected). After it, lines that are not rows are set
apart: empty lines and Excel's empty rows (delimiters only), and trailers: the lines matching
``trailer_pattern``, the last ``footer_rows`` lines, and the block at the end of the body that
starts with a word such as TOTAL, Grand Total, Record Count or TRL. Each trailer keeps the record
count and totals it claims, for the normaliser to check against the body.
The field parsers at the end turn text columns into paise, dates, UTC timestamps and signs.
"""

from __future__ import annotations

import codecs
import csv
import io
import re
import warnings
from dataclasses import dataclass
from datetime import date, datetime, time

import polars as pl

from bankfeeds.connectors.layouts import KEY_FIELDS, NULL_TOKENS, Layout, header_needs
from bankfeeds.core.errors import LayoutMismatch, ParseError

# Digits with optional Indian (1,18,000) or Western (118,000) grouping and up to 2 decimals.
_RUPEES_RE = r"^[+-]?(?:\d+|\d{1,3}(?:,\d{2})*,\d{3}|\d{1,3}(?:,\d{3})+)(?:\.\d{1,2})?$"
_PAISE_RE = r"^[+-]?\d{1,17}$"
#: Columns of the body frame :func:`read_file` returns.
BODY_SCHEMA: dict[str, pl.DataType] = {
    "__line": pl.Int64(), "__text": pl.String(), "__fields": pl.List(pl.String()),
}  # fmt: skip
#: How many lines (sheet rows) from the top are searched for the header.
HEADER_SEARCH_LINES = 20
#: A trailer line starts with one of these words (any case), after optional quotes or stars, and
#: the word ends there: "TOTAL,,", "Total Records: 5", "TRL~5~…" are trailers, "TOTAL123" is not.
TRAILER_WORDS = (
    r"(?i)^[\s\"'*#=]*(?:grand\s*totals?|sub[\s-]*totals?|totals?|trl|trailer|footer"
    r"|records?\s*count|count\s+of\s+(?:records|rows|txns?|transactions)"
    r"|(?:no\.?|number)\s*of\s*(?:records|rows|txns?|transactions)"
    r"|end\s+of\s+(?:report|file|data)|eof)(?:$|[^a-z0-9_])"
)
_TRL_RE = re.compile(r"(?i)^[\s\"'*#=]*(?:trl|trailer)(?:$|[^a-z0-9_])")
# "Total Records: 5", "Record Count = 1,200", "Count of records: 5", or "(5 records)".
_COUNT_RES = (
    re.compile(r"(?i)\b(?:records?|rows?|count|txns?|transactions?|entries)\b\D{0,20}?(\d[\d,]*)"),
    re.compile(r"(?i)(?<![\d.,])(\d[\d,]*)\s*(?:records?|rows|txns?|transactions|entries)\b"),
)
# "Total Amount: INR 1,23,456.78", "Sum = (1,000.00)": the amount as written, parsed later.
_AMOUNT_RE = re.compile(
    r"(?i)\b(?:amount|amt|sum)\b[^0-9₹+\-]{0,20}?"
    r"(\(?\s*[+-]?\s*(?:INR|RS\.?|₹)?\s*[+-]?\s*\d[\d,]*(?:\.\d+)?\s*\)?(?:\s*(?:INR|CR|DR)\b|-)?)"
)
_NUMBER_RE = re.compile(r"^\s*\d[\d,]*(?:\.\d+)?\s*$")


@dataclass(frozen=True, slots=True)
class Trailer:
    """A line after the body that is not a row (total, record count, end marker) and its claims."""

    line: int
    text: str
    #: The number of data rows it says the body has.
    count: int | None = None
    #: The totals it gives for the amount and net amount columns, as written in the file.
    amount: str | None = None
    net_amount: str | None = None


@dataclass(frozen=True, slots=True)
class Table:
    """A file as read: header names, data rows and trailer lines, with their line numbers.

    ``body`` has ``__line``, ``__text``, ``__fields`` and ``__shape`` (why the row's field count is
    wrong, or null). ``replaced_bytes`` counts the bytes the encoding could not read, each now
    U+FFFD; title lines above the header and empty lines are in neither body nor trailers.
    """

    header: list[str]
    header_line: int
    body: pl.DataFrame
    trailers: tuple[Trailer, ...] = ()
    replaced_bytes: int = 0


def read_file(data: bytes, layout: Layout) -> Table:
    """Read ``data`` with ``layout``: header, data rows, trailers and the undecodable byte count."""
    if layout.file_format == "xlsx":
        return _read_xlsx(data, layout)
    return _read_text(data, layout)


def column_index(header: list[str], layout: Layout) -> dict[str, int]:
    """Each mapped field whose column the header has, to its position (first one when repeated)."""
    index = {_name_key(name): i for i, name in reversed(list(enumerate(header)))}
    return {
        fld: index[_name_key(col)] for fld, col in layout.columns.items() if _name_key(col) in index
    }


def _name_key(name: str) -> str:
    """A column name as compared: without BOM, quotes or any spaces, upper-cased."""
    return "".join(name.replace("\ufeff", "").replace('"', "").split()).upper()


def _read_text(data: bytes, layout: Layout) -> Table:
    """Decode and split a delimited text file."""
    text, replaced = _decode(data, layout.encoding)
    if not text.strip():
        raise ParseError("file is empty: it has no header line")
    lines = pl.Series("__text", _split_lines(text), pl.String).str.strip_suffix("\r")
    frame = pl.DataFrame({"__line": pl.int_range(1, len(lines) + 1, eager=True), "__text": lines})
    window = frame.head(max(HEADER_SEARCH_LINES, layout.header_row + 1))
    candidates = []
    for number, line in window.iter_rows():
        fields, problem = _split_line(line, layout.delimiter)
        candidates.append((number, fields, problem))
    undecodable = [n for n, line in window.iter_rows() if replaced and "\ufffd" in line]
    at, header = _find_header(candidates, layout, undecodable)
    fields = candidates[at][1]
    slack = max(len(fields or ()) - len(header), 1)  # trailing delimiters: on the header, or one
    body = frame.slice(at + 1)
    body = _drop_empty(body, layout.delimiter + ' \t"', layout.delimiter, len(header) + slack)
    body = _split_fields(body, layout.delimiter)
    body = body.with_columns(_shape(body, len(header), slack)).drop("__problem", strict=False)
    body, trailers = _set_apart_trailers(body, header, layout, layout.delimiter)
    return Table(header, at + 1, body, trailers, replaced)


def _decode(data: bytes, encoding: str) -> tuple[str, int]:
    """The text, and how many undecodable bytes were replaced by U+FFFD (a BOM is dropped)."""
    if data.startswith(codecs.BOM_UTF8):
        data = data[len(codecs.BOM_UTF8) :]
    codec = "utf-8" if encoding == "utf-8-sig" else encoding
    try:
        return data.decode(codec), 0
    except UnicodeDecodeError:
        pass
    # One byte the encoding cannot read (a Windows-1252 é in a UTF-8 file's remarks) must not
    # cost the whole file; the normaliser refuses the rows that have one in a mapped column.
    text = data.decode(codec, errors="replace")
    own = data.count("\ufffd".encode(codec)) if codec == "utf-8" else 0  # real U+FFFD chars
    return text, text.count("\ufffd") - own


def _split_lines(text: str) -> list[str]:
    """Physical lines: LF or CRLF endings, or CR alone when the file has no LF at all.

    A lone CR inside an LF file is kept as text rather than taken for a line end, so a stray one
    cannot shift the line numbers of everything after it.
    """
    if "\n" not in text and "\r" in text:
        return text.split("\r")
    return text.split("\n")


def _split_line(line: str, delimiter: str) -> tuple[list[str] | None, str | None]:
    """One line's fields (the csv module when it holds a quote), or the reason it is unreadable."""
    if '"' not in line:
        return line.split(delimiter), None
    fields, problems = _split_quoted([line], delimiter)
    return (None, problems[0]) if problems[0] is not None else (fields[0], None)


def _find_header(
    candidates: list[tuple[int, list[str] | None, str | None]],
    layout: Layout,
    undecodable: list[int],
) -> tuple[int, list[str]]:
    """The position among ``candidates`` of the header line, and its column names.

    The header is the line holding the most mapped column names among those holding every
    needed one (see :func:`header_needs`); on a tie, the ``header_row`` line, else the first.
    """
    wanted = {_name_key(col) for col in layout.columns.values()}
    hint = layout.header_row + 1
    complete: list[tuple[int, bool, int]] = []  # (-score, not the hint, position)
    partial: tuple[int, int, str] | None = None  # (score, line, what it lacks)
    for pos, (line, fields, _) in enumerate(candidates):
        if fields is None:
            continue
        names = {_name_key(f) for f in fields}
        score = len(wanted & names)
        if not score:
            continue
        missing = _missing_columns(names, layout)
        if not missing:
            complete.append((-score, line != hint, pos))
        elif partial is None or score > partial[0]:
            partial = (score, line, missing)
    if complete:
        pos = min(complete)[2]
        fields = candidates[pos][1]
        assert fields is not None  # only readable lines are complete
        return pos, _header_names(fields)
    note = ""
    if undecodable:
        lines = ", ".join(str(n) for n in undecodable)
        note = f" (line {lines} has bytes that are not valid {layout.encoding})"
    if partial is not None:
        raise LayoutMismatch(f"{layout.name} header (line {partial[1]}) {partial[2]}{note}")
    last = candidates[-1][0] if candidates else 0
    looked = ", ".join(repr(col) for col in layout.columns.values())
    raise LayoutMismatch(
        f"{layout.name}: found no header in lines 1-{last}: none has any of the columns {looked};"
        f" the layout's header_row is {layout.header_row}, and the header (line {hint})"
        f" {_hint_state(candidates, hint, layout)}{note}"
    )


def _missing_columns(names: set[str], layout: Layout) -> str:
    """What a header with ``names`` lacks ("has no column 'X'…"), or "" when it has all it needs."""
    needed, keys = header_needs(layout)
    missing = [repr(layout.columns[f]) for f in needed if _name_key(layout.columns[f]) not in names]
    no_key = bool(keys) and not any(_name_key(layout.columns[k]) in names for k in keys)
    key_names = ", ".join(repr(layout.columns[k]) for k in keys)
    if not missing:
        return f"has none of the columns {key_names}" if no_key else ""
    return f"has no column {', '.join(missing)}" + (f", nor any of {key_names}" if no_key else "")


def _hint_state(
    candidates: list[tuple[int, list[str] | None, str | None]], hint: int, layout: Layout
) -> str:
    """What the line ``header_row`` points at is instead of a header."""
    found = [c for c in candidates if c[0] == hint]
    if not found:
        return "is past the end of the file"
    _, fields, problem = found[0]
    if fields is None:
        return f"is unreadable: {problem}"
    if not "".join(fields).strip():
        return "is blank"
    return _missing_columns({_name_key(f) for f in fields}, layout)


def _header_names(fields: list[str]) -> list[str]:
    """The header's names; empty ones at the end are a trailing delimiter, not columns."""
    end = len(fields)
    while end and not fields[end - 1].replace("\ufeff", "").strip():
        end -= 1
    return _unique_names(fields[:end])


def _drop_empty(body: pl.DataFrame, chars: str, delimiter: str | None, most: int) -> pl.DataFrame:
    """``body`` without lines of nothing but ``chars``: blank lines, Excel's empty rows (``,,,``).

    A text line of more than ``most`` (empty) fields is not an empty row but a broken one, and
    stays in the body to be reported. Delimiters are counted on the empty-looking
    lines only: counting them on every line would cost the hot path a pass over the text.
    """
    empty = body.select(pl.col("__text").str.strip_chars(chars) == "").to_series()
    at = empty.arg_true()
    if not at.len():
        return body
    if delimiter is not None:
        counts = body["__text"].gather(at).str.count_matches(delimiter, literal=True)
        empty = empty.scatter(at.filter(counts >= most), False)
    return body.filter(~empty)


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


def _shape(body: pl.DataFrame, width: int, slack: int) -> pl.Expr:
    """Why a row's field count is wrong, or null; ``slack`` empty fields past the end are fine.

    They come from a trailing delimiter (``…,SUCCESS,``) or a sheet wider than its header: the
    slack is one, or as many as the header has empty names at its end.
    """
    count = pl.col("__fields").list.len()
    wrong = pl.format(f"expected {width} fields, found {{}}", count)
    shape: pl.Expr
    if body.height and (body["__fields"].list.len() > width).any():
        extra = pl.col("__fields").list.slice(width).list.join("").str.strip_chars()
        fits = (count == width) | ((count <= width + slack) & (extra == ""))
        shape = pl.when(~fits).then(wrong)
    else:
        shape = pl.when(count != width).then(wrong)
    if "__problem" in body.columns:
        shape = pl.coalesce(pl.col("__problem"), shape)
    return shape.alias("__shape")


def _set_apart_trailers(
    body: pl.DataFrame, header: list[str], layout: Layout, delimiter: str
) -> tuple[pl.DataFrame, tuple[Trailer, ...]]:
    """Move the trailer lines out of the body (see the module docstring)."""
    start = _block_start(body, header, layout)
    in_block = pl.int_range(pl.len()) >= start
    if layout.trailer_pattern is None and not layout.footer_rows and start == body.height:
        return body, ()  # the common case: no trailer, and no pass over the body to find one
    declared = _declared(layout, pl.int_range(pl.len()), pl.len())
    trailer = body.select(declared | in_block).to_series()
    if not trailer.any():
        return body, ()
    lines = body.filter(trailer)
    index = column_index(header, layout)
    trailers = tuple(
        _trailer(line, text, fields, shape is None, index, delimiter)
        for line, text, fields, shape in lines.select(
            "__line", "__text", "__fields", "__shape"
        ).iter_rows()
    )
    return body.filter(~trailer), trailers


def _declared(layout: Layout, index: pl.Expr, height: pl.Expr) -> pl.Expr:
    """Trailers by the layout's word: lines matching ``trailer_pattern``, the last ``footer_rows``.

    ``index`` is each line's position in the body and ``height`` the body's length.
    """
    declared = pl.lit(False)
    if layout.trailer_pattern is not None:
        declared = declared | pl.col("__text").str.contains(layout.trailer_pattern)
    if layout.footer_rows:
        declared = declared | (index >= height - layout.footer_rows)
    return declared


def _block_start(body: pl.DataFrame, header: list[str], layout: Layout) -> int:
    """Where the trailer block at the end of the body starts (``body.height`` when there is none).

    It starts at the first line beginning with a trailer word after which no line has a row's
    shape; a row-shaped line in it with a key (txn_id, UTR, RRN) in a column other than the first
    is a data row, and the block starts after it. Only the tail is read: trailers are at the end,
    so the search widens from the last 64 lines until it meets a row.
    """
    height, size = body.height, 64
    while True:
        first = max(height - size, 0)
        tail = body.slice(first)
        declared = _declared(layout, pl.int_range(first, height), pl.lit(height))
        word = pl.col("__text").str.contains(TRAILER_WORDS)
        marks = tail.select(
            (pl.col("__shape").is_null() & ~word & ~declared).alias("row"),
            (word & ~declared).alias("word"),
        )
        rows = marks["row"].arg_true()
        if rows.len() or first == 0:
            break
        size *= 4
    last_row = first + rows[-1] if rows.len() else -1
    starts = [first + p for p in marks["word"].arg_true().to_list() if first + p > last_row]
    keyed = _keyed_positions(body, starts, header, layout)
    starts = [p for p in starts if not keyed or p > max(keyed)]
    return starts[0] if starts else height


def _keyed_positions(
    body: pl.DataFrame, positions: list[int], header: list[str], layout: Layout
) -> list[int]:
    """Of the trailer-word lines at ``positions``, those with the shape and a key of a row."""
    index = column_index(header, layout)
    keys = [index[k] for k in KEY_FIELDS if k in index and index[k] != 0]
    if not positions or not keys:
        return []
    nulls = {token.upper() for token in NULL_TOKENS}
    out = []
    for pos in positions:
        fields, shape = body["__fields"][pos], body["__shape"][pos]
        values = fields.to_list() if fields is not None else []
        if shape is None and any(
            (values[k] or "").strip().upper() not in nulls for k in keys if k < len(values)
        ):
            out.append(pos)
    return out


def _trailer(
    line: int,
    text: str,
    fields: list[str | None],
    shaped: bool,
    index: dict[str, int],
    delimiter: str,
) -> Trailer:
    """A trailer line and the count and totals it states, where it states them plainly."""
    if not re.search(TRAILER_WORDS, text):
        return Trailer(line, text)  # e.g. "Generated by …" after the totals: nothing to check
    count = next((m.group(1) for r in _COUNT_RES if (m := r.search(text))), None)
    found = _AMOUNT_RE.search(text)
    amount = found.group(1).strip().rstrip(",") if found else None
    net = None
    if _TRL_RE.search(text) and count is None and amount is None:
        # "TRL~5~1180.00": a count, then the gross total, and nothing else numeric. Split on the
        # usual trailer separators too: a "TRL~…" line in a comma file is one field.
        tokens = re.split(rf"[~|;,\t{re.escape(delimiter)}]", text)
        numbers = [t.strip() for t in tokens if _NUMBER_RE.match(t)]
        if 1 <= len(numbers) <= 2 and "." not in numbers[0]:
            count = numbers[0]
            amount = numbers[1] if len(numbers) == 2 else None
    elif shaped:
        # A totals row under the columns ("TOTAL,1180.00,1168.20,,…"): the sums are in place.
        amount = amount or _cell(fields, index.get("amount"))
        net = _cell(fields, index.get("net_amount"))
    return Trailer(line, text, int(count.replace(",", "")) if count else None, amount, net)


def _cell(fields: list[str | None], at: int | None) -> str | None:
    """The trimmed field at ``at``, or None when absent or a 'no value' token."""
    if at is None or at >= len(fields):
        return None
    value = (fields[at] or "").strip()
    return None if value.upper() in NULL_TOKENS else value


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


def _read_xlsx(data: bytes, layout: Layout) -> Table:
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
            _trim_row([_cell_text(v) for v in row])
            for row in book.worksheets[0].iter_rows(values_only=True)
        ]
    finally:
        book.close()
    if not any(any(c for c in row) for row in rows):
        raise ParseError("sheet is empty: it has no header row")
    window = rows[: max(HEADER_SEARCH_LINES, layout.header_row + 1)]
    candidates: list[tuple[int, list[str] | None, str | None]] = [
        (i + 1, [c or "" for c in row], None) for i, row in enumerate(window)
    ]
    at, header = _find_header(candidates, layout, [])
    numbered = [(i + 1, row) for i, row in enumerate(rows) if i > at]
    body = pl.DataFrame(
        {
            "__line": [n for n, _ in numbered],
            "__text": ["\t".join(c or "" for c in row) for _, row in numbered],
            "__fields": [_pad(row, len(header)) for _, row in numbered],
        },
        schema=BODY_SCHEMA,
    )
    body = _drop_empty(body, " \t", None, 0)
    body = body.with_columns(_shape(body, len(header), max(len(window[at]) - len(header), 1)))
    body, trailers = _set_apart_trailers(body, header, layout, "\t")
    return Table(header, at + 1, body, trailers)


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


def plain_paise_expr(text: pl.Expr, unit: str) -> pl.Expr:
    """Integer paise from a plain number: rupees (any comma grouping, <= 2 decimals) or paise.

    The hot path: nearly every amount is written this way. :func:`paise_expr` also reads the
    other ways banks write money, at about twice the cost, so it runs only where this gives null.
    """
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


_CURRENCY = r"(?:INR|RS\.?|₹)"
_GROUPED = r"\d+|\d{1,3}(?:,\d{2})*,\d{3}|\d{1,3}(?:,\d{3})+"


def _money_re(number: str) -> str:
    """A money pattern around ``number``: currency before or after, and one sign of five kinds.

    The sign is a leading ``+``/``-`` (before or after the currency), parentheses, a ``Cr`` or
    ``Dr`` suffix or a trailing ``-``; the checks that there is at most one are in the caller.
    """
    return (
        rf"(?i)^(?P<lead>[+-])?\s*(?P<open>\()?\s*(?P<cur1>{_CURRENCY})?\s*(?P<lead2>[+-])?\s*"
        rf"{number}\s*(?P<cur2>{_CURRENCY})?\s*(?P<close>\))?\s*(?P<mark>CR|DR|-)?$"
    )


def paise_expr(text: pl.Expr, unit: str) -> pl.Expr:
    """Integer paise from an amount as banks write it; null when it is not one.

    Besides plain numbers: ``INR 1,000.78``, ``Rs. 1,000.78``, ``₹1,000.78``, ``1,000.78 INR``,
    ``1000.78 Cr`` (credit), ``1000.78 Dr``, ``(1,000.78)``, ``1000.78-`` and ``-₹1,000.78``
    (debits, negative); the same around integers for a paise unit. Two signs, a currency on both
    sides or an unclosed parenthesis is not an amount. No floats: the digits become integers.
    """
    if unit == "paise":
        number = r"(?P<whole>\d{1,17})"
    else:
        number = rf"(?P<whole>{_GROUPED})(?:\.(?P<frac>\d{{1,2}}))?"
    part = text.str.extract_groups(_money_re(number)).struct.field
    magnitude = part("whole").str.replace_all(",", "", literal=True).cast(pl.Int64, strict=False)
    if unit != "paise":
        frac = part("frac").fill_null("0").str.pad_end(2, "0").cast(pl.Int64)
        magnitude = magnitude * 100 + frac
    signs = pl.sum_horizontal(
        part(name).is_not_null().cast(pl.Int8) for name in ("lead", "open", "lead2", "mark")
    )
    valid = (
        part("whole").is_not_null()
        & (signs <= 1)
        & (part("open").is_null() == part("close").is_null())
        & (part("cur1").is_null() | part("cur2").is_null())
    )
    negative = (
        (part("lead") == "-")
        | (part("lead2") == "-")
        | part("open").is_not_null()
        | part("mark").str.to_uppercase().is_in(["DR", "-"])
    ).fill_null(False)
    return pl.when(valid).then(pl.when(negative).then(-magnitude).otherwise(magnitude))


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
