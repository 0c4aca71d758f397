"""The exception rows a recon job opens: messages people can act on, and the data behind them."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

import polars as pl

from bankfeeds.normalise.rules import CANONICAL_SCHEMA
from bankfeeds.recon.match import reconcile
from bankfeeds.recon.results import exception_rows, job_summary
from bankfeeds.storage.db.models import IngestedFile, ReconJob

DAY = date(2025, 1, 10)
NOW = datetime(2025, 1, 11, 9, 0, tzinfo=UTC)
PG_FILE, BANK_FILE = 11, 12


def _frame(side: str, specs: list[dict[str, Any]], file_id: int) -> pl.DataFrame:
    """Canonical rows; lines count from 2 like a file with a header unless a spec says ``line``."""
    rows = []
    for line, spec in enumerate(specs, start=2):
        gross = spec["gross"]
        rows.append({
            "side": side, "source_file_id": file_id, "source_row": spec.get("line", line),
            "cycle_date": DAY, "txn_id": spec["txn_id"], "utr": "U" + spec["txn_id"], "rrn": None,
            "gross_paise": gross, "fee_paise": spec.get("fee"), "tax_paise": None,
            "net_paise": spec.get("net"), "currency": "INR",
            "status": spec.get("status", "SUCCESS"), "status_raw": "x", "txn_at": None,
            "value_date": DAY, "payment_method": "UPI", "merchant_id": "M1", "raw": "{}",
        })  # fmt: skip
    return pl.DataFrame(rows, schema=CANONICAL_SCHEMA)


def _rows(pg: list[dict[str, Any]], bank: list[dict[str, Any]], **kw: Any) -> list[dict[str, Any]]:
    result = reconcile(_frame("PG", pg, PG_FILE), _frame("BANK", bank, BANK_FILE))
    job = ReconJob(id=5, provider="AXIS", cycle_date=DAY)
    bank_file = IngestedFile(id=BANK_FILE, connector_id=2, run_id=20)
    pg_file = IngestedFile(id=PG_FILE, connector_id=1, run_id=10)
    return exception_rows(result, job, bank_file, pg_file, NOW, **kw)


def test_a_refund_against_the_bank_debit_opens_nothing() -> None:
    pg = [{"txn_id": "R1", "gross": 100_078, "net": 100_078, "status": "REVERSED"}]
    bank = [{"txn_id": "R1", "gross": -100_078, "net": -100_078, "status": "REVERSED"}]
    assert _rows(pg, bank) == []


def test_a_gross_only_bank_file_opens_nothing_when_gross_agrees() -> None:
    pg = [{"txn_id": "T1", "gross": 100_078, "fee": 1_000, "net": 99_078}]
    assert _rows(pg, [{"txn_id": "T1", "gross": 100_078}]) == []


def test_fee_mismatch_message_shows_the_net_difference() -> None:
    pg = [{"txn_id": "T1", "gross": 12_397_100, "net": 12_297_100}]
    bank = [{"txn_id": "T1", "gross": 12_397_100, "net": 12_197_100}]
    [row] = _rows(pg, bank)
    assert row["message"] == (
        "FEE_MISMATCH: T1: gross PG ₹1,23,971.00, bank ₹1,23,971.00; net PG ₹1,22,971.00, "
        "bank ₹1,21,971.00 (net difference -₹1,000.00)."
    )
    assert (row["data"]["amountDeltaPaise"], row["data"]["netDeltaPaise"]) == (0, -100_000)


def test_amount_mismatch_message_uses_indian_grouping() -> None:
    [row] = _rows([{"txn_id": "T1", "gross": 12_397_100}], [{"txn_id": "T1", "gross": 12_000_000}])
    assert row["message"] == (
        "AMOUNT_MISMATCH: T1: PG ₹1,23,971.00 SUCCESS, bank ₹1,20,000.00 SUCCESS "
        "(difference -₹3,971.00)."
    )


def test_a_duplicate_names_both_lines_and_the_difference() -> None:
    bank = [
        {"txn_id": "TXN1", "gross": 100_078, "line": 3},
        {"txn_id": "TXN1", "gross": 100_078, "line": 7},
        {"txn_id": "TXN1", "gross": 100_000, "status": "REVERSED", "line": 9},
    ]
    rows = _rows([{"txn_id": "TXN1", "gross": 100_078}], bank)
    assert [r["message"] for r in rows] == [
        "DUPLICATE_BANK: TXN1: bank line 7 repeats line 3 (file_12), ₹1,000.78 vs ₹1,000.78 "
        "(difference ₹0.00).",
        "DUPLICATE_BANK: TXN1: bank line 9 repeats line 3 (file_12), ₹1,000.00 vs ₹1,000.78 "
        "(SUCCESS then REVERSED) (difference -₹2,000.78).",
    ]
    first = rows[0]["data"]
    assert {k: v for k, v in first.items() if k.startswith("first")} == {
        "firstFileId": "file_12", "firstLine": 3, "firstGrossPaise": 100_078,
        "firstStatus": "SUCCESS", "firstDeltaPaise": 0,
    }  # fmt: skip
    assert (first["bankFileId"], first["bankLine"], rows[0]["source_row"]) == ("file_12", 7, 7)
    assert [r["severity"] for r in rows] == ["HIGH", "HIGH"]


def test_rows_are_homed_in_the_file_their_line_came_from() -> None:
    other = IngestedFile(id=BANK_FILE, connector_id=3, run_id=30)
    rows = _rows([{"txn_id": "A", "gross": 500}], [{"txn_id": "B", "gross": 700}],
                 files={BANK_FILE: other})  # fmt: skip
    homes = {r["kind"]: (r["connector_id"], r["run_id"], r["file_id"]) for r in rows}
    assert homes == {"MISSING_IN_BANK": (1, 10, PG_FILE), "MISSING_IN_PG": (3, 30, BANK_FILE)}
    assert [r["message"] for r in rows] == [
        "MISSING_IN_BANK: A: PG line 2, ₹5.00.",
        "MISSING_IN_PG: B: bank line 2, ₹7.00.",
    ]


def test_job_summary_totals_are_directed() -> None:
    pg = [{"txn_id": "R1", "gross": 100_078, "status": "REVERSED"}, {"txn_id": "T2", "gross": 500}]
    bank = [{"txn_id": "R1", "gross": -100_078, "status": "REVERSED"}]
    result = reconcile(_frame("PG", pg, PG_FILE), _frame("BANK", bank, BANK_FILE))
    summary = job_summary(result, "results/x")
    assert summary["outcomes"]["MATCHED"] == {
        "count": 1, "paise": -100_078, "pgGrossPaise": -100_078, "bankGrossPaise": -100_078,
        "deltaPaise": 0,
    }  # fmt: skip
    assert (summary["pgRows"], summary["bankRows"], summary["exceptions"]) == (2, 1, 1)
