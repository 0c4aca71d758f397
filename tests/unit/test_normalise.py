"""Normalising provider files into canonical rows."""

from __future__ import annotations

import io
import json
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

import openpyxl
import polars as pl
import pytest

from bankfeeds.connectors.layouts import LAYOUTS, Layout
from bankfeeds.core.errors import LayoutMismatch, ParseError
from bankfeeds.normalise.rules import CANONICAL_SCHEMA, BadRow, normalise, write_parquet
from bankfeeds.sandbox.generate import generate_day

SAMPLE = Path(__file__).parents[1] / "fixtures" / "AXIS_RECON_20250110.csv"  # the spec's sample
DAY = date(2025, 1, 10)
AXIS_HEAD = "TXNID,CREDIT_AMT,NET_CR_AMT,VALUE_DATE,UTR,RRN,AUTH,POST_DATE,BANK,STATUS,REMARKS"
ICICI_HEAD = (
    "Transaction ID|Bank Ref No|UTR|Transaction Date|Value Date|Amount|Charges|Net Amount|"
    "Dr/Cr|Status|Remarks"
)


def _bank(data: bytes | Path, layout: str, **kw: float) -> tuple[pl.DataFrame, list[BadRow]]:
    result = normalise(data, LAYOUTS[layout], side="BANK", source_file_id=7, cycle_date=DAY, **kw)
    return result.rows, result.bad_rows


def _axis_row(txn: str, amt: str = "100.00", net: str = "99.00", day: str = "2025-01-10",
              status: str = "SUCCESS") -> str:  # fmt: skip
    return f"{txn},{amt},{net},{day},UTR{txn},RRN{txn},A1,{day},AXIS,{status},ok"


def test_spec_sample_rows_and_exact_paise() -> None:
    result = normalise(SAMPLE, LAYOUTS["AXIS"], side="BANK", source_file_id=3, cycle_date=DAY)
    rows = result.rows
    assert dict(rows.schema) == CANONICAL_SCHEMA
    assert result.bad_rows == []
    assert not result.quarantined
    assert rows["source_row"].to_list() == list(range(2, 12))  # line 1 is the header
    assert rows["value_date"].unique().to_list() == [DAY]
    assert rows["gross_paise"].to_list()[:4] == [1_000_000, 500_000, 1_500_000, 750_000]
    first4 = rows.row(3, named=True)
    assert (first4["net_paise"], first4["fee_paise"]) == (746_250, 3_750)
    assert first4["utr"] == "UTR123456792"
    assert first4["txn_at"] == datetime(2025, 1, 9, 18, 30, tzinfo=UTC)  # IST midnight
    assert json.loads(first4["raw"])["AUTH"] == "AUTH004"
    assert rows["side"].unique().to_list() == ["BANK"]
    assert result.summary.rows == 10
    assert result.summary.count_by_status == {"SUCCESS": 9, "FAILED": 1}
    assert result.summary.gross_paise_by_status == {"SUCCESS": 9_150_000, "FAILED": 2_000_000}
    assert result.summary.net_paise_by_status["FAILED"] == 1_990_000


def test_bytes_and_path_give_the_same_rows() -> None:
    assert _bank(SAMPLE.read_bytes(), "AXIS")[0].equals(_bank(SAMPLE, "AXIS")[0])


@pytest.mark.parametrize("provider", ["AXIS", "BOB", "HDFC", "ICICI", "SBI", "YES", "KOTAK"])
def test_generated_files_parse_cleanly_in_every_layout(provider: str, tmp_path: Path) -> None:
    bank_file = generate_day(tmp_path, DAY, providers=(provider,), rows=30, seed=1)[0]
    rows, bad = _bank(bank_file, provider)
    assert bad == []
    assert rows.height == 30
    assert rows["gross_paise"].min() > 0  # type: ignore[operator]
    assert (rows["gross_paise"] - rows["fee_paise"] - rows["tax_paise"].fill_null(0)
            == rows["net_paise"]).all()  # fmt: skip
    assert rows["utr"].null_count() == 0
    assert rows["value_date"].unique().to_list() == [date(2025, 1, 11)]


def test_lakh_grouping_and_dr_cr() -> None:
    data = "\n".join([
        ICICI_HEAD,
        "T1|R1|U1|10/01/25 10:00|10/01/25|1,18,000.00|1,180.50|1,16,819.50|CR|Success|x",
        "T2|R2|U2|10/01/25 11:00|10/01/25|1,00,00,000.99|0.00|1,00,00,000.99|Dr|Reversed|y",
        "T3|R3|U3|10/01/25 12:00|11/01/25|118,000.5|0|118,000.5|C|SUCCESS|z",
    ]).encode()  # fmt: skip
    rows, bad = _bank(data, "ICICI")
    assert bad == []
    assert rows["gross_paise"].to_list() == [11_800_000, -1_000_000_099, 11_800_050]
    assert rows["net_paise"].to_list() == [11_681_950, -1_000_000_099, 11_800_050]
    assert rows["fee_paise"].to_list() == [118_050, 0, 0]
    assert rows["status"].to_list() == ["SUCCESS", "REVERSED", "SUCCESS"]
    assert rows["status_raw"].to_list() == ["Success", "Reversed", "SUCCESS"]
    assert rows["txn_at"][0] == datetime(2025, 1, 10, 4, 30, tzinfo=UTC)


@pytest.mark.parametrize(
    ("text", "paise"),
    [("0.1", 10), ("0.05", 5), ("-5.5", -550), ("+7", 700), ("99,999.99", 9_999_999)],
)
def test_rupee_strings_become_exact_paise(text: str, paise: int) -> None:
    row = _axis_row("T1", amt=f'"{text}"')
    data = f"{AXIS_HEAD}\n{row}\n".encode()
    rows, bad = _bank(data, "AXIS")
    assert bad == []
    assert rows["gross_paise"].to_list() == [paise]


def test_cp1252_file() -> None:
    head = "TXN_REF,UTR,RRN,TXN_DATE,VALUE_DT,AMOUNT_INR,NET_AMOUNT_INR,STATUS,NARRATION"
    line = "S1,SBIN1,501000000001,10-JAN-25 09:15:00,11-Jan-25,1200.00,1190.00,S,Café credit"
    rows, bad = _bank(f"{head}\r\n{line}\r\n".encode("cp1252"), "SBI")
    assert bad == []
    assert rows["value_date"].to_list() == [date(2025, 1, 11)]
    assert json.loads(rows["raw"][0])["NARRATION"] == "Café credit"


def test_undecodable_bytes_in_a_mapped_column_make_that_row_bad() -> None:
    # Issue 14: an undecodable byte no longer sinks the whole file, only a row that needs it.
    data = f"{AXIS_HEAD}\n{_axis_row('T0')}\n".encode() + _axis_row("T1").encode("utf-16")
    result = normalise(data, LAYOUTS["AXIS"], side="BANK", source_file_id=7, cycle_date=DAY)
    assert result.rows["txn_id"].to_list() == ["T0"]
    assert result.bad_rows == [BadRow(3, "bytes that are not valid utf-8 in TXNID")]
    assert result.summary.replaced_bytes == 2  # the UTF-16 BOM, FF FE


def test_bom_is_tolerated_even_when_the_layout_says_utf8() -> None:
    rows, bad = _bank(b"\xef\xbb\xbf" + f"{AXIS_HEAD}\n{_axis_row('T1')}\n".encode(), "AXIS")
    assert (rows.height, bad) == (1, [])
    assert next(iter(json.loads(rows["raw"][0]))) == "TXNID"


def test_trailer_line_and_footer_rows_are_dropped() -> None:
    head = "~".join(LAYOUTS["HDFC"].header)
    line = (
        "M1~H1~123456789012~HDFCN25010000001~10-01-2025 10:00:00~11-01-2025~100.00~1.00~0.18~"
        "98.82~SETTLED"
    )
    rows, bad = _bank(f"{head}\n{line}\nTRL~1~100.00\n\n".encode(), "HDFC")
    assert (rows.height, bad) == (1, [])
    assert (rows["fee_paise"][0], rows["tax_paise"][0], rows["net_paise"][0]) == (100, 18, 9882)
    yes_head = "\t".join(LAYOUTS["YES"].header)
    yes_line = "Y1\tU1\tR1\t10-01-2025 10:00:00\t11-01-2025\t10000\t50\t9950\tSUCCESS"
    yes = f"{yes_head}\n{yes_line}\nTOTAL RECORDS: 1\n".encode("utf-8-sig")
    rows, bad = _bank(yes, "YES")
    assert (rows.height, bad, rows["gross_paise"][0]) == (1, [], 10000)


def test_preamble_lines_are_skipped_and_line_numbers_count_them(tmp_path: Path) -> None:
    bob = generate_day(tmp_path, DAY, providers=("BOB",), rows=10, seed=3)[0]
    rows, bad = _bank(bob, "BOB")
    assert bad == []
    assert rows["source_row"].to_list() == list(range(4, 14))


def _kotak_xlsx(rows: list[list[object]]) -> bytes:
    book = openpyxl.Workbook()
    sheet = book.active
    assert sheet is not None
    for row in [["Kotak report"], list(LAYOUTS["KOTAK"].header), *rows]:
        sheet.append(row)
    buf = io.BytesIO()
    book.save(buf)
    return buf.getvalue()


def test_xlsx_numbers_dates_and_bad_cells() -> None:
    stamp, day = datetime(2025, 1, 10, 15, 45, 1), datetime(2025, 1, 11)
    data = _kotak_xlsx([
        ["K1", "U1", "R1", stamp, day, 1180.1, 11.8, Decimal("2.12"), 1166.18, "SUCCESS"],
        ["K2", "U2", "R2", stamp, day, 118000, 0, 0, 118000, "FAILED"],
        [None] * 10,
        ["K3", "U3", "R3", stamp, day, "12,34.5.6", 0, 0, 1, "SUCCESS"],
    ])  # fmt: skip
    rows, bad = _bank(data, "KOTAK")
    assert rows["gross_paise"].to_list() == [118_010, 11_800_000]
    assert rows["net_paise"].to_list() == [116_618, 11_800_000]
    assert rows["source_row"].to_list() == [3, 4]
    assert rows["txn_at"][0] == datetime(2025, 1, 10, 10, 15, 1, tzinfo=UTC)
    assert bad == [BadRow(6, "invalid amount '12,34.5.6' in Gross Amount")]


def test_bad_rows_carry_line_numbers_and_reasons() -> None:
    lines = [
        AXIS_HEAD,
        _axis_row("T1"),
        _axis_row("T2", amt="12.345"),
        _axis_row("T3", day="2025-13-01"),
        _axis_row("T4", status="WEIRD"),
        "T5,1.00,1.00",
        _axis_row("", amt="5.00"),
        _axis_row("T7", amt="1.00.0"),
        _axis_row("T8", amt="NA"),
        _axis_row("T9"),
    ]
    rows, bad = _bank("\n".join(lines).encode(), "AXIS", max_bad_share=1.0)
    assert rows["source_row"].to_list() == [2, 10]
    assert bad == [
        BadRow(3, "invalid amount '12.345' in CREDIT_AMT"),
        BadRow(4, "invalid date '2025-13-01' in VALUE_DATE"),
        BadRow(5, "unknown status 'WEIRD' in STATUS"),
        BadRow(6, "expected 11 fields, found 3"),
        BadRow(7, "missing TXNID"),
        BadRow(8, "invalid amount '1.00.0' in CREDIT_AMT"),
        BadRow(9, "missing CREDIT_AMT"),
    ]


def test_quoted_fields_keep_their_delimiters() -> None:
    line = 'T1,"1,18,000.00",118000,2025-01-10,u1,R1,A,2025-01-10,AXIS,SUCCESS,"paid, thanks"'
    rows, bad = _bank(f"{AXIS_HEAD}\n{_axis_row('T0')}\n{line}\n".encode(), "AXIS")
    assert bad == []
    assert rows["gross_paise"].to_list() == [10_000, 11_800_000]
    assert rows["utr"].to_list() == ["UTRT0", "U1"]
    assert json.loads(rows["raw"][1])["REMARKS"] == "paid, thanks"


@pytest.mark.parametrize(("bad_count", "quarantined"), [(0, False), (1, False), (2, True)])
def test_quarantine_threshold(bad_count: int, quarantined: bool) -> None:
    good = [_axis_row(f"T{i}") for i in range(20 - bad_count)]
    lines = [AXIS_HEAD, *good, *[_axis_row(f"B{i}", amt="oops") for i in range(bad_count)]]
    result = normalise("\n".join(lines).encode(), LAYOUTS["AXIS"], side="BANK",
                       source_file_id=1, cycle_date=DAY)  # fmt: skip
    assert result.quarantined is quarantined
    assert len(result.bad_rows) == bad_count == result.summary.bad_rows
    if quarantined:
        assert result.quarantine_reason == (
            "2 of 20 rows (10.0%) could not be parsed, above the 5.0% limit; "
            "first at line 20: invalid amount 'oops' in CREDIT_AMT"
        )
    else:
        assert result.quarantine_reason is None


def test_header_without_a_needed_column_is_a_layout_mismatch() -> None:
    # Issue 14: an optional column (NET_CR_AMT) may be absent; the amount may not.
    with pytest.raises(
        LayoutMismatch, match=r"^AXIS header \(line 1\) has no column 'CREDIT_AMT'$"
    ):
        _bank(b"TXNID,NET_CR_AMT,VALUE_DATE,UTR,RRN,POST_DATE,STATUS\n", "AXIS")
    rows, bad = _bank(b"TXNID,CREDIT_AMT,VALUE_DATE,UTR,RRN,POST_DATE,STATUS\n", "AXIS")
    assert (rows.height, bad) == (0, [])
    with pytest.raises(ParseError, match="no header"):
        _bank(b"", "BOB")


def test_header_matching_ignores_case_and_padding_and_empty_file_has_no_rows() -> None:
    rows, bad = _bank(AXIS_HEAD.lower().replace(",", " , ").encode(), "AXIS")
    assert (rows.height, bad) == (0, [])
    assert dict(rows.schema) == CANONICAL_SCHEMA


def test_pg_export_paise_timestamps_and_fields() -> None:
    head = ",".join(LAYOUTS["PG"].header)
    line = ("pay_1,MID1,  hdfcn25010000001 ,118000,1180,212,116608,SUCCESS,upi,HDFC,"
            "2025-01-10T23:30:00+05:30,2025-01-11T01:00:00Z")  # fmt: skip
    result = normalise(f"{head}\n{line}\n".encode(), LAYOUTS["PG"], side="PG",
                       source_file_id=9, cycle_date=DAY)  # fmt: skip
    row = result.rows.row(0, named=True)
    assert (row["side"], row["txn_id"], row["merchant_id"], row["utr"]) == (
        "PG", "pay_1", "MID1", "HDFCN25010000001",
    )  # fmt: skip
    assert (row["gross_paise"], row["fee_paise"], row["tax_paise"], row["net_paise"]) == (
        118000, 1180, 212, 116608,
    )  # fmt: skip
    assert row["txn_at"] == datetime(2025, 1, 10, 18, 0, tzinfo=UTC)
    assert row["value_date"] == date(2025, 1, 11)  # 01:00 UTC is 06:30 IST on the 11th
    assert (row["payment_method"], row["currency"], row["rrn"]) == ("UPI", "INR", None)


def test_custom_layout_without_status_or_net_uses_defaults() -> None:
    # Issue 14: without net, fee or tax the file says nothing about charges (was fee 0, net gross).
    layout = Layout(name="C", delimiter=";", columns={"utr": "ref", "amount": "amt"},
                    default_status="SUCCESS")  # fmt: skip
    result = normalise(
        b"ref;amt\nabc;10.00\n", layout, side="BANK", source_file_id=1, cycle_date=DAY
    )
    row = result.rows.row(0, named=True)
    assert (row["status"], row["gross_paise"], row["net_paise"], row["fee_paise"]) == (
        "SUCCESS", 1000, None, None,
    )  # fmt: skip
    assert (row["tax_paise"], row["value_date"]) == (None, None)


def test_write_parquet_round_trips(tmp_path: Path) -> None:
    rows, _ = _bank(SAMPLE, "AXIS")
    target = tmp_path / "rows.parquet"
    write_parquet(rows, target)
    assert pl.read_parquet(target).equals(rows)
    assert [p.name for p in tmp_path.iterdir()] == ["rows.parquet"]
