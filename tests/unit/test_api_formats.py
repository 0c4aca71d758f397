"""Assembling API pages into one CSV: CSV concatenation, JSON and XML records."""

from __future__ import annotations

import io

import pytest

from bankfeeds.core.errors import ParseError
from bankfeeds.transports.http.formats import (
    json_records,
    write_csv_pages,
    write_records_csv,
    xml_records,
)


def _csv(*pages: bytes) -> bytes:
    out = io.BytesIO()
    write_csv_pages([io.BytesIO(p) for p in pages], out)
    return out.getvalue()


def test_csv_pages_keep_one_header() -> None:
    got = _csv(b"A,B\n1,2\n", b"A,B\n3,4\n", b"A,B\n")
    assert got == b"A,B\n1,2\n3,4\n"


def test_csv_pages_without_final_newline_and_with_bom_and_crlf() -> None:
    got = _csv(b"\xef\xbb\xbfA,B\r\n1,2", b"A,B\r\n3,4", b"", b"\xef\xbb\xbfA,B\r\n5,6\r\n")
    assert got == b"\xef\xbb\xbfA,B\r\n1,2\r\n3,4\r\n5,6\r\n"


def test_csv_page_with_another_header_is_refused() -> None:
    with pytest.raises(ParseError, match="Page 2's header"):
        _csv(b"A,B\n1,2\n", b"A,C\n3,4\n")


def test_csv_pages_are_streamed_in_blocks() -> None:
    class Counting(io.BytesIO):
        largest = 0

        def read(self, size: int | None = -1, /) -> bytes:
            assert size is not None and size > 0, "a page must never be read whole"
            data = super().read(size)
            Counting.largest = max(Counting.largest, len(data))
            return data

    big = b"A,B\n" + b"1,2\n" * 100_000
    out = io.BytesIO()
    write_csv_pages([Counting(big)], out)
    assert out.getvalue() == big
    assert Counting.largest <= 1 << 16


def _records_csv(records: list[dict[str, str]]) -> str:
    out = io.BytesIO()
    write_records_csv(records, out)
    return out.getvalue().decode()


def test_json_records_default_to_the_first_array_and_keep_numbers_exact() -> None:
    body = b'{"count": 2, "data": [{"id": "T1", "amt": 1234.50, "ok": true, "n": null},' \
        b' {"id": "T2", "amt": 7, "extra": {"a": [1, 2.10]}, "ok": false}]}'  # fmt: skip
    records = json_records(body)
    assert _records_csv(records) == (
        'id,amt,ok,n,extra\nT1,1234.50,true,,\nT2,7,false,,"{""a"":[1,2.10]}"\n'
    )


def test_json_records_path_and_top_level_array() -> None:
    assert json_records(b'{"result": {"items": [{"a": 1}]}}', "result.items") == [{"a": "1"}]
    assert json_records(b'[{"a": "x"}]') == [{"a": "x"}]
    assert json_records(b"{}") == []


@pytest.mark.parametrize(
    ("body", "path", "message"),
    [
        (b"not json", None, "not valid JSON"),
        (b'{"a": 1}', None, "no array"),
        (b'{"data": {"a": 1}}', "data", "no array"),
        (b"[1, 2]", None, "not an object"),
        (b'{"data": []}', "items", "nothing at"),
    ],
)
def test_json_that_is_not_records_is_refused(body: bytes, path: str | None, message: str) -> None:
    with pytest.raises(ParseError, match=message):
        json_records(body, path)


def test_formula_like_cells_are_not_escaped() -> None:
    assert _records_csv([{"a": "=1+1", "b": "-2"}]) == "a,b\n=1+1,-2\n"


def test_xml_records_from_root_children_with_attributes_and_namespaces() -> None:
    body = b"""<?xml version="1.0"?>
    <s:settlements xmlns:s="urn:bank">
      <s:txn id="T1"><s:amount>10.00</s:amount><s:utr> U1 </s:utr></s:txn>
      <s:txn id="T2"><s:amount>20.00</s:amount><s:note/></s:txn>
    </s:settlements>"""
    assert _records_csv(xml_records(body)) == "id,amount,utr,note\nT1,10.00,U1,\nT2,20.00,,\n"


def test_xml_record_tag_selects_nested_records() -> None:
    body = b"<r><meta><n>2</n></meta><rows><row><a>1</a></row><row><a>2</a></row></rows></r>"
    assert xml_records(body, "row") == [{"a": "1"}, {"a": "2"}]


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"<r><t><a><b>1</b></a></t></r>", "nested"),
        (b"<r><t>", "not acceptable XML"),
        (
            b'<?xml version="1.0"?><!DOCTYPE r [<!ENTITY x "boom">]><r><t><a>&x;</a></t></r>',
            "not acceptable XML",
        ),
    ],
)
def test_unacceptable_xml_is_refused(body: bytes, message: str) -> None:
    with pytest.raises(ParseError, match=message):
        xml_records(body)


def test_no_records_write_nothing() -> None:
    out = io.BytesIO()
    assert write_records_csv([], out) == 0
    assert out.getvalue() == b""
