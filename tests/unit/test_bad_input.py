"""Bad input never crashes: hostile patterns and names, and malformed CSV through normalisation.

Each case ends in a sentence (a refusal, a ParseError, a BadRow with its line) and never in an
unhandled exception or unbounded time.
"""

from __future__ import annotations

import contextlib
import time
import unicodedata
from datetime import date

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bankfeeds.connectors.layouts import LAYOUTS
from bankfeeds.connectors.patterns import (
    matches,
    normalisation_twins,
    pattern_regex,
    unsafe_name_reason,
    validate_pattern,
)
from bankfeeds.core.errors import ParseError
from bankfeeds.normalise.rules import BadRow, NormaliseResult, normalise

DAY = date(2025, 1, 10)
AXIS_HEAD = b"TXNID,CREDIT_AMT,NET_CR_AMT,VALUE_DATE,UTR,RRN,AUTH,POST_DATE,BANK,STATUS,REMARKS\n"
ROW = b"T1,100.00,99.00,2025-01-10,UTR1,RRN1,A1,2025-01-10,AXIS,SUCCESS,ok\n"
#: Generous: each match below takes well under a millisecond; a backtracking one took minutes.
BOUND_SECONDS = 1.0


# --- patterns -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("pattern", "fragment"),
    [
        ("../AXIS_YYYYMMDD.csv", "not a path"),
        ("..\\AXIS_YYYYMMDD.csv", "not a path"),
        ("/etc/AXIS_YYYYMMDD.csv", "not a path"),
        ("C:\\AXIS_YYYYMMDD.csv", "not a path"),
        ("x" * 10_000 + "YYYYMMDD", "limit is 255"),
        ("(a+)+$" * 2000, "limit is 255"),
        ("AXIS_YYYYMMDD\r.csv", "control character"),
    ],
)
def test_hostile_patterns_are_refused(pattern: str, fragment: str) -> None:
    reason = validate_pattern(pattern)
    assert reason is not None
    assert fragment in reason


#: Regex-looking shapes are plain text in a pattern (only * and ? are special), so they are
#: accepted, and must match only themselves, in bounded time.
REGEX_SHAPES = [
    "(a+)+$_YYYYMMDD*",
    "(.*)*_YYYYMMDD*",
    "((a*)*)*b_YYYYMMDD",
    "a{1,100000}_YYYYMMDD*",
    "[a-z]+_YYYYMMDD.csv",
]
#: Glob shapes that a regex translation would backtrack on: many stars, stars around '?'.
GLOB_BOMBS = [
    "*a" * 120 + "*b",
    "?*" * 127,
    "*" * 250 + "?b",
    "*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*c",
    "YYYYMMDD" + "*?" * 100 + "x",
]


@pytest.mark.parametrize("pattern", REGEX_SHAPES)
def test_regex_shapes_are_literal_text(pattern: str) -> None:
    assert validate_pattern(pattern) is None
    literal = pattern.replace("YYYYMMDD", "20250110").replace("*", "")
    assert matches(pattern, literal, DAY)
    assert not matches(pattern, "a" * 50 + "_20250110.csv", DAY)


@pytest.mark.parametrize("pattern", REGEX_SHAPES + GLOB_BOMBS)
@pytest.mark.parametrize("name", ["a" * 50_000, "a" * 49_999 + "_20250110", "ab" * 25_000])
def test_hostile_names_match_in_bounded_time(pattern: str, name: str) -> None:
    assert len(pattern) <= 255  # every one of them could be saved
    started = time.perf_counter()
    matches(pattern, name, DAY)
    assert time.perf_counter() - started < BOUND_SECONDS


def test_a_long_name_can_still_match_a_many_star_pattern() -> None:
    pattern = "*a" * 120 + "*b"
    name = "xa" * 25_000 + "b"
    started = time.perf_counter()
    assert matches(pattern, name, DAY)
    assert not matches(pattern, name[:-1], DAY)
    assert time.perf_counter() - started < BOUND_SECONDS


_PIECES = st.sampled_from(["a", "b", "_", ".", "*", "?", "YYMMDD", "(", "+"])


@settings(max_examples=300, derandomize=True, deadline=None)
@given(
    pattern=st.lists(_PIECES, min_size=1, max_size=8).map("".join),
    name=st.text(alphabet="ab_.250110(+\n", max_size=14),
)
def test_matching_agrees_with_the_regex_translation(pattern: str, name: str) -> None:
    # The linear matcher must accept exactly what the (slow on hostile input) regex accepts.
    expected = pattern_regex(pattern, DAY).fullmatch(name) is not None
    assert matches(pattern, name, DAY) is expected


# --- remote names ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "fragment"),
    [
        ("../x.csv", "path separator"),
        ("/abs.csv", "path separator"),
        ("a/b.csv", "path separator"),
        ("a\\b.csv", "path separator"),
        ("x\x00.csv", "NUL"),
        ("x\n.csv", "control character"),
        ("x" * 300 + ".csv", "limit is 255"),
        ("x" * 256, "limit is 255"),
        ("AXIS_RECON_20250110\u202ecsv.exe", "U+202E"),  # right-to-left override
        ("AXIS\u2066_20250110.csv", "U+2066"),
        ("AXIS\x85_20250110.csv", "U+0085"),  # C1 control (NEL)
        ("AXIS\u2028_20250110.csv", "U+2028"),
        ("AXIS_\udcff.csv", "U+DCFF"),  # an undecodable byte, surrogate-escaped
    ],
)
def test_hostile_remote_names_are_refused_with_a_sentence(name: str, fragment: str) -> None:
    reason = unsafe_name_reason(name)
    assert reason is not None
    assert fragment in reason
    assert reason.startswith("The server listed")
    assert len(reason) < 400  # a 300-character name is not repeated whole


def test_a_255_character_name_is_still_fine() -> None:
    assert unsafe_name_reason("x" * 251 + ".csv") is None
    assert unsafe_name_reason("e\u0301.csv") is None  # NFD on its own is a legitimate name


def test_names_differing_only_by_normalisation_are_twins() -> None:
    nfc = unicodedata.normalize("NFC", "AXIS_RECON_20250110_é.csv")
    nfd = unicodedata.normalize("NFD", nfc)
    assert nfc != nfd
    twins = normalisation_twins([nfc, nfd, "AXIS_RECON_20250110.csv", nfc])
    assert twins == {nfc: [nfd], nfd: [nfc]}
    assert normalisation_twins(["a.csv", "b.csv"]) == {}


# --- malformed CSV --------------------------------------------------------------------------


def _axis(data: bytes) -> NormaliseResult:
    return normalise(data, LAYOUTS["AXIS"], side="BANK", source_file_id=1, cycle_date=DAY)


def _line_count(data: bytes) -> int:
    return max(data.count(b"\n") + 1, data.count(b"\r") + 1)


QUOTED_ROW = b'T3,"5.00",5.00,2025-01-10,UTR3,RRN3,A1,2025-01-10,AXIS,SUCCESS,"a, b"\n'


@pytest.mark.parametrize(
    ("name", "data", "rows", "bad"),
    [
        ("open quote never closed", AXIS_HEAD + b'T1,"100.00,99.00\n' + ROW + QUOTED_ROW, 2, [2]),
        ("open quote on the last line", AXIS_HEAD + ROW + b'T2,"1.00,1', 1, [3]),
        ("stray quote inside a field", AXIS_HEAD + ROW.replace(b"ok", b'o"k'), 1, []),
        ("UTF-8 BOM", b"\xef\xbb\xbf" + AXIS_HEAD + ROW, 1, []),
        ("NUL in a free-text field", AXIS_HEAD + ROW.replace(b"ok", b"o\x00k"), 1, []),
        ("NUL in an amount", AXIS_HEAD + ROW.replace(b"100.00", b"1\x0000"), 0, [2]),
        ("CRLF", (AXIS_HEAD + ROW + ROW).replace(b"\n", b"\r\n"), 2, []),
        ("CR only", (AXIS_HEAD + ROW + ROW).replace(b"\n", b"\r"), 2, []),
        ("CR inside a quoted line", AXIS_HEAD + b'T1,"1\r0",x\n' + ROW, 1, [2]),
        ("ragged rows", AXIS_HEAD + b"T1,1\n" + ROW.replace(b"\n", b",x,y\n") + ROW, 1, [2, 3]),
        ("header only", AXIS_HEAD, 0, []),
        ("100,000 delimiters", AXIS_HEAD + b"," * 100_000 + b"\n" + ROW, 1, [2]),
        ("blank lines and spaces", AXIS_HEAD + b"\n   \n" + ROW + b"\n\n", 1, []),
    ],
)
def test_malformed_csv_gives_rows_or_bad_rows_with_lines(
    name: str, data: bytes, rows: int, bad: list[int]
) -> None:
    result = _axis(data)
    assert result.rows.height == rows, name
    assert [b.line for b in result.bad_rows] == bad, result.bad_rows
    assert all(1 <= b.line <= _line_count(data) for b in result.bad_rows)
    assert all(b.reason and "\x00" not in b.reason for b in result.bad_rows)


def test_a_10_mb_quoted_field_is_a_bad_row_not_a_crash() -> None:
    field = b'"' + b"x" * 10_000_000 + b'"'
    data = AXIS_HEAD + ROW + ROW.replace(b"ok", field) + ROW
    result = _axis(data)
    assert result.rows.height == 2
    assert [b.line for b in result.bad_rows] == [3]
    assert "not readable CSV" in result.bad_rows[0].reason
    assert len(result.bad_rows[0].reason) < 200


def test_a_10_mb_unquoted_amount_is_a_bad_row_with_a_short_reason() -> None:
    data = AXIS_HEAD + ROW.replace(b"100.00", b"9" * 10_000_000)
    result = _axis(data)
    assert [b.line for b in result.bad_rows] == [2]
    assert result.bad_rows[0].reason.startswith("invalid amount '999")
    assert len(result.bad_rows[0].reason) < 200


def test_a_10_mb_unquoted_remark_is_kept() -> None:
    result = _axis(AXIS_HEAD + ROW.replace(b"ok", b"r" * 10_000_000))
    assert result.rows.height == 1
    assert result.bad_rows == []


@pytest.mark.parametrize(
    ("data", "fragment"),
    [
        (b"", "file is empty"),
        (b"  \n\r\n\n", "file is empty"),
        (b"\xff" + AXIS_HEAD, "line 1"),
        (b"A,B\n1,2\n", "no column"),
        (b'"TXNID' + b"x" * 200_000 + b'",CREDIT_AMT\n' + ROW, "header (line 1)"),
    ],
)
def test_unreadable_files_raise_parse_error(data: bytes, fragment: str) -> None:
    with pytest.raises(ParseError) as info:
        _axis(data)
    assert fragment in info.value.message


def test_undecodable_bytes_in_a_body_line_spoil_that_row_only() -> None:
    result = _axis(AXIS_HEAD + ROW + b"T2,\xff\xfe,1\n")
    assert result.rows.height == 1
    assert result.bad_rows == [BadRow(3, "expected 11 fields, found 3")]


@settings(max_examples=50, derandomize=True, deadline=None)
@given(st.lists(st.text(alphabet='ab,"\r\x00', max_size=5), max_size=3))
def test_a_layout_with_a_preamble_survives_short_files(lines: list[str]) -> None:
    # BOB's header is on line 3, under a two-line title: a shorter file has no header at all.
    data = "\n".join(lines).encode()
    with contextlib.suppress(ParseError):  # the only exception allowed
        normalise(data, LAYOUTS["BOB"], side="BANK", source_file_id=1, cycle_date=DAY)
