"""Write a realistic day of bank settlement files and the matching PG export, for the sandbox.

Each bank file is written in its provider's layout (``bankfeeds.connectors.layouts``) so it parses
with no bad rows. Per provider, with at least 8 rows, five differences are planted so a recon has
something to show: one PG row missing from the bank file, one bank row missing from the PG export,
one bank amount a few rupees off, one a few paise off (within tolerance), and one row the bank
reports FAILED while the PG says SUCCESS. Output is deterministic for a given seed.
"""

from __future__ import annotations

import csv
import hashlib
import io
import os
import random
import re
import tempfile
import zipfile
from dataclasses import dataclass, replace
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

from bankfeeds.connectors.layouts import LAYOUTS, Layout
from bankfeeds.core.money import group_indian

IST = ZoneInfo("Asia/Kolkata")
#: IFSC bank codes, used as UTR prefixes.
IFSC = {"AXIS": "UTIB", "BOB": "BARB", "HDFC": "HDFC", "ICICI": "ICIC", "SBI": "SBIN",
        "YES": "YESB", "KOTAK": "KKBK"}  # fmt: skip
#: Banks whose files carry the PG's transaction id; the others use their own reference.
_CARRIES_PG_ID = frozenset({"AXIS", "BOB"})
#: Banks whose export ends with a "TOTAL RECORDS: n" line (read as a trailer, its count checked).
RECORD_COUNT_FOOTER = frozenset({"YES"})
_METHODS = ("UPI", "UPI", "UPI", "CARD", "IMPS", "NEFT", "RTGS")
_MIN_ROWS_FOR_DIFFERENCES = 8
#: The bank providers whose files the sandbox writes each day (the PG export covers them all).
SANDBOX_BANKS = ("AXIS", "BOB", "HDFC", "ICICI")
#: How many cycle dates before today the sandbox seeds; ``seeded_days`` says which ones.
SEED_DAYS = 3


@dataclass(frozen=True, slots=True)
class Txn:
    """One sandbox transaction as both sides see it (amounts in paise)."""

    pg_txn_id: str
    bank_ref: str
    merchant_id: str
    utr: str
    rrn: str
    gross: int
    fee: int
    tax: int
    status: str
    method: str
    created_at: datetime
    value_date: date

    @property
    def net(self) -> int:
        """Gross less fee and GST."""
        return self.gross - self.fee - self.tax


def generate_day(
    root: Path,
    cycle_date: date,
    *,
    providers: tuple[str, ...] = SANDBOX_BANKS,
    rows: int = 50,
    seed: int | None = None,
) -> list[Path]:
    """Write one file per bank provider and the PG export for ``cycle_date``; return their paths."""
    # Not for secrets: a reproducible stream of sandbox data.
    rng = random.Random(seed if seed is not None else cycle_date.toordinal())  # noqa: S311
    root.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    pg_rows: list[tuple[str, Txn]] = []
    for number, provider in enumerate(providers):
        pg_side, bank_side = _provider_day(rng, provider, number, cycle_date, rows)
        pg_rows += [(provider, txn) for txn in pg_side]
        written.append(_write_file(root, LAYOUTS[provider], cycle_date, provider, bank_side))
    pg_rows.sort(key=lambda pair: pair[1].created_at)
    written.append(_write_pg(root, cycle_date, pg_rows))
    return written


def seeded_days(today: date, days: int = SEED_DAYS) -> list[date]:
    """The cycle dates the sandbox seeds before ``today``, oldest first.

    The seeding and everything that fetches or checks the seeded days ask this one function, so
    the days a demo fetches and reconciles cannot drift from the days it wrote.
    """
    return [today - timedelta(days=back) for back in range(days, 0, -1)]


def seed_days(root: Path, today: date, days: int = SEED_DAYS) -> list[Path]:
    """Generate the ``seeded_days`` before ``today``, oldest first (what a run fetches)."""
    paths: list[Path] = []
    for day in seeded_days(today, days):
        paths += generate_day(root, day)
    return paths


def _provider_day(
    rng: random.Random, provider: str, number: int, cycle_date: date, rows: int
) -> tuple[list[Txn], list[Txn]]:
    """The PG side and the bank side of one provider's day, with the planted differences."""
    pg = [_txn(rng, provider, number, cycle_date, i) for i in range(rows)]
    bank = list(pg)
    if rows >= _MIN_ROWS_FOR_DIFFERENCES:
        missing, off, close, status = rng.sample(range(rows), 4)
        small = rng.randint(200_00, 1500_00)  # so a few rupees exceed 0.1 % of the gross
        pg[off] = bank[off] = replace(
            pg[off], gross=small, fee=small // 100, tax=small // 100 * 18 // 100
        )
        pg[status] = bank[status] = replace(pg[status], status="SUCCESS")
        bank[status] = replace(pg[status], status="FAILED")
        bank[off] = _shift(pg[off], rng.randint(3, 9) * 100)
        bank[close] = _shift(replace(pg[close]), rng.randint(1, 99))
        bank.append(_txn(rng, provider, number, cycle_date, rows))  # the bank-only row
        del bank[missing]
    return pg, bank


def _shift(txn: Txn, paise: int) -> Txn:
    """The same transaction with ``paise`` more credited (gross and net both move)."""
    return replace(txn, gross=txn.gross + paise)


def _txn(rng: random.Random, provider: str, number: int, cycle_date: date, i: int) -> Txn:
    """A random, realistic transaction; ids embed ``number`` and ``i`` so they never collide."""
    method = rng.choice(_METHODS)
    gross = (
        rng.randint(2_00_000, 25_00_000) * 100
        if method == "RTGS"
        else rng.randint(100, 1_50_000) * 100
    )
    gross += 0 if rng.random() < 0.7 else rng.randint(1, 99)
    fee = gross * rng.randint(50, 200) // 10_000
    stamp = datetime.combine(cycle_date, time(0), IST) + timedelta(seconds=rng.randint(0, 86_399))
    stan = number * 150_000 + i  # unique per provider and row
    rrn = f"{cycle_date.year % 10}{cycle_date.timetuple().tm_yday:03d}{stamp.hour:02d}{stan:06d}"
    return Txn(
        pg_txn_id=f"pay_{cycle_date:%y%m%d}{number}{i:05d}{rng.randint(0, 9999):04d}",
        bank_ref=f"{IFSC[provider][:2]}{cycle_date:%y%m%d}{stan:08d}",
        merchant_id=f"MID{rng.randint(1000, 1019)}",
        utr=_utr(rng, provider, method, cycle_date, stan, rrn),
        rrn=rrn,
        gross=gross,
        fee=fee,
        tax=(fee * 18 + 50) // 100,  # 18 % GST on the fee, rounded to the paisa
        status="FAILED" if rng.random() < 0.05 else "SUCCESS",
        method=method,
        created_at=stamp,
        value_date=cycle_date + timedelta(days=1),
    )


def _utr(rng: random.Random, provider: str, method: str, day: date, stan: int, rrn: str) -> str:
    """UPI/IMPS/card: the 12-digit RRN; NEFT: 16 or 22 characters; RTGS: 22 characters."""
    code = IFSC[provider]
    if method == "NEFT" and rng.random() < 0.5:
        return f"{code}N{day:%y}{day.timetuple().tm_yday:03d}{stan:06d}"
    if method in ("NEFT", "RTGS"):
        return f"{code}{method[0]}{rng.randint(1, 9)}{day:%Y%m%d}{stan:08d}"
    return rrn


def _rupees(paise: int, grouping: str) -> str:
    """Paise as a rupee string with two decimals, grouped the provider's way."""
    whole, frac = divmod(abs(paise), 100)
    digits = str(whole)
    if grouping == "western":
        digits = f"{whole:,}"
    elif grouping == "lakh":
        digits = group_indian(digits)
    return f"{'-' if paise < 0 else ''}{digits}.{frac:02d}"


def _field(layout: Layout, provider: str, column: str, txn: Txn, row: int) -> object:
    """The value of one file column for ``txn`` in ``layout``."""
    fields = {col: fld for fld, col in layout.columns.items()}
    amount = {"amount": txn.gross, "net_amount": txn.net, "fee": txn.fee, "tax": txn.tax}
    if "tax" not in layout.columns:
        amount["fee"] = txn.fee + txn.tax  # a single charges column holds fee plus GST
    fld = fields.get(column)
    if fld is not None and fld in amount:
        paise = amount[fld]
        if layout.file_format == "xlsx":
            return Decimal(paise) / 100
        return (
            str(paise) if layout.amount_unit == "paise" else _rupees(paise, layout.amount_grouping)
        )
    local = txn.created_at.astimezone(IST).replace(tzinfo=None)
    values: dict[str | None, object] = {
        "txn_id": txn.pg_txn_id if provider in _CARRIES_PG_ID else txn.bank_ref,
        "utr": txn.utr, "rrn": txn.rrn, "merchant_id": txn.merchant_id,
        "status": layout.status_of(txn.status),  # type: ignore[arg-type]
        "dr_cr": "CR", "payment_method": txn.method,
        "value_date": txn.value_date if layout.file_format == "xlsx"
        else txn.value_date.strftime(layout.date_formats[0]),
        "txn_at": local if layout.file_format == "xlsx"
        else local.strftime(layout.datetime_formats[0]),
    }  # fmt: skip
    if fld is not None:
        return values[fld]
    ok = txn.status == "SUCCESS"
    extras = {"Sr No": str(row), "AUTH": f"AUTH{txn.rrn[-6:]}", "BANK": provider,
              "REMARKS": "Payment successful" if ok else "Insufficient funds",
              "Remarks": "Credited" if ok else "Declined by issuer",
              "NARRATION": "Café settlement credit" if ok else "Declined by issuer"}  # fmt: skip
    return extras.get(column, "")


def _write_file(root: Path, layout: Layout, day: date, provider: str, txns: list[Txn]) -> Path:
    """Render ``txns`` in ``layout`` and write the file and its sidecar atomically."""
    table = [
        [_field(layout, provider, c, t, n) for c in layout.header] for n, t in enumerate(txns, 1)
    ]
    name = layout.file_pattern.replace("YYYYMMDD", f"{day:%Y%m%d}")
    title = [f"{provider} MERCHANT SETTLEMENT REPORT", f"Cycle date: {day:%d/%m/%Y}"]
    preamble = (title + [""] * layout.header_row)[: layout.header_row]
    if layout.file_format == "xlsx":
        return _publish(root / name, _xlsx(preamble, list(layout.header), table, day))
    trailer = []
    if layout.trailer_pattern is not None:  # HDFC: record count and gross total
        trailer.append(f"TRL~{len(txns)}~{_rupees(sum(t.gross for t in txns), 'none')}")
    if provider in RECORD_COUNT_FOOTER:
        trailer.append(f"TOTAL RECORDS: {len(txns)}")
    newline = "\r\n" if layout.encoding == "cp1252" else "\n"  # the Windows-made export
    buf = io.StringIO()
    writer = csv.writer(buf, delimiter=layout.delimiter, lineterminator=newline)
    writer.writerows([[line] for line in preamble])
    writer.writerows([list(layout.header), *table])
    text = buf.getvalue() + "".join(line + newline for line in trailer)
    return _publish(root / name, text.encode(layout.encoding))


def _xlsx(preamble: list[str], header: list[str], table: list[list[object]], day: date) -> bytes:
    """A one-sheet workbook: title rows, header, data; byte-identical for the same input."""
    import openpyxl

    book = openpyxl.Workbook(write_only=True)
    sheet = book.create_sheet("Settlement")
    for row in [[line] for line in preamble] + [header] + table:
        sheet.append(row)
    buf = io.BytesIO()
    book.save(buf)
    return _pin_timestamps(buf.getvalue(), day)


def _pin_timestamps(xlsx: bytes, day: date) -> bytes:
    """Replace openpyxl's save-time stamps (zip entries, document properties) with ``day``."""
    stamp = f"{day:%Y-%m-%d}T00:00:00Z"
    out = io.BytesIO()
    with (
        zipfile.ZipFile(io.BytesIO(xlsx)) as src,
        zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst,
    ):
        for entry in src.infolist():
            data = src.read(entry)
            if entry.filename == "docProps/core.xml":
                data = re.sub(
                    rb"(<dcterms:(created|modified)[^>]*>)[^<]*", rb"\g<1>" + stamp.encode(), data
                )
            info = zipfile.ZipInfo(entry.filename, (day.year, day.month, day.day, 0, 0, 0))
            dst.writestr(info, data, zipfile.ZIP_DEFLATED)
    return out.getvalue()


def _write_pg(root: Path, day: date, rows: list[tuple[str, Txn]]) -> Path:
    """The PG's own export for all providers (amounts in paise, ISO timestamps with offset)."""
    pg = LAYOUTS["PG"]
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(pg.header)
    settled = time(11, 0, tzinfo=IST)
    for provider, t in rows:
        settled_at = datetime.combine(t.value_date, settled).isoformat(timespec="seconds")
        created_at = t.created_at.isoformat(timespec="seconds")
        writer.writerow([t.pg_txn_id, t.merchant_id, t.utr, t.gross, t.fee, t.tax, t.net,
                         t.status, t.method, provider, created_at, settled_at])  # fmt: skip
    return _publish(
        root / pg.file_pattern.replace("YYYYMMDD", f"{day:%Y%m%d}"), buf.getvalue().encode()
    )


def _publish(path: Path, data: bytes) -> Path:
    """Write the file, then its ``.sha256`` sidecar, each via temp file and rename."""
    _atomic_write(path, data)
    digest = hashlib.sha256(data).hexdigest()
    _atomic_write(path.with_name(path.name + ".sha256"), f"{digest}  {path.name}\n".encode())
    return path


def _atomic_write(path: Path, data: bytes) -> None:
    """Write a hidden temp file in the same folder, then rename: no reader sees half a file."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.fchmod(fd, 0o644)  # mkstemp makes 0600; the sandbox server and other users read these
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
