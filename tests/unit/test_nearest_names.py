"""The names nearest a pattern that matched nothing, and the sentence a run says about them."""

from __future__ import annotations

from datetime import date

import pytest

from bankfeeds.connectors.patterns import date_formats, example_name, matches
from bankfeeds.ingest.nearest import nearest_names, no_file_message

DAY = date(2025, 1, 10)
PATTERN = "AXIS_RECON_YYYYMMDD*.csv"


def near(names: list[str], pattern: str = PATTERN, limit: int = 5) -> list[tuple[str, str]]:
    """(name, why) of the nearest names."""
    return [(n.name, n.why) for n in nearest_names(pattern, DAY, names, limit)]


@pytest.mark.parametrize(
    ("name", "why"),
    [
        ("AXIS_RECON_20250110.CSV", "extension case"),
        ("AXIS_RECON_20250110_2.Csv", "extension case"),
        ("axis_recon_20250110.csv", "letter case"),
        ("Axis_Recon_20250110.CSV", "letter case"),
        ("AXIS_RECON_20250110.txt", "other extension"),
        ("AXIS_RECON_20250110.csv.gz", "other extension"),
        ("AXIS_RECON_20250110", "no extension"),
        ("AXIS_RECON_20250109.csv", "other date"),
        ("AXIS_RECON_20241231_part1.csv", "other date"),
        ("AXIS_RECN_20250110.csv", "similar name"),
        ("AXIS-RECON-20250110.csv", "similar name"),
    ],
)
def test_each_kind_of_near_miss(name: str, why: str) -> None:
    assert near([name]) == [(name, why)]


@pytest.mark.parametrize(
    "name",
    ["HDFC_TXN_20250110.csv", "README.txt", "", "AXIS_RECON_2025011.csv.bak.old", "x" * 255],
)
def test_far_names_are_left_out(name: str) -> None:
    assert near([name]) == []


def test_a_matching_name_is_not_a_near_miss() -> None:
    assert near(["AXIS_RECON_20250110.csv", "AXIS_RECON_20250110_1.csv"]) == []


def test_order_is_case_extension_date_spelling_and_at_most_five() -> None:
    names = [
        "AXIS_RECN_20250110.csv",
        "AXIS_RECON_20241110.csv",
        "AXIS_RECON_20250109.csv",
        "AXIS_RECON_20250110.txt",
        "axis_recon_20250110.csv",
        "AXIS_RECON_20250110.CSV",
        "AXIS_RECON_20250111.csv",
    ]
    assert near(names) == [
        ("AXIS_RECON_20250110.CSV", "extension case"),
        ("axis_recon_20250110.csv", "letter case"),
        ("AXIS_RECON_20250110.txt", "other extension"),
        ("AXIS_RECON_20250109.csv", "other date"),  # a day off, before the 61 days off
        ("AXIS_RECON_20250111.csv", "other date"),
    ]
    assert len(near(names, limit=7)) == 7
    assert near(names, limit=1) == [("AXIS_RECON_20250110.CSV", "extension case")]


def test_other_date_tokens_and_a_glob_only_pattern() -> None:
    assert near(["PG-2025-01-09.csv"], "PG-YYYY-MM-DD.csv") == [("PG-2025-01-09.csv", "other date")]
    assert near(["bank_a.CSV"], "bank_*.csv") == [("bank_a.CSV", "extension case")]
    assert near(["AXIS_RECON_20250110.csv"], "AXIS_RECON_YYYYMMDD_?.csv") == [
        ("AXIS_RECON_20250110.csv", "similar name")
    ]


def test_spellings_come_nearest_first_and_fill_what_is_left() -> None:
    names = ["AXIS_REC_20250110.csv", "AXIS_RECN_20250110.csv", "AXS_RCN_20250110.csv"]
    names += [f"OTHER_{i}.csv" for i in range(50)]
    assert near(names) == [
        ("AXIS_RECN_20250110.csv", "similar name"),
        ("AXIS_REC_20250110.csv", "similar name"),
        ("AXS_RCN_20250110.csv", "similar name"),
    ]
    assert near([*names, "AXIS_RECON_20250110.CSV"], limit=2) == [
        ("AXIS_RECON_20250110.CSV", "extension case"),
        ("AXIS_RECN_20250110.csv", "similar name"),
    ]


def test_the_same_name_twice_is_named_once() -> None:
    assert near(["AXIS_RECON_20250110.CSV"] * 3) == [("AXIS_RECON_20250110.CSV", "extension case")]


def test_a_huge_listing_of_other_days_stays_cheap() -> None:
    names = [f"AXIS_RECON_{d:08d}.csv" for d in range(20230101, 20230101 + 20_000)]
    found = nearest_names(PATTERN, DAY, names)
    assert len(found) == 5 and {n.why for n in found} == {"other date"}


def test_the_message_names_the_nearest_or_says_why_not() -> None:
    found = nearest_names(PATTERN, DAY, ["AXIS_RECON_20250109.csv", "AXIS_RECON_20250110.CSV"])
    assert no_file_message(PATTERN, DAY, "/upload", found, 2) == (
        "No file matched AXIS_RECON_YYYYMMDD*.csv for 2025-01-10 in /upload; nearest names: "
        "AXIS_RECON_20250110.CSV (extension case), AXIS_RECON_20250109.csv (other date)."
    )
    assert no_file_message(PATTERN, DAY, "/upload", [], 3) == (
        "No file matched AXIS_RECON_YYYYMMDD*.csv for 2025-01-10 in /upload; "
        "none of the 3 file(s) there comes close."
    )
    assert no_file_message(PATTERN, DAY, "/in", [], 0).endswith(
        "in /in; the directory holds no files."
    )


def test_pattern_helpers() -> None:
    assert date_formats("A_YYYY-MM-DD_DDMMYYYY*.csv") == ["%Y-%m-%d", "%d%m%Y"]
    assert date_formats("bank_*.csv") == []
    assert example_name(PATTERN, DAY) == "AXIS_RECON_20250110.csv"
    assert example_name("A_??_YYMMDD.txt", DAY, "#") == "A_##_250110.txt"
    assert matches(PATTERN, "axis_recon_20250110_2.CSV", DAY, ignore_case=True)
    assert not matches(PATTERN, "axis_recon_20250110_2.CSV", DAY)
