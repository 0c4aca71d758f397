"""Reconciling canonical PG rows against bank rows."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bankfeeds.normalise.rules import CANONICAL_SCHEMA
from bankfeeds.recon.match import (
    OUTCOME_SCHEMA,
    OUTCOMES,
    OutcomeTotals,
    pg_rows_for_provider,
    reconcile,
)

DAY = date(2025, 1, 10)


def _frame(side: str, specs: list[dict[str, Any]], file_id: int) -> pl.DataFrame:
    """Canonical rows from short specs; lines count from 2 like a file with a header."""
    rows = []
    for line, spec in enumerate(specs, start=2):
        gross = spec.get("gross", 10_000)
        rows.append({
            "side": side, "source_file_id": file_id, "source_row": line, "cycle_date": DAY,
            "txn_id": spec.get("txn_id"), "utr": spec.get("utr"), "rrn": spec.get("rrn"),
            "gross_paise": gross, "fee_paise": spec.get("fee", 100), "tax_paise": None,
            "net_paise": spec.get("net", gross - 100), "currency": "INR",
            "status": spec.get("status", "SUCCESS"), "status_raw": spec.get("status", "SUCCESS"),
            "txn_at": None, "value_date": spec.get("value_date", DAY), "payment_method": "UPI",
            "merchant_id": "M1", "raw": spec.get("raw", "{}"),
        })  # fmt: skip
    return pl.DataFrame(rows, schema=CANONICAL_SCHEMA)


def _run(pg: list[dict[str, Any]], bank: list[dict[str, Any]], **kw: Any) -> pl.DataFrame:
    return reconcile(_frame("PG", pg, 1), _frame("BANK", bank, 2), **kw).outcomes


def _single(pg: dict[str, Any], bank: dict[str, Any], **kw: Any) -> str:
    outcomes = _run([pg], [bank], **kw)
    assert outcomes.height == 1
    return str(outcomes["outcome"][0])


BASE = {"txn_id": "T1", "utr": "U1", "rrn": "R1"}


@pytest.mark.parametrize(
    ("bank_change", "outcome"),
    [
        ({}, "MATCHED"),
        ({"gross": 10_099, "net": 9_999}, "MATCHED_WITHIN_TOLERANCE"),
        ({"gross": 10_100, "net": 10_000}, "MATCHED_WITHIN_TOLERANCE"),  # exactly 100 paise
        ({"gross": 10_101, "net": 10_001}, "AMOUNT_MISMATCH"),
        ({"gross": 9_000}, "AMOUNT_MISMATCH"),
        ({"net": 9_500}, "FEE_MISMATCH"),
        ({"net": 9_850}, "MATCHED_WITHIN_TOLERANCE"),  # net 50 paise off: within tolerance
        ({"status": "FAILED"}, "STATUS_MISMATCH"),
        ({"value_date": DAY + timedelta(days=3)}, "DATE_OUT_OF_WINDOW"),
        ({"value_date": DAY + timedelta(days=2)}, "MATCHED"),
        ({"value_date": DAY - timedelta(days=2)}, "MATCHED"),
        ({"value_date": None}, "MATCHED"),
    ],
)
def test_pair_outcomes(bank_change: dict[str, Any], outcome: str) -> None:
    assert _single(BASE, {**BASE, **bank_change}) == outcome


def test_ratio_tolerance_applies_to_large_amounts() -> None:
    pg = {**BASE, "gross": 10_000_000, "net": 9_990_000}  # 0.1 % = 10,000 paise
    assert _single(pg, {**pg, "gross": 10_010_000, "net": 10_000_000}) == "MATCHED_WITHIN_TOLERANCE"
    assert _single(pg, {**pg, "gross": 10_010_001, "net": 10_000_001}) == "AMOUNT_MISMATCH"


def test_tolerances_and_window_are_configurable() -> None:
    near = {**BASE, "gross": 10_050, "net": 9_950}
    assert _single(BASE, near, amount_tolerance_paise=0, amount_tolerance_ratio=0.0) == (
        "AMOUNT_MISMATCH"
    )
    late = {**BASE, "value_date": DAY + timedelta(days=3)}
    assert _single(BASE, late, date_window_days=5) == "MATCHED"


@pytest.mark.parametrize(
    ("bank_change", "outcome"),
    [
        (
            {"status": "FAILED", "gross": 1, "value_date": DAY + timedelta(days=9)},
            "STATUS_MISMATCH",
        ),
        ({"gross": 1, "net": 1, "value_date": DAY + timedelta(days=9)}, "AMOUNT_MISMATCH"),
        ({"net": 1, "value_date": DAY + timedelta(days=9)}, "FEE_MISMATCH"),
        ({"gross": 10_050, "value_date": DAY + timedelta(days=9)}, "DATE_OUT_OF_WINDOW"),
    ],
)
def test_precedence_when_several_apply(bank_change: dict[str, Any], outcome: str) -> None:
    assert _single(BASE, {**BASE, **bank_change}) == outcome


def test_match_keys_in_order_txn_id_then_utr_then_rrn() -> None:
    pg = [{"txn_id": "A", "utr": "UA"}, {"txn_id": "B", "utr": "UB"}, {"txn_id": "C", "rrn": "RC"}]
    bank = [
        {"txn_id": "X", "rrn": "RC"},
        {"txn_id": "Y", "utr": "UB"},
        {"txn_id": "A", "utr": "ZZ"},
    ]
    outcomes = _run(pg, bank)
    keys = dict(zip(outcomes["pg_source_row"], outcomes["match_key"], strict=True))
    assert keys == {2: "txn_id", 3: "utr", 4: "rrn"}
    pairs = dict(zip(outcomes["pg_source_row"], outcomes["bank_source_row"], strict=True))
    assert pairs == {2: 4, 3: 3, 4: 2}


def test_bank_row_is_used_once_and_later_passes_see_only_unmatched_rows() -> None:
    # PG row 3 shares the UTR with PG row 2, which already took the bank row by txn_id.
    pg = [{"txn_id": "A", "utr": "U"}, {"txn_id": "B", "utr": "U"}]
    outcomes = _run(pg, [{"txn_id": "A", "utr": "U"}])
    assert outcomes.select("pg_source_row", "outcome").rows() == [
        (2, "MATCHED"), (3, "MISSING_IN_BANK"),
    ]  # fmt: skip


def test_missing_both_ways_and_utr_missing() -> None:
    outcomes = _run([{"txn_id": "A", "utr": "UA"}, {"txn_id": "B"}], [{"txn_id": "C", "utr": "UC"}])
    assert sorted(outcomes["outcome"]) == ["MISSING_IN_BANK", "MISSING_IN_PG", "UTR_MISSING"]
    missing_pg = outcomes.filter(pl.col("outcome") == "MISSING_IN_PG").row(0, named=True)
    assert (missing_pg["bank_source_file_id"], missing_pg["bank_source_row"]) == (2, 2)
    assert missing_pg["pg_source_row"] is None


def test_duplicates_are_classified_first_and_the_first_row_still_matches() -> None:
    pg = [{"txn_id": "A", "utr": "U1"}, {"txn_id": "A", "utr": "U1"}, {"utr": "U2"}, {"utr": "U2"}]
    bank = [{"txn_id": "A"}, {"txn_id": "A"}, {"txn_id": "A"}, {"utr": "U2"}]
    outcomes = _run(pg, bank)
    got = sorted(zip(outcomes["outcome"], outcomes["pg_source_row"], outcomes["bank_source_row"],
                     strict=True), key=str)  # fmt: skip
    assert got == sorted([
        ("MATCHED", 2, 2), ("DUPLICATE_PG", 3, None), ("MATCHED", 4, 5), ("DUPLICATE_PG", 5, None),
        ("DUPLICATE_BANK", None, 3), ("DUPLICATE_BANK", None, 4),
    ], key=str)  # fmt: skip


def test_summary_counts_and_paise_for_every_outcome() -> None:
    result = reconcile(
        _frame("PG", [{"txn_id": "A", "gross": 500}, {"txn_id": "B", "utr": "U", "gross": 700}], 1),
        _frame(
            "BANK", [{"txn_id": "A", "gross": 900, "net": 800}, {"txn_id": "C", "gross": 300}], 2
        ),
    )
    assert list(result.summary) == list(OUTCOMES)
    assert result.summary["AMOUNT_MISMATCH"].count == 1
    assert result.summary["AMOUNT_MISMATCH"].delta_paise == 400
    assert result.summary["MISSING_IN_BANK"].pg_gross_paise == 700
    assert result.summary["MISSING_IN_PG"].bank_gross_paise == 300
    assert result.summary["MATCHED"].count == 0
    assert result.exceptions.height == 3
    assert dict(result.outcomes.schema) == OUTCOME_SCHEMA


def test_empty_inputs() -> None:
    result = reconcile(_frame("PG", [], 1), _frame("BANK", [], 2))
    assert result.outcomes.height == 0
    assert dict(result.outcomes.schema) == OUTCOME_SCHEMA


def test_pg_rows_for_provider_reads_the_bank_field() -> None:
    pg = _frame("PG", [{"txn_id": "A", "raw": '{"bank":"hdfc "}'},
                       {"txn_id": "B", "raw": '{"bank":"AXIS"}'}], 1)  # fmt: skip
    assert pg_rows_for_provider(pg, "HDFC")["txn_id"].to_list() == ["A"]


def test_a_refund_matches_the_bank_debit_of_the_same_amount() -> None:
    # The PG writes its refund as +1,000.78 REFUNDED (canonical REVERSED); the bank as -1,000.78.
    pg = {**BASE, "gross": 100_078, "net": 100_078, "status": "REVERSED"}
    bank = {**BASE, "gross": -100_078, "net": -100_078, "status": "REVERSED"}
    result = reconcile(_frame("PG", [pg], 1), _frame("BANK", [bank], 2))
    row = result.outcomes.row(0, named=True)
    assert (row["outcome"], row["gross_delta_paise"], row["net_delta_paise"]) == ("MATCHED", 0, 0)
    # The amounts stay as the files wrote them; the totals are directed (money out).
    assert (row["pg_gross_paise"], row["bank_gross_paise"]) == (100_078, -100_078)
    assert result.summary["MATCHED"] == OutcomeTotals(1, -100_078, -100_078, 0)


def test_refunds_differ_by_direction_and_success_against_reversal_is_status_mismatch() -> None:
    refund = {**BASE, "gross": 100_078, "net": 100_078, "status": "REVERSED"}
    short = {**BASE, "gross": -90_078, "net": -90_078, "status": "REVERSED"}
    row = _run([refund], [short]).row(0, named=True)
    # Bank gave back ₹100 less than the PG refunded: bank - PG = -90,078 - (-1,00,078) = 10,000.
    assert (row["outcome"], row["gross_delta_paise"]) == ("AMOUNT_MISMATCH", 10_000)
    paid = {**BASE, "gross": 100_078, "net": 100_078}
    row = _run([paid], [{**short, "gross": -100_078}]).row(0, named=True)
    assert (row["outcome"], row["gross_delta_paise"]) == ("STATUS_MISMATCH", -200_156)


def test_a_refund_net_is_compared_by_direction_too() -> None:
    pg = {**BASE, "gross": 100_078, "net": 99_078, "status": "REVERSED"}
    bank = {**BASE, "gross": -100_078, "net": -98_078, "status": "REVERSED"}
    row = _run([pg], [bank]).row(0, named=True)
    assert (row["outcome"], row["gross_delta_paise"], row["net_delta_paise"]) == (
        "FEE_MISMATCH", 0, 1_000,
    )  # fmt: skip


@pytest.mark.parametrize(
    ("bank_gross", "outcome"),
    [(10_000, "MATCHED"), (10_050, "MATCHED_WITHIN_TOLERANCE"), (10_500, "AMOUNT_MISMATCH")],
)
def test_a_bank_side_without_fee_or_net_gets_no_fee_check(bank_gross: int, outcome: str) -> None:
    gross_only = {**BASE, "gross": bank_gross, "fee": None, "net": None}
    row = _run([{**BASE, "gross": 10_000, "net": 9_000}], [gross_only]).row(0, named=True)
    assert (row["outcome"], row["net_delta_paise"]) == (outcome, None)


def test_a_duplicate_carries_the_first_line_and_the_difference() -> None:
    bank = _frame("BANK", [{"txn_id": "T1", "gross": 100_078}, {"txn_id": "T2"},
                           {"txn_id": "T1", "gross": 100_080}], 12)  # fmt: skip
    # A second bank file of the day repeats T1 once more, as a reversal.
    more = _frame("BANK", [{"txn_id": "T1", "gross": 100_078, "status": "REVERSED"}], 13)
    pg = _frame("PG", [{"txn_id": "T1", "gross": 100_078}, {"txn_id": "T2"}], 1)
    outcomes = reconcile(pg, pl.concat([more, bank])).outcomes
    dups = outcomes.filter(pl.col("outcome") == "DUPLICATE_BANK").select(
        "bank_source_file_id", "bank_source_row", "first_source_file_id", "first_source_row",
        "first_gross_paise", "first_status", "first_delta_paise", "gross_delta_paise",
    )  # fmt: skip
    assert dups.rows() == [
        (12, 4, 12, 2, 100_078, "SUCCESS", 2, None),
        (13, 2, 12, 2, 100_078, "SUCCESS", -200_156, None),
    ]
    matched = outcomes.filter(pl.col("outcome") == "MATCHED")
    assert matched.height == 2
    assert matched["first_source_row"].null_count() == 2  # only duplicates name a first line


def test_duplicates_by_utr_name_their_first_line_on_the_pg_side() -> None:
    pg: list[dict[str, Any]] = [
        {"utr": "U1", "gross": 500},
        {"utr": "U2"},
        {"utr": "U1", "gross": 700},
    ]
    outcomes = _run(pg, [{"utr": "U1", "gross": 500}])
    dup = outcomes.filter(pl.col("outcome") == "DUPLICATE_PG").row(0, named=True)
    assert (dup["pg_source_row"], dup["first_source_file_id"], dup["first_source_row"]) == (4, 1, 2)
    assert (dup["first_gross_paise"], dup["first_delta_paise"]) == (500, 200)


_key = st.one_of(st.none(), st.sampled_from(["a", "b", "c", "d"]))
_row = st.fixed_dictionaries({
    "txn_id": _key, "utr": _key, "rrn": _key,
    "gross": st.integers(-5_000, 50_000), "net": st.one_of(st.none(), st.integers(0, 50_000)),
    "status": st.sampled_from(["SUCCESS", "FAILED", "REVERSED"]),
    "value_date": st.one_of(st.none(), st.dates(DAY - timedelta(days=5), DAY + timedelta(days=5))),
})  # fmt: skip


def _directed(gross: int, status: str) -> int:
    return -abs(gross) if status == "REVERSED" else gross


@settings(max_examples=150, deadline=None)
@given(pg=st.lists(_row, max_size=12), bank=st.lists(_row, max_size=12))
def test_every_row_ends_in_exactly_one_outcome(
    pg: list[dict[str, Any]], bank: list[dict[str, Any]]
) -> None:
    outcomes = _run(pg, bank)
    pg_rows = outcomes["pg_source_row"].drop_nulls().to_list()
    bank_rows = outcomes["bank_source_row"].drop_nulls().to_list()
    assert sorted(pg_rows) == [i + 2 for i in range(len(pg))]
    assert sorted(bank_rows) == [i + 2 for i in range(len(bank))]
    assert set(outcomes["outcome"]) <= set(OUTCOMES)
    paired = outcomes.filter(
        pl.col("pg_source_row").is_not_null() & pl.col("bank_source_row").is_not_null()
    )
    assert paired["match_key"].null_count() == 0
    result_summary = reconcile(_frame("PG", pg, 1), _frame("BANK", bank, 2)).summary
    assert sum(t.count for t in result_summary.values()) == outcomes.height
    # Totals reconcile: every paisa of each side is in exactly one outcome's total. Totals are
    # directed, so a REVERSED row counts as -|gross| whatever sign it was written with.
    assert sum(t.pg_gross_paise for t in result_summary.values()) == sum(
        _directed(r["gross"], r["status"]) for r in pg
    )
    assert sum(t.bank_gross_paise for t in result_summary.values()) == sum(
        _directed(r["gross"], r["status"]) for r in bank
    )
    # A pair's delta is bank minus PG, directed; a duplicate's is itself minus its first row.
    for r in paired.iter_rows(named=True):
        assert r["gross_delta_paise"] == _directed(r["bank_gross_paise"], r["bank_status"]) - (
            _directed(r["pg_gross_paise"], r["pg_status"])
        )
    dups = outcomes.filter(pl.col("outcome").str.starts_with("DUPLICATE"))
    assert dups["first_source_row"].null_count() == 0
    assert dups["first_delta_paise"].null_count() == 0
