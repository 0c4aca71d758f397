"""Normalising a stored file: canonical rows as Parquet in the object store, bad rows as exceptions.

Runs right after a file is recorded DOWNLOADED, in the same run. Parsing happens in a thread
(polars releases the GIL); the file row moves to NORMALIZED, QUARANTINED (too many bad rows) or
ERROR (the file is not in its layout at all), and a NORMALIZED file may start a recon job.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import shutil
import tempfile
from dataclasses import asdict
from datetime import timedelta
from pathlib import Path
from typing import Any, Literal

import polars as pl
from sqlalchemy import delete, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bankfeeds.connectors.bank_names import unknown_banks
from bankfeeds.connectors.banks import bank_names
from bankfeeds.connectors.layouts import LAYOUTS, Layout, layout_from_dict
from bankfeeds.core.errors import BankfeedsError, NoLayout
from bankfeeds.days.delivery import day_delivered, open_stale, other_day_twin, stale_reason
from bankfeeds.desk.exceptions import open_file_exception
from bankfeeds.normalise.rules import BadRow, NormaliseResult, normalise, write_parquet
from bankfeeds.storage.context import AppContext
from bankfeeds.storage.db.models import Connector, IngestedFile, ReconException
from bankfeeds.storage.objectstore.store import storage_error

log = logging.getLogger(__name__)
#: Share of bad rows above which a whole file is quarantined.
MAX_BAD_SHARE = 0.05
#: PARSE_ERROR exceptions opened per file; beyond it one summary exception stands for the rest.
MAX_PARSE_EXCEPTIONS = 100


def layout_for(connector: Connector) -> tuple[Layout, Literal["PG", "BANK"]]:
    """The layout a connector's files are read with, and which side of a recon they are."""
    if connector.provider == "PG":
        return LAYOUTS["PG"], "PG"
    if connector.provider == "CUSTOM":
        raw = connector.config.get("layout")
        if not isinstance(raw, dict):
            raise NoLayout("This CUSTOM connector has no layout in its config; add config.layout.")
        return layout_from_dict(raw), "BANK"
    if connector.provider not in LAYOUTS:
        raise NoLayout(f"There is no built-in layout for provider {connector.provider}.")
    return LAYOUTS[connector.provider], "BANK"


async def store_parquet(ctx: AppContext, df: pl.DataFrame, staging: Path | None = None) -> str:
    """Write ``df`` as Parquet into the object store, keyed by the Parquet's own SHA-256."""
    staging = staging or ctx.settings.data_dir / "staging"

    def write() -> tuple[Path, str]:
        staging.mkdir(parents=True, exist_ok=True)
        path = Path(tempfile.mkdtemp(dir=staging, prefix="parquet-")) / "rows.parquet"
        try:
            write_parquet(df, path)
        except BaseException:
            shutil.rmtree(path.parent, ignore_errors=True)
            raise
        digest = hashlib.sha256()
        with path.open("rb") as fh:
            while chunk := fh.read(1 << 20):
                digest.update(chunk)
        return path, digest.hexdigest()

    try:
        path, sha = await asyncio.to_thread(write)
    except OSError as exc:  # a full staging disk: the file is fine, the disk is not
        raise storage_error(f"write Parquet rows under {staging}", exc) from exc
    try:
        stored = await ctx.store.put_file(path, sha, hashed=True)
    finally:
        await asyncio.to_thread(shutil.rmtree, path.parent, True)
    return stored.key


async def normalise_stored(ctx: AppContext, file_pk: int, staging: Path | None = None) -> bool:
    """Normalise a DOWNLOADED file; True when it became NORMALIZED. Never raises.

    Never raising means one bad file cannot spoil its run.

    ``staging`` is where scratch files go: a run passes its own directory, which a re-run of a
    killed run removes.
    """
    try:
        normalized = await _normalise(ctx, file_pk, staging)
    except BankfeedsError as exc:
        if exc.retryable:
            # The store is unavailable, not the file bad: stay DOWNLOADED for the stranded sweep.
            log.warning("normalising postponed: %s", exc.message, extra={"file_id": file_pk})
            return False
        log.exception("normalising failed", extra={"file_id": file_pk})
        await _set_status(ctx, file_pk, "ERROR", "An unexpected error stopped normalisation.")
        return False
    except Exception:
        log.exception("normalising failed", extra={"file_id": file_pk})
        await _set_status(ctx, file_pk, "ERROR", "An unexpected error stopped normalisation.")
        return False
    return normalized


async def _normalise(ctx: AppContext, file_pk: int, staging: Path | None = None) -> bool:
    async with ctx.sessions() as session:
        row = await session.get(IngestedFile, file_pk)
        connector = await session.get(Connector, row.connector_id) if row else None
    if row is None or connector is None or row.status != "DOWNLOADED" or not row.object_key:
        return False
    try:
        layout, side = layout_for(connector)
    except BankfeedsError as exc:  # no layout: no reason to read the bytes at all
        await _unreadable(ctx, row, exc)
        return False
    data = await ctx.store.read_bytes(row.object_key)  # a store outage is not a bad file
    try:
        result = await asyncio.to_thread(
            normalise,
            data,
            layout,
            side=side,
            source_file_id=row.id,
            cycle_date=row.cycle_date,
            max_bad_share=MAX_BAD_SHARE,
        )
    except BankfeedsError as exc:
        await _unreadable(ctx, row, exc)
        return False
    if result.quarantined:
        await _finish(ctx, row, result, status="QUARANTINED", key=None)
        return False
    key = await store_parquet(ctx, result.rows, staging)
    return await _finish(ctx, row, result, status="NORMALIZED", key=key) == "NORMALIZED"


def summary_of(result: NormaliseResult) -> dict[str, Any]:
    """The file row's summary: counts and paise totals by status, and the banks (PG files)."""
    out: dict[str, Any] = {
        "rows": result.summary.rows,
        "badRows": result.summary.bad_rows,
        # Bytes the file's encoding could not read outside mapped columns: kept as U+FFFD.
        "replaced_bytes": result.summary.replaced_bytes,
        "header_line": result.summary.header_line,
        "trailer_lines": list(result.summary.trailer_lines),
        **{
            k: v
            for k, v in asdict(result.summary).items()
            if k.endswith("_by_status") and isinstance(v, dict)
        },
    }
    out = {_camel(k): v for k, v in out.items()}
    if "raw" in result.rows.columns and result.rows.height:
        banks = bank_names(result.rows).str.strip_chars().str.to_uppercase()
        out["banks"] = sorted({b for b in banks.drop_nulls().unique().to_list() if b})
    return out


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)


async def _finish(
    ctx: AppContext, row: IngestedFile, result: NormaliseResult, *, status: str, key: str | None
) -> str | None:
    """Record the outcome on the file row and open its exceptions, in one go; returns the status.

    A NORMALIZED file with rows whose bytes are another day's file becomes STALE instead
    (``days/delivery.py``); a NORMALIZED file settles its day's FILE_MISSING and STALE_FILE.
    """
    now = ctx.clock()
    async with ctx.sessions.begin() as session:
        twin = None
        if status == "NORMALIZED" and result.summary.rows:
            twin = await other_day_twin(session, row)
            status = "STALE" if twin is not None else status
        done = await session.execute(
            update(IngestedFile)
            .where(IngestedFile.id == row.id, IngestedFile.status == "DOWNLOADED")
            .values(
                status=status,
                row_count=result.summary.rows,
                summary=summary_of(result),
                normalized_key=key,
                error_message=stale_reason(twin) if twin else result.quarantine_reason,
                updated_at=now,
            )
        )
        if not done.rowcount:  # type: ignore[attr-defined]
            return None  # another worker normalised it meanwhile
        # A file promoted after an earlier quarantine is parsed again: its old rows go first.
        await session.execute(
            delete(ReconException).where(
                ReconException.file_id == row.id,
                ReconException.kind == "PARSE_ERROR",
                ReconException.state == "OPEN",
            )
        )
        rows = _parse_rows(ctx, row, result.bad_rows, result.quarantine_reason)
        if rows:
            await session.execute(insert(ReconException), rows)
        if twin is not None:
            await open_stale(session, ctx, row, twin)
        elif status == "NORMALIZED":
            await day_delivered(session, ctx, row)
            if row.provider == "PG":
                await _unknown_banks(session, ctx, row, summary_of(result).get("banks", []))
    return status


def _parse_rows(
    ctx: AppContext, row: IngestedFile, bad: list[BadRow], verdict: str | None
) -> list[dict[str, Any]]:
    """One PARSE_ERROR per bad row up to the cap, one that counts the rest, one for a verdict."""
    severity = "HIGH" if verdict else "MEDIUM"
    items: list[tuple[int | None, str, str, dict[str, Any]]] = [
        (item.line, f"{row.remote_name} line {item.line}: {item.reason}", severity,
         {"line": item.line, "reason": item.reason, "name": row.remote_name})
        for item in bad[:MAX_PARSE_EXCEPTIONS]
    ]  # fmt: skip
    if len(bad) > MAX_PARSE_EXCEPTIONS:
        rest = bad[MAX_PARSE_EXCEPTIONS:]
        message = f"{row.remote_name}: {len(rest)} more bad rows, not listed one by one."
        data = {"moreRows": len(rest), "lines": [b.line for b in rest[:1000]]}
        items.append((None, message, severity, data))
    if verdict:
        message = f"{row.remote_name} quarantined: {verdict}"
        items.append((None, message, "HIGH", {"name": row.remote_name, "quarantined": True}))
    now = ctx.clock()
    return [
        {"kind": "PARSE_ERROR", "severity": sev, "state": "OPEN", "message": message,
         "connector_id": row.connector_id, "run_id": row.run_id, "file_id": row.id,
         "provider": row.provider, "cycle_date": row.cycle_date, "source_row": line,
         "data": data, "created_at": now}
        for line, message, sev, data in items
    ]  # fmt: skip


async def _unknown_banks(
    session: AsyncSession, ctx: AppContext, row: IngestedFile, names: list[str]
) -> None:
    """PG rows naming a bank no provider answers to would never be reconciled: say so."""
    unknown = await unknown_banks(session, names)
    if not unknown:
        return
    shown = ", ".join(repr(n) for n in unknown[:10])
    await open_file_exception(
        session,
        ctx,
        row,
        kind="UNKNOWN_BANK",
        severity="HIGH",
        message=(
            f"{row.remote_name} has rows for {len(unknown)} bank name(s) that no bank connector "
            f"answers to: {shown}. Their rows are not reconciled; add the name to the bank "
            "connector's bankAliases."
        ),
        dedupe_key=f"UNKNOWN_BANK:{row.id}",
        data={"banks": unknown},
    )


async def _unreadable(ctx: AppContext, row: IngestedFile, exc: BankfeedsError) -> None:
    """The file is not in its layout at all: ERROR, with one exception saying why."""
    async with ctx.sessions.begin() as session:
        await session.execute(
            update(IngestedFile)
            .where(IngestedFile.id == row.id, IngestedFile.status == "DOWNLOADED")
            .values(status="ERROR", error_message=exc.message, updated_at=ctx.clock())
        )
        await open_file_exception(
            session,
            ctx,
            row,
            kind="PARSE_ERROR",
            severity="HIGH",
            message=f"{row.remote_name} could not be read: {exc.message}",
            dedupe_key=f"PARSE_ERROR:{row.id}:file",
            data={"code": exc.code},
        )


async def _set_status(ctx: AppContext, file_pk: int, status: str, message: str) -> None:
    async with ctx.sessions.begin() as session:
        await session.execute(
            update(IngestedFile)
            .where(IngestedFile.id == file_pk, IngestedFile.status == "DOWNLOADED")
            .values(status=status, error_message=message, updated_at=ctx.clock())
        )


#: A file still DOWNLOADED this long after it was stored lost its normalisation to a crash.
STRANDED_AFTER = timedelta(minutes=10)


async def claim_stranded(ctx: AppContext, *, limit: int = 20) -> list[int]:
    """Claim files a crashed worker left DOWNLOADED, for the caller to normalise."""
    now = ctx.clock()
    async with ctx.sessions() as session:
        stranded = (
            await session.execute(
                select(IngestedFile.id, IngestedFile.updated_at)
                .where(IngestedFile.status == "DOWNLOADED")
                .where(IngestedFile.updated_at < now - STRANDED_AFTER)
                .order_by(IngestedFile.id)
                .limit(limit)
            )
        ).all()
    return await _claim(ctx, [(pk, seen) for pk, seen in stranded])


async def claim_known(ctx: AppContext, file_pks: list[int]) -> list[int]:
    """Claim those of a run's already-known files still DOWNLOADED, for the caller to normalise.

    A worker killed between a file's commit and its normalisation leaves it DOWNLOADED; the run
    that takes over recognises the file from its listing and skips it, so it picks up the
    normalisation rather than leaving it to the stranded sweep minutes later.
    """
    rows: list[tuple[int, Any]] = []
    async with ctx.sessions() as session:
        for start in range(0, len(file_pks), 1000):
            chunk = file_pks[start : start + 1000]
            rows += (
                await session.execute(
                    select(IngestedFile.id, IngestedFile.updated_at)
                    .where(IngestedFile.id.in_(chunk))
                    .where(IngestedFile.status == "DOWNLOADED")
                )
            ).all()
    return await _claim(ctx, rows)


async def _claim(ctx: AppContext, rows: list[tuple[int, Any]]) -> list[int]:
    """Claim each file by bumping ``updated_at`` conditionally, so two workers never take one."""
    taken: list[int] = []
    now = ctx.clock()
    for file_pk, seen in rows:
        async with ctx.sessions.begin() as session:
            claimed = await session.execute(
                update(IngestedFile)
                .where(IngestedFile.id == file_pk, IngestedFile.updated_at == seen)
                .where(IngestedFile.status == "DOWNLOADED")
                .values(updated_at=now)
            )
        if claimed.rowcount:  # type: ignore[attr-defined]
            taken.append(file_pk)
    return taken
