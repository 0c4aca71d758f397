"""Files as banks really write them (issue 14, "Read what banks write").

Stray bytes in free text, Excel's empty rows, totals and record counts under the body, title
lines above the header, absent optional columns, trailing delimiters and money written with
currency signs and Dr/Cr: each is read as the clean file would be, and only a trailer that
disagrees with the body fails the file.
"""

from __future__ import annotations

import io
import itertools
import json
from datetime import date, timedelta
from decimal import Decimal

import openpyxl
import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bankfeeds.connectors.layouts import LAYOUTS, Layout, header_needs
from bankfeeds.core.errors import LayoutMismatch, ParseError, TrailerMismatch
from bankfeeds.core.money import group_indian
from bankfeeds.normalise.rules import BadRow, NormaliseResult, normalise
from bankfeeds.normalise.tabular import read_file

DAY = date(2025, 1, 10)
AXIS_HEAD = "TXNID,CREDIT_AMT,NET_CR_AMT,VALUE_DATE,UTR,RRN,AUTH,POST_DATE,BANK,STATUS,REMARKS"
ICICI_HEAD = (
    "Transaction ID|Bank Ref No|UTR|Transaction Date|Value Date|Amount|Charges|Net Amount|"
    "Dr/Cr|Status|Remarks"
)


def _row(txn: str, amt: str = "100.00", net: str = "99.00", remark: str = "ok") -> str:
    return f"{txn},{amt},{net},2025-01-10,UTR{txn},RRN{txn},A1,2025-01-10,AXIS,SUCCESS,{remark}"


def _run(data: bytes, layout: str | Layout = "AXIS") -> NormaliseResult:
    chosen = LAYOUTS[layout] if isinstance(layout, str) else layout
    return normalise(data, chosen, side="BANK", source_file_id=1, cycle_date=DAY)


def _axis(*lines: str, end: str = "\n") -> bytes:
    return end.join([AXIS_HEAD, *lines]).encode()


# --- 1. decoding errors matter only in mapped columns ---------------------------------------


def test_a_cp1252_byte_in_an_unmapped_column_is_replaced_and_counted() -> None:
    data = _axis(_row("T1"), _row("T2", remark="Caf\x00")).replace(b"Caf\x00", b"Caf\xe9")
    result = _run(data)
    assert result.bad_rows == []
    assert result.rows["txn_id"].to_list() == ["T1", "T2"]
    assert json.loads(result.rows["raw"][1])["REMARKS"] == "Caf\ufffd"
    assert result.summary.replaced_bytes == 1
    assert not result.quarantined


def test_a_bad_byte_in_a_mapped_column_makes_only_that_row_bad() -> None:
    data = _axis(_row("T1"), _row("T2"), _row("T3")).replace(b"UTRT2", b"UTR\x92T2")
    result = _run(data)
    assert result.rows["txn_id"].to_list() == ["T1", "T3"]
    assert result.bad_rows == [BadRow(3, "bytes that are not valid utf-8 in UTR")]
    assert result.summary.replaced_bytes == 1


def test_bad_bytes_in_title_and_trailer_lines_cost_nothing() -> None:
    data = b"Relev\xe9 AXIS\n" + _axis(_row("T1"), "Total Records: 1 ") + b"\xa0\n\xff\n"
    result = _run(data)
    assert (result.rows.height, result.bad_rows) == (1, [])
    assert result.summary.replaced_bytes == 3
    assert result.summary.header_line == 2


def test_a_cp1252_layout_counts_its_undefined_bytes() -> None:
    head = "TXN_REF,UTR,RRN,TXN_DATE,VALUE_DT,AMOUNT_INR,NET_AMOUNT_INR,STATUS,NARRATION"
    line = "S1,SBIN1,5010001,10-JAN-25 09:15:00,11-Jan-25,1200.00,1190.00,S,Café ?"
    data = f"{head}\r\n{line}\r\n".encode("cp1252").replace(b"?", b"\x81")  # undefined in cp1252
    result = _run(data, "SBI")
    assert result.bad_rows == []
    assert json.loads(result.rows["raw"][0])["NARRATION"] == "Café \ufffd"
    assert result.summary.replaced_bytes == 1


def test_bom_with_a_quoted_header_and_crlf() -> None:
    head = ",".join(f'"{name}"' for name in AXIS_HEAD.split(","))
    data = b"\xef\xbb\xbf" + "\r\n".join([head, _row("T1"), _row("T2"), ""]).encode()
    for layout in ("AXIS", LAYOUTS["AXIS"].model_copy(update={"encoding": "utf-8-sig"})):
        result = _run(data, layout)
        assert (result.rows["txn_id"].to_list(), result.bad_rows) == (["T1", "T2"], [])
        assert next(iter(json.loads(result.rows["raw"][0]))) == "TXNID"


def test_a_bad_byte_in_the_header_names_the_line() -> None:
    with pytest.raises(LayoutMismatch) as info:
        _run(b"\xff" + _axis(_row("T1")))
    assert info.value.message == (
        "AXIS header (line 1) has no column 'TXNID' (line 1 has bytes that are not valid utf-8)"
    )


# --- 2. empty rows are skipped --------------------------------------------------------------


def test_blank_lines_and_excel_empty_rows_are_not_rows() -> None:
    data = _axis(
        ",,,,,,,,,,", _row("T1"), "", " , ,,,,,,,,, ", _row("T2"), "   ", ",,,,,,,,,,,", ""
    )
    result = _run(data)
    assert result.rows["source_row"].to_list() == [3, 6]
    assert result.bad_rows == []
    assert result.summary.trailer_lines == ()


def test_a_line_of_more_delimiters_than_columns_is_a_broken_row() -> None:
    result = _run(_axis(_row("T1"), "," * 40))
    assert result.bad_rows == [BadRow(3, "expected 11 fields, found 41")]


def _kotak(rows: list[list[object]], titles: int = 1) -> bytes:
    book = openpyxl.Workbook()
    sheet = book.active
    assert sheet is not None
    for row in [["Kotak report"]] * titles + [list(LAYOUTS["KOTAK"].header), *rows]:
        sheet.append(row)
    buf = io.BytesIO()
    book.save(buf)
    return buf.getvalue()


def _kotak_row(ref: str, gross: object = 100, fee: object = 1, net: object = 99) -> list[object]:
    return [ref, f"U{ref}", f"R{ref}", "2025-01-10", "2025-01-11", gross, fee, 0, net, "SUCCESS"]


def test_xlsx_empty_rows_are_skipped() -> None:
    data = _kotak([_kotak_row("K1"), [None] * 10, ["", " ", None], _kotak_row("K2"), [None] * 3])
    result = _run(data, "KOTAK")
    assert result.rows["source_row"].to_list() == [3, 6]
    assert result.bad_rows == []


# --- 3. trailers and totals -----------------------------------------------------------------


@pytest.mark.parametrize(
    "trailer",
    [
        ["TOTAL,,,,,,,,,,"],
        ["TOTAL,200.00,198.00,,,,,,,,"],
        ['Grand Total,"200.00","198.00",,,,,,,,'],
        ["Total Records: 2"],
        ["Record Count: 2"],
        ["TRL~2~200.00"],
        ["Count of records = 2"],
        ["Total Amount: INR 200.00", "No. of records: 2"],
        ["TOTAL,200.00,198.00,,,,,,,,", "Record Count: 2", "", "Generated by FinSys on 10-01-2025"],
        ["*** END OF REPORT ***"],
        ["total records - 2"],
    ],
)
def test_trailers_are_recognised_and_agree(trailer: list[str]) -> None:
    result = _run(_axis(_row("T1"), _row("T2"), *trailer))
    assert result.rows["txn_id"].to_list() == ["T1", "T2"]
    assert result.bad_rows == []
    lines = [4 + i for i, text in enumerate(trailer) if text]
    assert result.summary.trailer_lines == tuple(lines)


@pytest.mark.parametrize(
    ("trailer", "message"),
    [
        (
            "Record Count: 3",
            "trailer line 4 ('Record Count: 3') says 3 records, the body has 2 rows",
        ),
        ("TRL~1~100.00", "trailer line 4 ('TRL~1~100.00') says 1 record, the body has 2 rows"),
        (
            "TOTAL,300.00,,,,,,,,,",
            "trailer line 4 ('TOTAL,300.00,,,,,,,,,') says the CREDIT_AMT total is ₹300.00, "
            "the body's CREDIT_AMT adds up to ₹200.00",
        ),
        (
            "TOTAL,200.00,199.00,,,,,,,,",
            "trailer line 4 ('TOTAL,200.00,199.00,,,,,,,,') says the NET_CR_AMT total is ₹199.00, "
            "the body's NET_CR_AMT adds up to ₹198.00",
        ),
        (
            'Total Amount: "1,23,456.78"',
            "trailer line 4 ('Total Amount: \"1,23,456.78\"') says the CREDIT_AMT total is "
            "₹1,23,456.78, the body's CREDIT_AMT adds up to ₹200.00",
        ),
    ],
)
def test_a_trailer_that_disagrees_fails_the_file(trailer: str, message: str) -> None:
    with pytest.raises(TrailerMismatch) as info:
        _run(_axis(_row("T1"), _row("T2"), trailer))
    assert info.value.message == f"the file looks truncated or padded: {message}"
    assert isinstance(info.value, ParseError)
    assert info.value.code == "trailer-mismatch"


def test_a_trailer_total_in_indian_grouping_agrees() -> None:
    big = _row("T1", amt='"1,23,356.78"', net='"1,23,000.00"')
    result = _run(_axis(big, _row("T2"), "Total Amount: 1,23,456.78", "Total Records: 2"))
    assert (result.rows.height, result.bad_rows) == (2, [])


def test_the_count_includes_bad_rows_and_a_bad_amount_skips_the_sum() -> None:
    data = _axis(_row("T1"), _row("T2", amt="oops"), "TOTAL,999.99,,,,,,,,,", "Record Count: 2")
    result = _run(data)
    assert result.bad_rows == [BadRow(3, "invalid amount 'oops' in CREDIT_AMT")]
    assert result.summary.trailer_lines == (4, 5)


def test_words_that_only_start_like_a_trailer_are_rows() -> None:
    line = "TOTAL123,5.00,5.00,2025-01-10,U9,R9,A1,2025-01-10,AXIS,SUCCESS,x"
    keyed = "TOTAL,5.00,5.00,2025-01-10,U8,R8,A1,2025-01-10,AXIS,SUCCESS,x"  # it has a UTR
    result = _run(_axis(_row("T1"), line, keyed))
    assert result.rows["txn_id"].to_list() == ["T1", "TOTAL123", "TOTAL"]
    assert result.summary.trailer_lines == ()


def test_a_subtotal_between_rows_stays_a_row() -> None:
    result = _run(_axis(_row("T1"), "Sub Total,100.00,99.00,,,,,,,,", _row("T2")))
    assert result.rows["txn_id"].to_list() == ["T1", "T2"]
    assert result.bad_rows == [BadRow(3, "missing STATUS")]


def test_layout_trailers_are_checked_too() -> None:
    head = "~".join(LAYOUTS["HDFC"].header)
    line = "M1~H1~1234~HDFCN1~10-01-2025 10:00:00~11-01-2025~100.00~1.00~0.18~98.82~SETTLED"
    ok = _run(f"{head}\n{line}\nTRL~1~100.00\n".encode(), "HDFC")
    assert (ok.rows.height, ok.summary.trailer_lines) == (1, (3,))
    with pytest.raises(
        TrailerMismatch, match=r"trailer line 3 .* says 2 records, the body has 1 row$"
    ):
        _run(f"{head}\n{line}\nTRL~2~200.00\n".encode(), "HDFC")
    yes_head = "\t".join(LAYOUTS["YES"].header)
    yes_line = "Y1\tU1\tR1\t10-01-2025 10:00:00\t11-01-2025\t10000\t50\t9950\tSUCCESS"
    with pytest.raises(TrailerMismatch, match=r"trailer line 4 .* says 3 records"):
        _run(f"{yes_head}\n{yes_line}\n{yes_line}\nTOTAL RECORDS: 3\n".encode(), "YES")


def test_dr_cr_totals_agree_signed_or_absolute() -> None:
    rows = [
        "T1|R1|U1|10/01/25 10:00|10/01/25|1,000.00|0|1,000.00|CR|SUCCESS|x",
        "T2|R2|U2|10/01/25 11:00|10/01/25|300.00|0|300.00|DR|REVERSED|y",
    ]
    for total in ("1,300.00", "700.00"):
        result = _run("\n".join([ICICI_HEAD, *rows, f"TOTAL|||||{total}|||||"]).encode(), "ICICI")
        assert (result.rows.height, result.bad_rows) == (2, [])
    with pytest.raises(TrailerMismatch, match=r"adds up to ₹1,300\.00"):
        _run("\n".join([ICICI_HEAD, *rows, "TOTAL|||||1,200.00|||||"]).encode(), "ICICI")


def test_an_xlsx_totals_row_is_a_checked_trailer() -> None:
    good = [_kotak_row("K1", 1180.1, 11.8, 1168.3), _kotak_row("K2", 20, 0, 20)]
    total = ["Total", None, None, None, None, 1200.1, 11.8, 0, 1188.3, None]
    result = _run(_kotak([*good, total]), "KOTAK")
    assert (result.rows.height, result.bad_rows, result.summary.trailer_lines) == (2, [], (5,))
    total[5] = Decimal("1200.2")
    with pytest.raises(
        TrailerMismatch, match=r"trailer line 5 .* Gross Amount total is ₹1,200\.20"
    ):
        _run(_kotak([*good, total]), "KOTAK")


# --- 4. title lines before the header ---------------------------------------------------------


def test_title_lines_are_skipped_by_finding_the_header() -> None:
    data = "\n".join(["AXIS BANK LTD", "Settlement report, 10/01/2025", "", AXIS_HEAD, _row("T1")])
    result = _run(data.encode())
    assert result.rows["source_row"].to_list() == [5]
    assert (result.bad_rows, result.summary.header_line) == ([], 4)


def test_header_row_is_a_hint_not_a_must() -> None:
    bob = LAYOUTS["BOB"]  # header_row=2
    head = ",".join(bob.header)
    line = "1,M1,100.00,1.00,0.18,98.82,11/01/2025,UTR1,RRN1,10/01/2025 10:00:00,SUCCESS"
    result = _run(f"{head}\n{line}\n".encode(), bob)
    assert (result.rows["source_row"].to_list(), result.bad_rows) == ([2], [])


def test_xlsx_title_rows_are_skipped() -> None:
    result = _run(_kotak([_kotak_row("K1")], titles=3), "KOTAK")
    assert (result.rows["source_row"].to_list(), result.summary.header_line) == ([5], 4)


def test_no_header_names_header_row_and_the_columns() -> None:
    with pytest.raises(LayoutMismatch) as info:
        _run(b"ACME report\nnothing,here\n1,2")
    assert info.value.message == (
        "AXIS: found no header in lines 1-3: none has any of the columns 'TXNID', 'CREDIT_AMT', "
        "'NET_CR_AMT', 'VALUE_DATE', 'UTR', 'RRN', 'POST_DATE', 'STATUS'; the layout's "
        "header_row is 0, and the header (line 1) has no column 'CREDIT_AMT', 'TXNID', 'STATUS'"
    )
    with pytest.raises(LayoutMismatch, match=r"header_row is 2, and the header \(line 3\) is past"):
        _run(b"x\ny", "BOB")


def test_the_header_is_looked_for_in_the_first_20_lines_only() -> None:
    titles = [f"title {i}" for i in range(20)]
    with pytest.raises(LayoutMismatch, match="found no header in lines 1-20"):
        _run("\n".join([*titles, AXIS_HEAD, _row("T1")]).encode())
    assert _run("\n".join([*titles[:19], AXIS_HEAD, _row("T1")]).encode()).rows.height == 1


# --- 5. optional columns ----------------------------------------------------------------------


def test_optional_columns_may_be_absent() -> None:
    head = "TXNID,CREDIT_AMT,VALUE_DATE,UTR,STATUS"
    result = _run(f"{head}\nT1,100.00,2025-01-11,utr1,SUCCESS\n".encode())
    row = result.rows.row(0, named=True)
    assert result.bad_rows == []
    assert (row["txn_id"], row["utr"], row["rrn"], row["txn_at"]) == ("T1", "UTR1", None, None)
    assert (row["gross_paise"], row["fee_paise"], row["net_paise"]) == (10_000, None, None)


@pytest.mark.parametrize(
    ("head", "missing"),
    [
        ("TXNID,NET_CR_AMT,UTR,STATUS", "'CREDIT_AMT'"),
        ("CREDIT_AMT,UTR,STATUS", "'TXNID'"),  # AXIS requires txn_id
        ("TXNID,CREDIT_AMT,UTR", "'STATUS'"),
    ],
)
def test_needed_columns_must_be_there(head: str, missing: str) -> None:
    with pytest.raises(LayoutMismatch) as info:
        _run(f"{head}\nT1,1,2,3\n".encode())
    assert info.value.message == f"AXIS header (line 1) has no column {missing}"


def test_one_key_of_several_is_enough_and_none_is_an_error() -> None:
    layout = Layout(name="ACME", columns={"txn_id": "Ref", "utr": "UTR", "rrn": "RRN",
                    "amount": "Amt", "status": "State"}, status_map={"OK": "SUCCESS"},
                    default_status="SUCCESS")  # fmt: skip
    assert header_needs(layout) == (("amount",), ("txn_id", "utr", "rrn"))
    result = _run(b"UTR,Amt\nu1,5\n", layout)
    assert (result.rows["utr"].to_list(), result.rows["status"].to_list()) == (["U1"], ["SUCCESS"])
    with pytest.raises(LayoutMismatch) as info:
        _run(b"Amt,State\n5,OK\n", layout)
    assert info.value.message == "ACME header (line 1) has none of the columns 'Ref', 'UTR', 'RRN'"
    with pytest.raises(LayoutMismatch) as info:
        _run(b"State,Other\nOK,1\n", layout)
    assert info.value.message == (
        "ACME header (line 1) has no column 'Amt', nor any of 'Ref', 'UTR', 'RRN'"
    )


def test_header_matching_ignores_spaces_quotes_and_case() -> None:
    head = ' txnid ,"Credit_Amt",NET_CR_AMT,VALUE DATE,UTR,RRN,AUTH,POST_DATE,BANK,Status,REMARKS'
    result = _run(f"{head}\n{_row('T1')}\n".encode().replace(b"VALUE DATE", b"VALUE_DATE "))
    assert (result.rows.height, result.bad_rows) == (1, [])


# --- 6. trailing delimiters -------------------------------------------------------------------


def test_a_trailing_delimiter_is_tolerated_on_rows_and_header() -> None:
    for head, first, second in [
        (AXIS_HEAD, _row("T1") + ",", _row("T2")),
        (AXIS_HEAD + ",", _row("T1") + ",", _row("T2") + ","),
        (AXIS_HEAD + ",", _row("T1"), _row("T2") + ", "),
    ]:
        result = _run(f"{head}\n{first}\n{second}\n".encode())
        assert (result.rows["txn_id"].to_list(), result.bad_rows) == (["T1", "T2"], [])
        assert "column_12" not in json.loads(result.rows["raw"][0])


def test_an_extra_field_with_a_value_or_two_trailing_delimiters_are_still_wrong() -> None:
    result = _run(_axis(_row("T1") + ",x", _row("T2") + ",", _row("T3") + ",,"))
    assert result.rows["txn_id"].to_list() == ["T2"]
    assert result.bad_rows == [
        BadRow(2, "expected 11 fields, found 12"),
        BadRow(4, "expected 11 fields, found 13"),
    ]
    # A header written with two trailing delimiters (a sheet wider than its names) allows two.
    wide = _run(f"{AXIS_HEAD},,\n{_row('T1')},,\n{_row('T2')}\n".encode())
    assert (wide.rows["txn_id"].to_list(), wide.bad_rows) == (["T1", "T2"], [])


# --- 7. amounts as banks write them ---------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "paise"),
    [
        ("INR 1,000.78", 100_078), ("Rs. 1,000.78", 100_078), ("Rs 1000", 100_000),
        ("₹1,000.78", 100_078), ("1,000.78 INR", 100_078), ("1000.78 Cr", 100_078),
        ("1000.78 CR", 100_078), ("1000.78 Dr", -100_078), ("(1,000.78)", -100_078),
        ("1000.78-", -100_078), ("-₹1,000.78", -100_078), ("₹ -1,00,000.5", -10_000_050),
        ("inr 5", 500), ("rs.7.5", 750), ("(₹1,000.78)", -100_078), ("1,18,000.00 dr", -11_800_000),
    ],
)  # fmt: skip
def test_money_in_rupees(text: str, paise: int) -> None:
    result = _run(_axis(_row("T1", amt=f'"{text}"', net=f'"{text}"')))
    assert result.bad_rows == []
    assert result.rows["gross_paise"].to_list() == [paise]
    assert result.rows["net_paise"].to_list() == [paise]


@pytest.mark.parametrize(
    "text",
    ["--5", "-5 Dr", "(5", "5)", "INR 5 INR", "5 Dr Cr", "1000.78 USD", "(5)-", "₹", "1.234 Cr",
     "1,0000.00", "Rs 5.5.5"],
)  # fmt: skip
def test_other_spellings_stay_invalid(text: str) -> None:
    result = _run(_axis(_row("T1"), _row("T2", amt=f'"{text}"')))
    assert result.bad_rows == [BadRow(3, f"invalid amount '{text}' in CREDIT_AMT")]


@pytest.mark.parametrize(
    ("text", "paise"),
    [("INR 100078", 100_078), ("100078 Dr", -100_078), ("(500)", -500), ("500-", -500),
     ("₹12 Cr", 12), ("-₹12", -12)],
)  # fmt: skip
def test_money_in_paise(text: str, paise: int) -> None:
    head = ",".join(LAYOUTS["PG"].header)
    line = (f"pay_1,MID1,U1,{text},0,0,{text},SUCCESS,UPI,AXIS,2025-01-10T10:00:00+05:30,"
            "2025-01-11T01:00:00Z")  # fmt: skip
    result = normalise(f"{head}\n{line}\n".encode(), LAYOUTS["PG"], side="PG",
                       source_file_id=1, cycle_date=DAY)  # fmt: skip
    assert result.bad_rows == []
    assert result.rows["gross_paise"].to_list() == [paise]
    bad = normalise(f"{head}\n{line.replace(text, '5.5', 1)}\n".encode(), LAYOUTS["PG"], side="PG",
                    source_file_id=1, cycle_date=DAY)  # fmt: skip
    assert bad.bad_rows == [BadRow(2, "invalid amount '5.5' in amount_paise")]


# --- 8. the quarantine threshold ------------------------------------------------------------


@pytest.mark.parametrize("rows", [5, 40])
def test_small_and_large_files_get_the_same_verdict_for_the_same_quirk(rows: int) -> None:
    body = [_row(f"T{i}") for i in range(rows)]
    body.insert(2, ",,,,,,,,,,")
    total = f"{rows * 100}.00"
    result = _run(_axis(*body, f"TOTAL,{total},{rows * 99}.00,,,,,,,,", f"Record Count: {rows}"))
    assert (result.rows.height, result.bad_rows) == (rows, [])
    assert (result.quarantined, result.quarantine_reason) == (False, None)


@pytest.mark.parametrize(
    ("good", "bad", "quarantined"),
    [(4, 1, False), (39, 1, False), (3, 2, True), (38, 2, False), (37, 3, True), (0, 1, True)],
)
def test_quarantine_needs_two_bad_rows_above_the_share_or_all_bad(
    good: int, bad: int, quarantined: bool
) -> None:
    lines = [_row(f"T{i}") for i in range(good)] + [_row(f"B{i}", amt="x") for i in range(bad)]
    result = _run(_axis(*lines, "Record Count: " + str(good + bad)))
    assert (len(result.bad_rows), result.quarantined) == (bad, quarantined)
    if quarantined:
        share = bad / (good + bad)
        assert result.quarantine_reason == (
            f"{bad} of {good + bad} rows ({share:.1%}) could not be parsed, above the 5.0% limit; "
            f"first at line {good + 2}: invalid amount 'x' in CREDIT_AMT"
        )


# --- 9. fees only where the file has them -----------------------------------------------------


def test_gross_only_layout_has_no_fee_tax_or_net() -> None:
    layout = Layout(name="G", columns={"utr": "ref", "amount": "amt"}, default_status="SUCCESS")
    row = _run(b"ref,amt\nu1,10.00\n", layout).rows.row(0, named=True)
    assert (row["gross_paise"], row["fee_paise"], row["tax_paise"], row["net_paise"]) == (
        1000, None, None, None,
    )  # fmt: skip


def test_net_only_gives_fee_as_the_difference() -> None:
    layout = Layout(name="N", columns={"utr": "ref", "amount": "amt", "net_amount": "net"},
                    default_status="SUCCESS")  # fmt: skip
    row = _run(b"ref,amt,net\nu1,10.00,9.50\n", layout).rows.row(0, named=True)
    assert (row["gross_paise"], row["fee_paise"], row["tax_paise"], row["net_paise"]) == (
        1000, 50, None, 950,
    )  # fmt: skip


def test_read_file_reports_header_line_trailers_and_replacements() -> None:
    data = b"Title\n" + _axis(_row("T1", remark="?"), "Record Count: 1").replace(b"?", b"\xe9")
    table = read_file(data, LAYOUTS["AXIS"])
    assert (table.header_line, table.replaced_bytes) == (2, 1)
    assert table.body["__line"].to_list() == [3]
    assert [(t.line, t.count, t.amount) for t in table.trailers] == [(4, 1, None)]


# --- property: a messy file reads as the clean one ---------------------------------------------

_Txn = tuple[str, int, int, str, date]
_STATUSES = ("SUCCESS", "FAILED", "REVERSED")


def _txns() -> st.SearchStrategy[list[_Txn]]:
    txn = st.tuples(
        st.integers(-(10**9), 10**9),
        st.integers(0, 10**6),
        st.sampled_from(_STATUSES),
        st.integers(0, 30).map(lambda d: date(2025, 1, 1) + timedelta(days=d)),
    )
    return st.lists(txn, max_size=12).map(
        lambda rows: [(f"T{i:04d}", g, g - f, s, d) for i, (g, f, s, d) in enumerate(rows)]
    )


def _plain(paise: int) -> str:
    whole, frac = divmod(abs(paise), 100)
    return f"{'-' if paise < 0 else ''}{whole}.{frac:02d}"


def _odd(draw: st.DrawFn, paise: int) -> str:
    """``paise`` as rupees in one of the ways banks write money, quoted when it has a comma."""
    whole, frac = divmod(abs(paise), 100)
    digits = draw(st.sampled_from([str(whole), group_indian(str(whole)), f"{whole:,}"]))
    number = f"{digits}.{frac:02d}"
    if paise >= 0:
        forms = [number, f"INR {number}", f"Rs. {number}", f"₹{number}", f"{number} INR",
                 f"{number} Cr", f"+{number}"]  # fmt: skip
    else:
        forms = [f"-{number}", f"({number})", f"{number}-", f"{number} Dr", f"-₹{number}",
                 f"INR -{number}"]  # fmt: skip
    text = draw(st.sampled_from(forms))
    return f'"{text}"' if "," in text else text


def _line(txn: _Txn, gross: str, net: str, remark: bytes) -> bytes:
    ref, _, _, status, day = txn
    text = f"{ref},{gross},{net},{day},UTR{ref},RRN{ref},A1,{day} 10:00:00,AXIS,{status},"
    return text.encode() + remark


def _clean(txns: list[_Txn]) -> bytes:
    lines = [_line(t, _plain(t[1]), _plain(t[2]), b"ok") for t in txns]
    return b"\n".join([AXIS_HEAD.encode(), *lines]) + b"\n"


@st.composite
def _messy_part(draw: st.DrawFn, txns: list[_Txn]) -> bytes:
    """``txns`` as a bank might send them: every quirk issue 14 lists, drawn at random."""
    titles = draw(st.lists(st.sampled_from(["AXIS BANK LTD", "Settlement Report", "", "Page 1"]),
                           max_size=3))  # fmt: skip
    head = AXIS_HEAD
    if draw(st.booleans()):
        head = ",".join(f'"{name}"' for name in head.split(","))
    trailing = draw(st.booleans())
    lines = [t.encode() for t in titles] + [(head + ("," if trailing else "")).encode()]
    for txn in txns:
        remark = draw(st.sampled_from([b"ok", b"Caf\xe9", b"\x92paid\x93", b""]))
        line = _line(txn, _odd(draw, txn[1]), _odd(draw, txn[2]), remark)
        lines.append(line + (b"," if draw(st.booleans()) else b""))
        lines += draw(st.lists(st.sampled_from([b"", b",,,,,,,,,,", b"  ", b" , , ,"]), max_size=1))
    gross, net = sum(t[1] for t in txns), sum(t[2] for t in txns)
    trailer = draw(st.sampled_from([
        [], [f"TOTAL,{_plain(gross)},{_plain(net)},,,,,,,,"], [f"Record Count: {len(txns)}"],
        [f"TRL~{len(txns)}~{_plain(gross)}"], [f"Total Records: {len(txns)}",
        f"Total Amount: INR {_plain(gross)}"], ["Grand Total,,,,,,,,,,", "End of report"],
    ]))  # fmt: skip
    lines += [t.encode() for t in trailer]
    data = draw(st.sampled_from([b"\n", b"\r\n"])).join(lines)
    return (b"\xef\xbb\xbf" if draw(st.booleans()) else b"") + data


def _canon(rows: pl.DataFrame) -> list[tuple[object, ...]]:
    cols = ["txn_id", "gross_paise", "net_paise", "fee_paise", "status", "value_date"]
    return sorted(rows.select(cols).iter_rows())


@settings(
    max_examples=60,
    derandomize=True,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(st.data(), _txns(), st.integers(1, 3))
def test_a_messy_file_in_parts_reads_as_the_clean_file(
    data: st.DataObject, txns: list[_Txn], parts: int
) -> None:
    clean = _run(_clean(txns))
    assert (clean.bad_rows, clean.rows.height) == ([], len(txns))
    cuts = sorted(data.draw(st.lists(st.integers(0, len(txns)), min_size=parts - 1,
                                     max_size=parts - 1)))  # fmt: skip
    bounds = [0, *cuts, len(txns)]
    got = []
    for start, end in itertools.pairwise(bounds):
        result = _run(data.draw(_messy_part(txns[start:end])))
        assert result.bad_rows == []
        assert not result.quarantined
        got.append(result.rows)
    assert _canon(pl.concat(got)) == _canon(clean.rows)
