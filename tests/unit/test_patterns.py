"""File patterns: date tokens, globs, literals, validation, and unsafe server names."""

from __future__ import annotations

from datetime import date

import pytest

from bankfeeds.connectors.patterns import (
    DEFAULT_PATTERNS,
    matches,
    pattern_regex,
    unsafe_name_reason,
    validate_pattern,
)

D = date(2025, 3, 7)


@pytest.mark.parametrize(
    ("pattern", "name"),
    [
        ("AXIS_RECON_YYYYMMDD*.csv", "AXIS_RECON_20250307.csv"),
        ("AXIS_RECON_YYYYMMDD*.csv", "AXIS_RECON_20250307_v2.csv"),
        ("recon_YYYY-MM-DD.csv", "recon_2025-03-07.csv"),
        ("SBI_DDMMYYYY.txt", "SBI_07032025.txt"),
        ("KOTAK_YYMMDD.csv", "KOTAK_250307.csv"),
        ("file_?.csv", "file_A.csv"),
        ("PG_TXN_YYYYMMDD*.csv", "PG_TXN_20250307.csv"),
        ("X[1]_YYYYMMDD.csv", "X[1]_20250307.csv"),
        ("a+b_(YYYYMMDD).csv", "a+b_(20250307).csv"),
        ("*", "anything at all"),
    ],
)
def test_matches(pattern: str, name: str) -> None:
    assert matches(pattern, name, D)


@pytest.mark.parametrize(
    ("pattern", "name"),
    [
        ("AXIS_RECON_YYYYMMDD*.csv", "AXIS_RECON_20250308.csv"),
        ("AXIS_RECON_YYYYMMDD*.csv", "axis_recon_20250307.csv"),
        ("AXIS_RECON_YYYYMMDD*.csv", "AXIS_RECON_20250307.csv.sha256"),
        ("AXIS_RECON_YYYYMMDD*.csv", "XAXIS_RECON_20250307.csv"),
        ("recon_YYYY-MM-DD.csv", "recon_20250307.csv"),
        ("file_?.csv", "file_AB.csv"),
        ("file_?.csv", "file_.csv"),
        ("a.YYMMDD", "aX250307"),
        ("X[1]_YYYYMMDD.csv", "X1_20250307.csv"),
    ],
)
def test_does_not_match(pattern: str, name: str) -> None:
    assert not matches(pattern, name, D)


def test_longest_token_wins() -> None:
    assert pattern_regex("YYYY-MM-DD", D).pattern == r"2025\-03\-07"
    assert pattern_regex("YYYYMMDD", D).pattern == "20250307"
    assert pattern_regex("YYYYYYMMDD", D).pattern == "YY20250307"
    assert pattern_regex("DDMMYYYY_YYMMDD", D).pattern == "07032025_250307"


def test_regex_is_anchored_by_fullmatch() -> None:
    regex = pattern_regex("A_YYYYMMDD.csv", D)
    assert regex.fullmatch("A_20250307.csv")
    assert not regex.fullmatch("A_20250307.csv.bak")


def test_dates_are_zero_padded_and_year_2000_works() -> None:
    assert matches("F_YYMMDD_DDMMYYYY", "F_000102_02012000", date(2000, 1, 2))


def test_defaults_cover_every_provider_but_custom() -> None:
    assert set(DEFAULT_PATTERNS) == {"AXIS", "BOB", "HDFC", "ICICI", "SBI", "YES", "KOTAK", "PG"}
    for provider, pattern in DEFAULT_PATTERNS.items():
        assert validate_pattern(pattern) is None
        assert matches(pattern, pattern.replace("YYYYMMDD*", "20250307"), D), provider


@pytest.mark.parametrize("pattern", ["A_YYYYMMDD.csv", "*.csv", "f?.txt", "x" * 254 + "*"])
def test_valid_patterns(pattern: str) -> None:
    assert validate_pattern(pattern) is None


@pytest.mark.parametrize(
    ("pattern", "fragment"),
    [
        ("", "empty"),
        ("fixed.csv", "date token"),
        ("YYYY.csv", "date token"),
        ("dir/A_YYYYMMDD.csv", "not a path"),
        ("dir\\A_YYYYMMDD.csv", "not a path"),
        ("A_YYYYMMDD\x00.csv", "control character"),
        ("A_YYYYMMDD\n.csv", "control character"),
        ("A_YYYYMMDD\x7f.csv", "control character"),
        ("x" * 255 + "*", "limit is 255"),
    ],
)
def test_invalid_patterns(pattern: str, fragment: str) -> None:
    reason = validate_pattern(pattern)
    assert reason is not None
    assert fragment in reason
    assert reason.endswith(".")


@pytest.mark.parametrize(
    "name",
    [
        "",
        ".",
        "..",
        "../x",
        "/etc/passwd",
        "a/b",
        "a\\b",
        "..\\x",
        "x\x00y",
        "x\ny",
        "x\ty",
        "x\x1b",
    ],
)
def test_unsafe_names(name: str) -> None:
    reason = unsafe_name_reason(name)
    assert reason is not None
    assert reason.startswith("The server listed")


@pytest.mark.parametrize(
    "name", ["AXIS_RECON_20250307.csv", "..hidden", "a..b", ".profile", "é.csv"]
)
def test_safe_names(name: str) -> None:
    assert unsafe_name_reason(name) is None
