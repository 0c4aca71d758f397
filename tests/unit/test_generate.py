"""The sandbox day generator."""

from __future__ import annotations

import hashlib
import os
from datetime import date
from pathlib import Path

import polars as pl
import pytest

from bankfeeds.connectors.layouts import LAYOUTS
from bankfeeds.normalise.rules import normalise
from bankfeeds.recon.match import pg_rows_for_provider, reconcile
from bankfeeds.sandbox import generate
from bankfeeds.sandbox.generate import generate_day, seed_days

DAY = date(2025, 1, 10)
ALL = ("AXIS", "BOB", "HDFC", "ICICI", "SBI", "YES", "KOTAK")
INJECTED = {"MISSING_IN_BANK": 1, "MISSING_IN_PG": 1, "AMOUNT_MISMATCH": 1,
            "MATCHED_WITHIN_TOLERANCE": 1, "STATUS_MISMATCH": 1}  # fmt: skip


def _pg(path: Path) -> pl.DataFrame:
    result = normalise(path, LAYOUTS["PG"], side="PG", source_file_id=0, cycle_date=DAY)
    assert result.bad_rows == []
    return result.rows


def test_default_files_are_named_by_pattern_with_sidecars(tmp_path: Path) -> None:
    paths = generate_day(tmp_path, DAY, seed=1)
    assert [p.name for p in paths] == [
        "AXIS_RECON_20250110.csv", "BOB_RECON_20250110.csv", "HDFC_TXN_20250110.csv",
        "ICICI_SETTLEMENT_20250110.csv", "PG_TXN_20250110.csv",
    ]  # fmt: skip
    for path in paths:
        sidecar = path.with_name(path.name + ".sha256").read_text()
        assert sidecar == f"{hashlib.sha256(path.read_bytes()).hexdigest()}  {path.name}\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        [p.name for p in paths] + [p.name + ".sha256" for p in paths]
    )  # no temp files left behind


@pytest.mark.parametrize("seed", [None, 5])
def test_same_seed_same_bytes(tmp_path: Path, seed: int | None) -> None:
    first = generate_day(tmp_path / "a", DAY, providers=ALL, seed=seed)
    second = generate_day(tmp_path / "b", DAY, providers=ALL, seed=seed)
    assert [p.read_bytes() for p in first] == [p.read_bytes() for p in second]


def test_other_seed_or_date_gives_other_data(tmp_path: Path) -> None:
    base = generate_day(tmp_path / "a", DAY, providers=("AXIS",), seed=1)[0].read_bytes()
    other = generate_day(tmp_path / "b", DAY, providers=("AXIS",), seed=2)[0].read_bytes()
    later = generate_day(tmp_path / "c", date(2025, 1, 11), providers=("AXIS",))[0]
    assert base != other
    assert later.name == "AXIS_RECON_20250111.csv"


@pytest.mark.parametrize("seed", [1, 2, 3, 4])
def test_recon_finds_exactly_the_injected_differences(tmp_path: Path, seed: int) -> None:
    paths = generate_day(tmp_path, DAY, providers=ALL, rows=50, seed=seed)
    pg = _pg(paths[-1])
    assert pg.height == 50 * len(ALL)
    for number, (provider, path) in enumerate(zip(ALL, paths[:-1], strict=True), start=1):
        bank = normalise(
            path, LAYOUTS[provider], side="BANK", source_file_id=number, cycle_date=DAY
        )
        assert bank.bad_rows == [], provider
        assert bank.rows.height == 50
        summary = reconcile(pg_rows_for_provider(pg, provider), bank.rows).summary
        counts = {name: t.count for name, t in summary.items() if t.count}
        assert counts == {"MATCHED": 46, **INJECTED}, provider  # 50 - 1 missing - 3 off
        assert summary["AMOUNT_MISMATCH"].delta_paise in range(300, 1000)
        assert summary["MATCHED_WITHIN_TOLERANCE"].delta_paise in range(1, 100)


def test_small_days_have_no_differences(tmp_path: Path) -> None:
    pg_path = generate_day(tmp_path, DAY, providers=("HDFC",), rows=5, seed=1)[-1]
    bank = normalise(tmp_path / "HDFC_TXN_20250110.csv", LAYOUTS["HDFC"], side="BANK",
                     source_file_id=1, cycle_date=DAY)  # fmt: skip
    outcomes = reconcile(_pg(pg_path), bank.rows).outcomes
    assert outcomes["outcome"].to_list() == ["MATCHED"] * 5


def test_values_are_realistic(tmp_path: Path) -> None:
    pg = _pg(generate_day(tmp_path, DAY, providers=ALL, rows=200, seed=9)[-1])
    lengths = set(pg["utr"].str.len_chars().to_list())
    assert lengths == {12, 16, 22}
    assert pg["utr"].filter(pg["payment_method"] == "RTGS").str.len_chars().unique().to_list() == [
        22
    ]
    assert pg["txn_id"].n_unique() == pg.height
    assert pg["utr"].n_unique() == pg.height
    fee_bps = (pg["fee_paise"] * 10_000 // pg["gross_paise"]).to_list()
    assert min(fee_bps) >= 49
    assert max(fee_bps) <= 200
    tax_ok = (pg["tax_paise"] - pg["fee_paise"] * 18 // 100).abs() <= 1
    assert tax_ok.all()
    assert 0 < (pg["status"] == "FAILED").sum() < pg.height // 5
    assert set(pg_rows_for_provider(pg, "KOTAK")["payment_method"]) <= {
        "UPI", "CARD", "IMPS", "NEFT", "RTGS",
    }  # fmt: skip


def test_sidecar_is_renamed_into_place_after_its_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    order: list[str] = []
    real_replace = os.replace

    def recording_replace(src: str, dst: str | Path) -> None:
        assert Path(src).name.startswith(".")  # temp names never match a file pattern
        order.append(Path(dst).name)
        real_replace(src, dst)

    monkeypatch.setattr(generate.os, "replace", recording_replace)
    generate_day(tmp_path, DAY, providers=("AXIS",), rows=3, seed=1)
    assert order == [
        "AXIS_RECON_20250110.csv", "AXIS_RECON_20250110.csv.sha256",
        "PG_TXN_20250110.csv", "PG_TXN_20250110.csv.sha256",
    ]  # fmt: skip


def test_seed_days_writes_the_days_before_today(tmp_path: Path) -> None:
    paths = seed_days(tmp_path, date(2025, 1, 11), days=3)
    pg_names = [p.name for p in paths if p.name.startswith("PG_")]
    assert pg_names == ["PG_TXN_20250108.csv", "PG_TXN_20250109.csv", "PG_TXN_20250110.csv"]
    assert len(paths) == 15
