"""Bank identity and a day's current files: aliases, IFSCs, parts and restatements."""

from __future__ import annotations

import json

import polars as pl
import pytest

from bankfeeds.connectors.banks import (
    DayFile,
    alias_problem,
    bank_key,
    current_files,
    directory,
    lineage,
    restatement,
    rows_for_provider,
)


@pytest.mark.parametrize(
    ("name", "key"),
    [
        ("AXIS", "AXIS"),
        ("  axis   bank ", "AXIS BANK"),
        ("Axis Bank Ltd.", "AXIS BANK"),
        ("AXIS BANK LIMITED", "AXIS BANK"),
        ("UTIB0000123", "UTIB"),
        ("utib0abc123", "UTIB"),
        ("State Bank of India", "STATE BANK OF INDIA"),
        ("", ""),
        ("--", ""),
    ],
)
def test_bank_key_folds_spellings(name: str, key: str) -> None:
    assert bank_key(name) == key


def test_directory_names_providers_by_alias_ifsc_and_connector_aliases() -> None:
    banks = directory([("AXIS", ["Axis Bk"]), ("FEDERAL", ["FDRL", "Federal Bank"])])
    assert banks.provider_of("AXIS BANK") == "AXIS"
    assert banks.provider_of("UTIB0001234") == "AXIS"
    assert banks.provider_of("Axis Bk.") == "AXIS"
    assert banks.provider_of("SBIN0000001") == "SBI"
    assert banks.provider_of("federal bank ltd") == "FEDERAL"
    assert banks.provider_of("FEDERAL") == "FEDERAL"
    assert banks.provider_of("Some Other Bank") is None
    assert banks.provider_of("") is None
    # Without the connector's alias, "Axis Bk" names nobody.
    assert directory().provider_of("Axis Bk") is None


def test_alias_problem() -> None:
    assert alias_problem("UTIB") is None
    assert alias_problem("...") is not None
    assert alias_problem("A" * 81) is not None


@pytest.mark.parametrize(
    ("name", "root"),
    [
        ("AXIS_RECON_20250110.csv", "AXIS_RECON_20250110.CSV"),
        ("AXIS_RECON_20250110_v2.csv", "AXIS_RECON_20250110.CSV"),
        ("AXIS_RECON_20250110-V3.csv", "AXIS_RECON_20250110.CSV"),
        ("AXIS_RECON_20250110_rev1.csv", "AXIS_RECON_20250110.CSV"),
        ("AXIS_RECON_20250110_resend.csv", "AXIS_RECON_20250110.CSV"),
        ("AXIS_RECON_20250110_CORRECTED.csv", "AXIS_RECON_20250110.CSV"),
        ("AXIS_RECON_20250110_1.csv", "AXIS_RECON_20250110_1.CSV"),
        ("AXIS_RECON_20250110_part2.csv", "AXIS_RECON_20250110_PART2.CSV"),
        ("REVENUE.csv", "REVENUE.CSV"),
    ],
)
def test_lineage_drops_restatement_markers_only(name: str, root: str) -> None:
    assert lineage(name) == root


def test_current_files_keeps_parts_and_the_newest_restatement() -> None:
    files = [
        DayFile(1, 7, "AXIS_RECON_20250110_1.csv"),
        DayFile(2, 7, "AXIS_RECON_20250110_2.csv"),
        DayFile(3, 7, "AXIS_RECON_20250110_2_v2.csv"),
        DayFile(4, 8, "AXIS_RECON_20250110_1.csv"),  # another connector's file: its own lineage
    ]
    assert [f.pk for f in current_files(files)] == [1, 3, 4]
    # Order of arrival does not matter: the newest id of a lineage stands.
    assert [f.pk for f in current_files(reversed(files))] == [1, 3, 4]


def test_a_restatement_stands_even_when_its_original_is_stored_after_it() -> None:
    files = [
        DayFile(5, 7, "AXIS_RECON_20250110_v2.csv"),
        DayFile(6, 7, "AXIS_RECON_20250110.csv"),  # the original, stored later
        DayFile(7, 7, "AXIS_RECON_20250110_v3.csv"),
        DayFile(8, 7, "AXIS_RECON_20250110_rev1.csv"),  # rev1 is below v3
    ]
    assert [f.pk for f in current_files(files)] == [7]
    assert [f.pk for f in current_files(files[:2])] == [5]
    # A new version of the same name (higher id) replaces the old one.
    same = [DayFile(9, 7, "AXIS_RECON_20250110.csv"), DayFile(10, 7, "AXIS_RECON_20250110.csv")]
    assert [f.pk for f in current_files(same)] == [10]


@pytest.mark.parametrize(
    ("name", "rank"),
    [("A.csv", 0), ("A_v2.csv", 2), ("A_rev.csv", 1), ("A_R3.csv", 3), ("A_resend.csv", 1)],
)
def test_restatement_number(name: str, rank: int) -> None:
    assert restatement(name) == rank


def test_rows_for_provider_picks_every_alias_spelling() -> None:
    def raw(bank: str | None) -> str:
        return json.dumps(
            {"pg_txn_id": "x", **({"bank": bank} if bank else {})}, separators=(",", ":")
        )

    banks_seen = ["AXIS", "Axis Bank", "UTIB0000007", "HDFC", None, 'AX"IS']
    pg = pl.DataFrame({"txn_id": [str(i) for i in range(6)], "raw": [raw(b) for b in banks_seen]})
    picked = rows_for_provider(pg, directory(), "AXIS")
    assert picked["txn_id"].to_list() == ["0", "1", "2"]
    assert rows_for_provider(pg, directory(), "HDFC")["txn_id"].to_list() == ["3"]
