"""XLSX bank files go through the same layout mechanism as text files, with sheet row numbers."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

import openpyxl

from bankfeeds.connectors.layouts import LAYOUTS, layout_from_dict
from bankfeeds.normalise.rules import CANONICAL_SCHEMA, BadRow, normalise
from bankfeeds.normalise.tabular import read_file

DAY = date(2025, 1, 10)


def _workbook(path: Path, rows: list[list[object]], *, extra_sheet: bool = False) -> Path:
    """Save ``rows`` as the first sheet of a real .xlsx file (optionally with a second sheet)."""
    book = openpyxl.Workbook()
    sheet = book.active
    assert sheet is not None
    for row in rows:
        sheet.append(row)
    if extra_sheet:
        # Only the first sheet is the bank's data; a summary sheet must not leak into it.
        summary = book.create_sheet("Summary")
        summary.append(["Reference", "Amount (INR)", "Settled On", "State"])
        summary.append(["NOT-A-ROW", 1, DAY, "OK"])
    book.save(path)
    return path


def test_kotak_xlsx_normalises_with_amounts_dates_and_sheet_rows(tmp_path: Path) -> None:
    kotak = LAYOUTS["KOTAK"]
    assert kotak.file_format == "xlsx"
    stamp = datetime(2025, 1, 10, 15, 45, 1)
    path = _workbook(
        tmp_path / "KOTAK_SETTLEMENT_20250110.xlsx",
        [
            ["Kotak Mahindra Bank - settlement report"],  # row 1: title
            list(kotak.header),  # row 2
            ["K1", "utr001", "R1", stamp, datetime(2025, 1, 11), 1180.1, 10, Decimal("1.8"), 1168.3,
             "SUCCESS"],  # row 3
            ["K2", "UTR002", "R2", datetime(2025, 1, 10), date(2025, 1, 11), "1,18,000.00", 0, 0,
             118000, " success "],  # row 4: text amount, date-only timestamp, padded status
            [None] * 10,  # row 5: blank, skipped
            ["K4", "UTR004", "R4", stamp, datetime(2025, 1, 11), "abc", 0, 0, 0, "SUCCESS"],  # 6
            ["K5", "UTR005", "R5", stamp, datetime(2025, 1, 11), 250, 2.5, 0.45, 247.05, "FAILED"],
        ],
    )  # fmt: skip

    table = read_file(path.read_bytes(), kotak)
    header, body = table.header, table.body
    assert header == list(kotak.header)
    assert body["__line"].to_list() == [3, 4, 6, 7]  # sheet row numbers, blank row dropped
    assert body["__fields"][0].to_list()[5:9] == ["1180.1", "10", "1.8", "1168.3"]

    result = normalise(
        path, kotak, side="BANK", source_file_id=42, cycle_date=DAY, max_bad_share=0.5
    )
    rows = result.rows
    assert dict(rows.schema) == CANONICAL_SCHEMA
    assert result.bad_rows == [BadRow(6, "invalid amount 'abc' in Gross Amount")]
    assert not result.quarantined
    assert rows["source_row"].to_list() == [3, 4, 7]
    assert rows["txn_id"].to_list() == ["K1", "K2", "K5"]
    assert rows["utr"].to_list() == ["UTR001", "UTR002", "UTR005"]
    assert rows["gross_paise"].to_list() == [118_010, 11_800_000, 25_000]
    assert rows["fee_paise"].to_list() == [1_000, 0, 250]
    assert rows["tax_paise"].to_list() == [180, 0, 45]
    assert rows["net_paise"].to_list() == [116_830, 11_800_000, 24_705]
    assert rows["status"].to_list() == ["SUCCESS", "SUCCESS", "FAILED"]
    assert rows["status_raw"].to_list() == ["SUCCESS", "success", "FAILED"]
    assert rows["txn_at"].to_list() == [
        datetime(2025, 1, 10, 10, 15, 1, tzinfo=UTC),  # 15:45:01 IST
        datetime(2025, 1, 9, 18, 30, tzinfo=UTC),  # a bare date is local midnight
        datetime(2025, 1, 10, 10, 15, 1, tzinfo=UTC),
    ]
    assert rows["value_date"].to_list() == [date(2025, 1, 11)] * 3
    assert rows["source_file_id"].unique().to_list() == [42]
    raw = json.loads(rows["raw"][0])
    assert raw["Gross Amount"] == "1180.1"
    assert raw["Txn Date"] == "2025-01-10 15:45:01"
    assert result.summary.gross_paise_by_status == {"SUCCESS": 11_918_010, "FAILED": 25_000}


def test_custom_xlsx_layout_with_preamble_footer_and_second_sheet(tmp_path: Path) -> None:
    layout = layout_from_dict(
        {
            "name": "ACME",
            "file_format": "xlsx",
            "header_row": 2,
            "footer_rows": 1,
            "columns": {
                "utr": "Reference",
                "amount": "Amount (INR)",
                "value_date": "Settled On",
                "status": "State",
            },
            "status_map": {"ok": "SUCCESS", "ko": "FAILED"},
        }
    )
    path = _workbook(
        tmp_path / "ACME_20250110.xlsx",
        [
            ["ACME Bank settlement"],
            ["Cycle", "10-01-2025"],
            ["Reference", "Amount (INR)", "Settled On", "State", "Note"],
            ["ref-1", 100, DAY, "OK"],  # shorter than the header: trailing cells are empty
            ["ref-2", 99.99, DAY, "ko", "late"],
            ["ref-3", "1,234.50", DAY, "Ok", None],
            ["TOTAL", 1434.49],  # the footer row
        ],
        extra_sheet=True,
    )
    result = normalise(path, layout, side="BANK", source_file_id=1, cycle_date=DAY)
    rows = result.rows
    assert result.bad_rows == []
    assert rows["source_row"].to_list() == [4, 5, 6]
    assert rows["utr"].to_list() == ["REF-1", "REF-2", "REF-3"]
    assert rows["gross_paise"].to_list() == [10_000, 9_999, 123_450]
    # No fee, tax or net column: nothing to check fees against, so no fee and no net.
    assert rows["net_paise"].to_list() == [None, None, None]
    assert rows["status"].to_list() == ["SUCCESS", "FAILED", "SUCCESS"]
    assert rows["value_date"].to_list() == [DAY] * 3
    assert json.loads(rows["raw"][1])["Note"] == "late"
