"""Recon benchmark: bankfeeds' normalise + match against bare polars, on files with known faults.

Run as ``.venv/bin/python bench/recon.py [--quick] [--rows N] [--rounds N]``. It writes one PG
export and one AXIS bank file of N rows each (default 1,000,000) with about 2 % planted
differences of every kind, then, in fresh subprocesses measured one at a time (time of the work,
peak RSS from ``getrusage``), runs (a) bankfeeds: ``normalise`` both files, write their canonical
Parquet, ``reconcile``, write the results Parquet; (b) the reference: polars ``read_csv`` of both,
an outer join on the transaction id and a ``when/then`` classification. It prints the time and
memory ratios and whether bankfeeds found every planted difference with the right outcome and
invented none.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make ``bench`` importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import polars as pl

from bench.common import Check, Row, Samples, machine, markdown_table, write_json

DAY = date(2025, 1, 10)
#: Planted difference per row index modulo 250: 2 % of rows, six kinds.
PLANTS = {
    1: "MISSING_IN_BANK", 2: "MISSING_IN_PG", 3: "AMOUNT_MISMATCH", 4: "STATUS_MISMATCH",
    5: "FEE_MISMATCH", 6: "MATCHED_WITHIN_TOLERANCE",
}  # fmt: skip
PERIOD = 300
RESULTS = Path(__file__).with_name("results-recon.md")


def make_files(root: Path, rows: int) -> tuple[Path, Path]:
    """Write the PG export and the AXIS file; planted differences follow ``PLANTS``."""
    i = pl.int_range(rows, eager=True).alias("i")
    base = (
        pl.DataFrame(i)
        .with_columns(
            txn=pl.format("pay_{}", pl.col("i")),
            utr=pl.format("UTIB{}", pl.col("i").cast(pl.String).str.zfill(12)),
            gross=100_000 + (pl.col("i") * 7919) % 300_000,
            plant=pl.col("i") % PERIOD,
        )
        .with_columns(fee=pl.col("gross") // 100, tax=pl.col("gross") // 100 * 18 // 100)
    )
    pg = base.filter(pl.col("plant") != 2).select(
        pg_txn_id="txn", merchant_id=pl.lit("MID1001"), utr="utr", amount_paise="gross",
        fee_paise="fee", tax_paise="tax", net_paise=pl.col("gross") - pl.col("fee") - pl.col("tax"),
        status=pl.lit("SUCCESS"), payment_method=pl.lit("UPI"), bank=pl.lit("AXIS"),
        created_at=pl.lit("2025-01-10T10:00:00+05:30"),
        settled_at=pl.lit("2025-01-11T11:00:00+05:30"),
    )  # fmt: skip
    plant = pl.col("plant")
    gross = pl.col("gross") + pl.when(plant == 3).then(50_000).when(plant == 6).then(50).otherwise(
        0
    )
    net = gross - pl.col("fee") - pl.col("tax") - pl.when(plant == 5).then(5_000).otherwise(0)
    bank = base.filter(plant != 1).select(
        TXNID="txn", CREDIT_AMT=_rupees(gross), NET_CR_AMT=_rupees(net),
        VALUE_DATE=pl.lit("2025-01-11"), UTR="utr", RRN=pl.lit(None, pl.String),
        AUTH=pl.lit("A1"), POST_DATE=pl.lit("2025-01-10 10:00:00"), BANK=pl.lit("AXIS"),
        STATUS=pl.when(plant == 4).then(pl.lit("FAILED")).otherwise(pl.lit("SUCCESS")),
        REMARKS=pl.lit("ok"),
    )  # fmt: skip
    pg_path, bank_path = root / "PG_TXN_20250110.csv", root / "AXIS_RECON_20250110.csv"
    pg.write_csv(pg_path)
    bank.write_csv(bank_path)
    return pg_path, bank_path


def _rupees(paise: pl.Expr) -> pl.Expr:
    return pl.format("{}.{}", paise // 100, (paise % 100).cast(pl.String).str.zfill(2))


def run_ours(pg_path: Path, bank_path: Path, out: Path) -> pl.DataFrame:
    """bankfeeds: normalise both files, store canonical Parquet, reconcile, store the results."""
    from bankfeeds.connectors.layouts import LAYOUTS
    from bankfeeds.normalise.rules import normalise, write_parquet
    from bankfeeds.recon.match import pg_rows_for_provider, reconcile

    pg = normalise(pg_path, LAYOUTS["PG"], side="PG", source_file_id=1, cycle_date=DAY)
    bank = normalise(bank_path, LAYOUTS["AXIS"], side="BANK", source_file_id=2, cycle_date=DAY)
    write_parquet(pg.rows, out / "pg.parquet")
    write_parquet(bank.rows, out / "bank.parquet")
    result = reconcile(pg_rows_for_provider(pg.rows, "AXIS"), bank.rows)
    write_parquet(result.outcomes, out / "results.parquet")
    return result.outcomes.select("txn_id", "outcome")


def run_reference(pg_path: Path, bank_path: Path) -> pl.DataFrame:
    """Bare polars: read both CSVs, outer join on the id, classify with the same rules."""
    pg = pl.read_csv(pg_path, schema_overrides={"utr": pl.String})
    bank = pl.read_csv(bank_path, schema_overrides={"UTR": pl.String, "RRN": pl.String})
    bank = bank.with_columns(
        (pl.col("CREDIT_AMT") * 100).round().cast(pl.Int64).alias("b_gross"),
        (pl.col("NET_CR_AMT") * 100).round().cast(pl.Int64).alias("b_net"),
    )
    joined = pg.join(bank, left_on="pg_txn_id", right_on="TXNID", how="full", coalesce=True)
    d_gross = (pl.col("b_gross") - pl.col("amount_paise")).abs()
    d_net = (pl.col("b_net") - pl.col("net_paise")).abs()
    tol = pl.max_horizontal(pl.lit(100), pl.col("amount_paise").abs() // 1000)
    outcome = (
        pl.when(pl.col("b_gross").is_null()).then(pl.lit("MISSING_IN_BANK"))
        .when(pl.col("amount_paise").is_null()).then(pl.lit("MISSING_IN_PG"))
        .when(pl.col("status") != pl.col("STATUS")).then(pl.lit("STATUS_MISMATCH"))
        .when(d_gross > tol).then(pl.lit("AMOUNT_MISMATCH"))
        .when(d_net > tol).then(pl.lit("FEE_MISMATCH"))
        .when((d_gross == 0) & (d_net == 0)).then(pl.lit("MATCHED"))
        .otherwise(pl.lit("MATCHED_WITHIN_TOLERANCE"))
    )  # fmt: skip
    return joined.select(pl.col("pg_txn_id").alias("txn_id"), outcome.alias("outcome"))


def _child(which: str, pg_path: Path, bank_path: Path, work: Path) -> None:
    """Run one contender in this (fresh) process; print seconds and peak RSS as JSON."""
    start = time.perf_counter()
    found = (
        run_ours(pg_path, bank_path, work) if which == "ours" else run_reference(pg_path, bank_path)
    )
    seconds = time.perf_counter() - start
    found.write_parquet(work / f"{which}-outcomes.parquet")
    peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps({"seconds": seconds, "peak_mib": peak_kib / 1024}))


def _measure(which: str, pg_path: Path, bank_path: Path, work: Path) -> dict[str, float]:
    args = [sys.executable, __file__, "--child", which, str(pg_path), str(bank_path), str(work)]
    done = subprocess.run(args, check=True, capture_output=True, text=True)
    return json.loads(done.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def _check(found: pl.DataFrame, rows: int) -> tuple[int, int, int]:
    """(planted, found with the right outcome, outcomes invented where nothing was planted)."""
    index = pl.col("txn_id").str.strip_prefix("pay_").cast(pl.Int64)
    got = found.with_columns(expected=(index % PERIOD).replace_strict(PLANTS, default="MATCHED"))
    planted = got.filter(pl.col("expected") != "MATCHED")
    right = planted.filter(pl.col("expected") == pl.col("outcome")).height
    invented = got.filter((pl.col("expected") == "MATCHED") & (pl.col("outcome") != "MATCHED"))
    return planted.height, right, invented.height


def main() -> None:
    """Generate, measure both contenders round by round, print the table and the check."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="100,000 rows, one round")
    parser.add_argument("--rows", type=int, help="rows per file (default 1,000,000)")
    parser.add_argument("--rounds", type=int, help="rounds (default 3, or 1 with --quick)")
    parser.add_argument("--json", type=Path, help="also write the rows as JSON (bench/run_all.py)")
    parser.add_argument("--child", nargs=4, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        which, *paths = args.child
        _child(which, *(Path(p) for p in paths))
        return
    rows = args.rows or (100_000 if args.quick else 1_000_000)
    rounds = args.rounds or (1 if args.quick else 3)
    with tempfile.TemporaryDirectory(prefix="bench-recon-") as tmp:
        work = Path(tmp)
        pg_path, bank_path = make_files(work, rows)
        time_s, mem = Samples(), Samples()
        for _ in range(rounds):
            for which in ("ref", "ours"):
                figures = _measure(which, pg_path, bank_path, work)
                time_s.add(which, figures["seconds"])
                mem.add(which, figures["peak_mib"])
        planted, right, invented = _check(pl.read_parquet(work / "ours-outcomes.parquet"), rows)
    size = f"{rows:,} x {rows:,} rows"
    table = [
        Row(f"{size}, normalise+match", "polars read_csv+join", "s",
            time_s.figure("ref"), time_s.figure("ours"), 1.5, "lower"),
        Row(f"{size}, peak memory", "polars read_csv+join", "MiB",
            mem.figure("ref"), mem.figure("ours"), 2.0, "lower"),
    ]  # fmt: skip
    ok = right == planted and invented == 0
    found = (
        f"{right:,} of {planted:,} with the right outcome ({right / planted:.1%}), "
        f"{invented} invented"
    )
    check = Check(f"{size}: planted differences found", found, "all, none invented", ok)
    text = "\n".join(
        [
            f"## Recon (bench/recon.py{' --quick' if args.quick else ''}), medians of {rounds}",
            "",
            f"Machine: {machine()}.",
            "",
            markdown_table(table),
            "",
            f"planted differences found: {found}; {'pass' if ok else 'FAIL'}",
            "",
        ]
    )
    print(text)
    RESULTS.write_text(text)
    if args.json:
        write_json(args.json, table, [check])


if __name__ == "__main__":
    main()
