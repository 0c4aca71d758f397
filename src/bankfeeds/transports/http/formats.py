"""Turning an API's pages (CSV, JSON or XML) into one CSV file for the shared pipeline; pure.

The functions read and write the file objects they are given and open nothing themselves. CSV
pages are copied in blocks, never read whole; JSON and XML pages are parsed in memory, which the
adapter's response size cap keeps bounded. Cells are written as the bank sent them: escaping
formula-like values is for exports people open, and this is data the normaliser reads.
"""

from __future__ import annotations

import csv
import io
import json
import xml.etree.ElementTree as StdET
from collections.abc import Iterable, Mapping
from decimal import Decimal
from typing import Any, Final, Protocol

# No type stubs ship for defusedxml (types-defusedxml would add them).
import defusedxml  # type: ignore[import-untyped]
import defusedxml.ElementTree as SafeET  # type: ignore[import-untyped]

from bankfeeds.core.errors import ParseError
from bankfeeds.transports.http.requests import json_path

#: Longest header line we accept before deciding the page is not CSV.
MAX_HEADER_LINE: Final = 1 << 20
_BOM: Final = b"\xef\xbb\xbf"


class ByteSource(Protocol):
    """A readable binary file."""

    def read(self, size: int = -1, /) -> bytes:
        """Up to ``size`` bytes; empty at the end."""
        ...

    def readline(self, size: int = -1, /) -> bytes:
        """One line, at most ``size`` bytes."""
        ...


class ByteSink(Protocol):
    """A writable binary file."""

    def write(self, data: bytes, /) -> int:
        """Write ``data``."""
        ...


def _clean_header(line: bytes) -> bytes:
    return line.removeprefix(_BOM).rstrip(b"\r\n")


def write_csv_pages(pages: Iterable[ByteSource], out: ByteSink) -> None:
    """Concatenate CSV pages into ``out``, keeping the first page's header once.

    Every page must start with the same header (ignoring a BOM and line ending); a page that
    does not raises ParseError, since its columns would land under the wrong names.
    """
    header: bytes | None = None
    newline = b"\n"
    ends_open = False
    for number, page in enumerate(pages, 1):
        line = page.readline(MAX_HEADER_LINE)
        if not line:
            continue
        if not line.endswith(b"\n") and len(line) >= MAX_HEADER_LINE:
            raise ParseError(f"Page {number}'s first line is over {MAX_HEADER_LINE} bytes.")
        if header is None:
            header = _clean_header(line)
            newline = b"\r\n" if line.endswith(b"\r\n") else b"\n"
            out.write(line)
            ends_open = not line.endswith(b"\n")
        elif _clean_header(line) != header:
            raise ParseError(
                f"Page {number}'s header {_clean_header(line)[:120]!r} differs from the first "
                f"page's {header[:120]!r}."
            )
        first = page.read(1)
        if not first:
            continue
        if ends_open:
            out.write(newline)
        out.write(first)
        last = _copy(page, out)
        ends_open = not (last or first).endswith(b"\n")
    if ends_open:
        out.write(newline)


def _copy(src: ByteSource, out: ByteSink, block: int = 1 << 16) -> bytes:
    """Copy the rest of ``src`` to ``out`` in blocks; return the last block (empty if none)."""
    last = b""
    while chunk := src.read(block):
        out.write(chunk)
        last = chunk
    return last


def _json_text(value: Any) -> str:
    """Compact JSON for a nested value, keeping numbers exactly as the bank wrote them."""
    if isinstance(value, dict):
        inner = ",".join(
            f"{json.dumps(str(k), ensure_ascii=False)}:{_json_text(v)}" for k, v in value.items()
        )
        return "{" + inner + "}"
    if isinstance(value, list):
        return "[" + ",".join(_json_text(v) for v in value) + "]"
    if isinstance(value, Decimal):
        return str(value)
    return json.dumps(value, ensure_ascii=False)


def _cell(value: Any) -> str:
    """One CSV cell: text as is, numbers as written, true/false, nested values as JSON."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | Decimal):
        return str(value)
    return _json_text(value)


def _first_array(doc: Any) -> list[Any] | None:
    if isinstance(doc, list):
        return doc
    if isinstance(doc, dict):
        return next((v for v in doc.values() if isinstance(v, list)), None)
    return None


def json_records(body: bytes, records_path: str | None = None) -> list[dict[str, str]]:
    """The flat records of one JSON page: the array at ``records_path``, else the first array.

    Numbers keep their exact digits (``1234.50`` stays ``1234.50``); nested objects and arrays
    become JSON text in their cell.
    """
    try:
        doc = json.loads(body.decode("utf-8-sig"), parse_float=Decimal)
    except (UnicodeDecodeError, ValueError) as exc:
        raise ParseError(f"The response is not valid JSON: {exc}.") from exc
    array = json_path(doc, records_path) if records_path else _first_array(doc)
    if array is None and isinstance(doc, dict) and not doc:
        return []
    if not isinstance(array, list):
        where = f"at {records_path!r}" if records_path else "in the response"
        raise ParseError(f"There is no array of records {where}; set recordsPath.")
    records = []
    for index, item in enumerate(array):
        if not isinstance(item, dict):
            raise ParseError(f"Record {index} is a {type(item).__name__}, not an object.")
        records.append({str(k): _cell(v) for k, v in item.items()})
    return records


def _local(tag: str) -> str:
    """An element or attribute name without its ``{namespace}``."""
    return tag.rsplit("}", 1)[-1]


def xml_records(body: bytes, record_tag: str | None = None) -> list[dict[str, str]]:
    """The flat records of one XML page: ``record_tag`` elements, else the root's children.

    A record's attributes and its child elements' text become its fields; a child with children
    of its own is refused, since a flat CSV cannot hold it. Entities and DTDs are refused.
    """
    try:
        root: StdET.Element = SafeET.fromstring(body)
    except (StdET.ParseError, defusedxml.DefusedXmlException) as exc:
        raise ParseError(f"The response is not acceptable XML: {exc}.") from exc
    elements = (
        [el for el in root.iter() if _local(el.tag) == record_tag] if record_tag else list(root)
    )
    records = []
    for element in elements:
        record = {_local(k): v for k, v in element.attrib.items()}
        for child in element:
            name = _local(child.tag)
            if len(child):
                raise ParseError(
                    f"<{_local(element.tag)}> has a nested <{name}>; only flat records fit a CSV."
                )
            record[name] = (child.text or "").strip()
        records.append(record)
    return records


def write_records_csv(records: Iterable[Mapping[str, str]], out: ByteSink) -> int:
    """Write records as UTF-8 CSV with the union of their keys (first-seen order) as header.

    Returns the number of rows; writes nothing when there are no records.
    """
    rows = list(records)
    columns: dict[str, None] = {}
    for row in rows:
        columns.update(dict.fromkeys(row))
    if not rows:
        return 0
    text = io.StringIO()
    writer = csv.writer(text, lineterminator="\n")
    writer.writerow(columns)
    for row in rows:
        writer.writerow([row.get(name, "") for name in columns])
        if text.tell() > 1 << 16:
            out.write(text.getvalue().encode())
            text.seek(0)
            text.truncate()
    out.write(text.getvalue().encode())
    return len(rows)
