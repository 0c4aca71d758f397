"""What a finished recon job records: its summary, and one exception row per non-match."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime
from typing import Any

from bankfeeds.core.ids import public_id
from bankfeeds.core.money import format_optional_paise
from bankfeeds.recon.match import ReconResult
from bankfeeds.storage.db.models import IngestedFile, ReconJob

#: ₹1,00,000 in paise: a difference this large is critical whatever its kind.
CRITICAL_PAISE = 1_00_000_00
_SEVERITY = {
    "AMOUNT_MISMATCH": "HIGH", "MISSING_IN_BANK": "HIGH", "MISSING_IN_PG": "HIGH",
    "STATUS_MISMATCH": "HIGH", "DUPLICATE_BANK": "HIGH", "FEE_MISMATCH": "MEDIUM",
    "DUPLICATE_PG": "MEDIUM", "UTR_MISSING": "MEDIUM", "DATE_OUT_OF_WINDOW": "LOW",
}  # fmt: skip


def severity(outcome: str, amount_paise: int) -> str:
    """How urgent a non-match is: by outcome, raised to CRITICAL for large amounts."""
    base = _SEVERITY.get(outcome, "MEDIUM")
    return "CRITICAL" if base != "LOW" and abs(amount_paise) >= CRITICAL_PAISE else base


def job_summary(result: ReconResult, results_key: str) -> dict[str, Any]:
    """Counts and paise totals per outcome, and where the full results are stored."""
    outcomes = {
        name: {
            "count": t.count,
            "paise": t.pg_gross_paise or t.bank_gross_paise,
            "pgGrossPaise": t.pg_gross_paise,
            "bankGrossPaise": t.bank_gross_paise,
            "deltaPaise": t.delta_paise,
        }
        for name, t in result.summary.items()
    }
    outcome_rows = result.outcomes
    return {
        "outcomes": outcomes,
        "pgRows": int(outcome_rows["pg_source_row"].is_not_null().sum()),
        "bankRows": int(outcome_rows["bank_source_row"].is_not_null().sum()),
        "exceptions": sum(v["count"] for k, v in outcomes.items() if not k.startswith("MATCHED")),
        "resultsKey": results_key,
    }


def _message(r: dict[str, Any]) -> str:
    """One sentence an ops person can act on."""
    ref = r["txn_id"] or r["utr"] or "(no reference)"
    outcome = r["outcome"]
    if r["pg_source_row"] is not None and r["bank_source_row"] is not None:
        if outcome == "FEE_MISMATCH":
            # Gross agrees (within tolerance) here: the difference that matters is the net's.
            return (
                f"{outcome}: {ref}: gross PG {_money(r['pg_gross_paise'])}, "
                f"bank {_money(r['bank_gross_paise'])}; net PG {_money(r['pg_net_paise'])}, "
                f"bank {_money(r['bank_net_paise'])} "
                f"(net difference {_money(r['net_delta_paise'])})."
            )
        return (
            f"{outcome}: {ref}: PG {_money(r['pg_gross_paise'])} {r['pg_status']}, "
            f"bank {_money(r['bank_gross_paise'])} {r['bank_status']} "
            f"(difference {_money(r['gross_delta_paise'])})."
        )
    side = "PG" if r["pg_source_row"] is not None else "bank"
    prefix = "pg" if side == "PG" else "bank"
    line, gross = r[f"{prefix}_source_row"], r[f"{prefix}_gross_paise"]
    if r["first_source_row"] is not None:
        statuses = (
            f" ({r['first_status']} then {r[f'{prefix}_status']})"
            if r["first_status"] != r[f"{prefix}_status"]
            else ""
        )
        return (
            f"{outcome}: {ref}: {side} line {line} repeats line {r['first_source_row']} "
            f"({public_id('file', r['first_source_file_id'])}), "
            f"{_money(gross)} vs {_money(r['first_gross_paise'])}{statuses} "
            f"(difference {_money(r['first_delta_paise'])})."
        )
    return f"{outcome}: {ref}: {side} line {line}, {_money(gross)}."


def _money(paise: int | None) -> str:
    return format_optional_paise(paise, missing="-")


def _iso(value: date | None) -> str | None:
    return value.isoformat() if value is not None else None


def _file_id(pk: int | None) -> str | None:
    return public_id("file", pk) if pk is not None else None


def exception_rows(
    result: ReconResult,
    job: ReconJob,
    bank: IngestedFile,
    pg: IngestedFile,
    now: datetime,
    *,
    files: Mapping[int, IngestedFile] | None = None,
) -> list[dict[str, Any]]:
    """``recon_exception`` rows for every non-matched outcome of the job.

    A row's home file is the file its line came from when ``files`` (by primary key) has it (a
    day of several files), else ``bank`` or ``pg`` by side.
    """
    known = files or {}
    rows = []
    for r in result.exceptions.iter_rows(named=True):
        on_bank = r["bank_source_row"] is not None
        fallback = bank if on_bank else pg
        home = known.get(r["bank_source_file_id"] if on_bank else r["pg_source_file_id"], fallback)
        amount = next(
            (v for v in (r["gross_delta_paise"], r["pg_gross_paise"], r["bank_gross_paise"]) if v),
            0,
        )
        first = r["first_source_file_id"]
        data = {
            "outcome": r["outcome"],
            "matchKey": r["match_key"],
            "txnId": r["txn_id"],
            "utr": r["utr"],
            "amountDeltaPaise": r["gross_delta_paise"],
            "netDeltaPaise": r["net_delta_paise"],
            "pgFileId": _file_id(r["pg_source_file_id"]),
            "pgLine": r["pg_source_row"],
            "pgGrossPaise": r["pg_gross_paise"],
            "pgStatus": r["pg_status"],
            "pgValueDate": _iso(r["pg_value_date"]),
            "bankFileId": _file_id(r["bank_source_file_id"]),
            "bankLine": r["bank_source_row"],
            "bankGrossPaise": r["bank_gross_paise"],
            "bankStatus": r["bank_status"],
            "bankValueDate": _iso(r["bank_value_date"]),
        }
        if first is not None:  # a duplicate: the line it repeats and the difference
            data |= {
                "firstFileId": _file_id(first),
                "firstLine": r["first_source_row"],
                "firstGrossPaise": r["first_gross_paise"],
                "firstStatus": r["first_status"],
                "firstDeltaPaise": r["first_delta_paise"],
            }
        rows.append(
            {
                "kind": r["outcome"],
                "severity": severity(r["outcome"], amount),
                "state": "OPEN",
                "connector_id": home.connector_id,
                "run_id": home.run_id,
                "file_id": home.id,
                "job_id": job.id,
                "provider": job.provider,
                "cycle_date": job.cycle_date,
                "source_row": r["bank_source_row"] if on_bank else r["pg_source_row"],
                "message": _message(r),
                "data": data,
                "created_at": now,
            }
        )
    return rows
