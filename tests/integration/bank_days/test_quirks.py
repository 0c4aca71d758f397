"""Files as banks write them reconcile exactly; outcomes say what really happened (issue 14)."""

from __future__ import annotations

import io
import re
from collections.abc import Callable
from pathlib import Path

import polars as pl
import pytest
from tests.support.targets import Target

from bankfeeds.connectors.layouts import LAYOUTS
from bankfeeds.core.ids import public_id
from bankfeeds.storage.context import AppContext

from .steps import (
    PLANTED,
    Bank,
    Pg,
    axis_file,
    axis_row,
    cheap,
    counts,
    exceptions,
    files,
    generated,
    jobs,
    make_connector,
    pg_file,
    publish,
    rebank,
    render,
    run_once,
    table,
    work_jobs,
)

#: What ``generate_day`` plants for one provider, for 8 rows.
PLANTED_8 = {
    "MATCHED": 4,
    "MATCHED_WITHIN_TOLERANCE": 1,
    "AMOUNT_MISMATCH": 1,
    "STATUS_MISMATCH": 1,
    "MISSING_IN_BANK": 1,
    "MISSING_IN_PG": 1,
}


def _lines(data: bytes) -> list[bytes]:
    return data.splitlines(keepends=True)


def _remark(data: bytes) -> bytes:
    """One Windows-1252 byte in an unmapped column (REMARKS) of an otherwise UTF-8 file."""
    assert b"Payment successful" in data
    return data.replace(b"Payment successful", "Paid at Café".encode("cp1252"), 1)


def _empty_row(data: bytes) -> bytes:
    lines = _lines(data)
    return b"".join([*lines[:4], b",,,,,,,,,,\n", *lines[4:]])  # Excel's empty row


def _trailing_comma(data: bytes) -> bytes:
    head, *rows = _lines(data)
    return b"".join([head, *(r.rstrip(b"\n") + b",\n" for r in rows)])


def _no_rrn(data: bytes) -> bytes:
    rows = table(data)
    column = rows[0].index("RRN")
    return render([r[:column] + r[column + 1 :] for r in rows])


def _bom_quoted_header(data: bytes) -> bytes:
    head, *rows = _lines(data)
    quoted = ",".join(f'"{name}"' for name in head.decode().rstrip("\n").split(","))
    return b"".join([b"\xef\xbb\xbf", quoted.encode(), b"\n", *rows])


QUIRKS: dict[str, Callable[[bytes], bytes]] = {
    "clean": lambda data: data,
    "cp1252 byte in REMARKS": _remark,
    "Excel empty row": _empty_row,
    "TOTAL line": lambda data: data + b"TOTAL,,,,,,,,,,\n",
    "Record Count trailer": lambda data: data + b"Record Count: 8\n",
    "trailing comma on data rows": _trailing_comma,
    "RRN column absent": _no_rrn,
    "BOM and quoted header": _bom_quoted_header,
}


@cheap
@pytest.mark.parametrize("quirk", list(QUIRKS))
async def test_a_small_file_with_a_quirk_reconciles_exactly(
    ctx: AppContext, target: Target, tmp_path: Path, quirk: str
) -> None:
    axis, pg = generated(tmp_path, rows=8)
    publish(target, "AXIS_RECON_20250110.csv", QUIRKS[quirk](axis))
    publish(target, "PG_TXN_20250110.csv", pg)
    for provider in ("AXIS", "PG"):
        run = await run_once(ctx, await make_connector(ctx, target, provider))
        assert run["status"] == "SUCCESS", run["error"]
    (bank,) = [f for f in await files(ctx) if f.provider == "AXIS"]
    assert (bank.status, bank.row_count) == ("NORMALIZED", 8), bank.error_message
    assert bank.summary is not None and bank.summary["badRows"] == 0
    assert await exceptions(ctx, "PARSE_ERROR") == []
    await work_jobs(ctx)
    (job,) = await jobs(ctx)
    assert job.status == "COMPLETED", job.error_message
    assert counts(job) == PLANTED_8


#: Amounts as banks write them, with the paise they mean and the row's bank status.
MONEY = [
    ("INR 1,000.78", 100078, "SUCCESS"),
    ("₹1,23,971.00", 12397100, "SUCCESS"),
    ("2500.50 Cr", 250050, "SUCCESS"),
    ("1000.78 Dr", -100078, "REVERSED"),
    ("(12,345.67)", -1234567, "REVERSED"),
    ("999.99-", -99999, "REVERSED"),
]


@cheap
async def test_money_as_banks_write_it_reads_to_the_paisa(ctx: AppContext, target: Target) -> None:
    pg = [
        Pg(f"T{n}", f"UTR{n:09d}", abs(p), status="REFUNDED" if p < 0 else "SUCCESS")
        for n, (_, p, _) in enumerate(MONEY)
    ]
    rows = [
        axis_row(Bank(f"T{n}", f"UTR{n:09d}", p, p, status), money=lambda _p, t=text: t)
        for n, (text, p, status) in enumerate(MONEY)
    ]
    publish(target, "AXIS_RECON_20250110.csv", render([list(LAYOUTS["AXIS"].header), *rows]))
    publish(target, "PG_TXN_20250110.csv", pg_file(pg))
    for provider in ("AXIS", "PG"):
        await run_once(ctx, await make_connector(ctx, target, provider))
    (bank,) = [f for f in await files(ctx) if f.provider == "AXIS"]
    assert (bank.status, bank.row_count) == ("NORMALIZED", 6), bank.error_message
    assert bank.normalized_key is not None
    canonical = pl.read_parquet(io.BytesIO(await ctx.store.read_bytes(bank.normalized_key)))
    assert canonical["gross_paise"].to_list() == [p for _, p, _ in MONEY]
    assert canonical["net_paise"].to_list() == [p for _, p, _ in MONEY]
    await work_jobs(ctx)
    (job,) = await jobs(ctx)
    assert counts(job) == {"MATCHED": 6}  # refunds meet the bank's debits by direction


@cheap
async def test_a_gross_only_bank_file_has_no_fee_check(
    ctx: AppContext, target: Target, tmp_path: Path
) -> None:
    axis, pg = generated(tmp_path)
    rows = table(axis)
    net = rows[0].index("NET_CR_AMT")
    header = [c for c in rows[0] if c != "NET_CR_AMT"]
    layout = {
        "name": "GROSSONLY",
        "header": header,
        "columns": {"txn_id": "TXNID", "amount": "CREDIT_AMT", "utr": "UTR",
                    "value_date": "VALUE_DATE", "status": "STATUS"},
        "required": ["txn_id", "amount", "status"],
        "status_map": {"SUCCESS": "SUCCESS", "FAILED": "FAILED"},
    }  # fmt: skip
    publish(target, "GROSSONLY_20250110.csv", render([r[:net] + r[net + 1 :] for r in rows]))
    publish(target, "PG_TXN_20250110.csv", rebank(pg, lambda _n, _b: "GROSSONLY"))
    ids = [
        await make_connector(
            ctx, target, "CUSTOM", layout=layout, filePattern="GROSSONLY_YYYYMMDD*.csv"
        ),
        await make_connector(ctx, target, "PG"),
    ]
    for cid in ids:
        await run_once(ctx, cid)
    await work_jobs(ctx)
    (job,) = await jobs(ctx)
    assert job.status == "COMPLETED", job.error_message
    assert counts(job) == PLANTED


@cheap
async def test_a_refund_matches_and_a_duplicate_names_both_lines(
    ctx: AppContext, target: Target
) -> None:
    pg = [
        Pg("SALE1", "UTR000000001", 500000),
        Pg("REFUND1", "UTR000000002", 100078, status="REFUNDED"),
        Pg("SALE2", "UTR000000003", 200000),
    ]
    bank = [
        Bank("SALE1", "UTR000000001", 500000, 500000),  # line 2
        Bank("REFUND1", "UTR000000002", -100078, -100078, "REVERSED"),  # line 3
        Bank("SALE2", "UTR000000003", 200000, 200000),  # line 4
        Bank("SALE2", "UTR000000003", 250000, 250000),  # line 5: sent twice, differently
    ]
    publish(target, "AXIS_RECON_20250110.csv", axis_file(bank))
    publish(target, "PG_TXN_20250110.csv", pg_file(pg))
    for provider in ("AXIS", "PG"):
        await run_once(ctx, await make_connector(ctx, target, provider))
    await work_jobs(ctx)
    (job,) = await jobs(ctx)
    assert counts(job) == {"MATCHED": 3, "DUPLICATE_BANK": 1}
    assert job.summary is not None
    matched = job.summary["outcomes"]["MATCHED"]
    assert (matched["pgGrossPaise"], matched["bankGrossPaise"], matched["deltaPaise"]) == (
        500000 - 100078 + 200000,
        500000 - 100078 + 200000,
        0,
    )
    (dup,) = await exceptions(ctx, "DUPLICATE_BANK")
    (bank_file,) = [f for f in await files(ctx) if f.provider == "AXIS"]
    assert dup.data is not None
    assert (dup.data["bankLine"], dup.data["firstLine"], dup.data["firstDeltaPaise"]) == (
        5,
        4,
        50000,
    )
    assert re.search(r"line 5\b.*line 4\b", dup.message), dup.message
    assert public_id("file", bank_file.id) in dup.message
    assert "₹2,500.00" in dup.message and "₹2,000.00" in dup.message
    assert "difference ₹500.00" in dup.message
