"""The reconcile check every fault test ends with: nothing lost, nothing duplicated, nothing stuck.

The bank's side (the SHA-256 of every file it published with a valid sidecar) must equal the data
objects in the store and the stored ``recon_ingested_file`` rows; every row's object exists, every
data object has a row, no staging file is left and no run is RUNNING.
"""

from __future__ import annotations

import dataclasses
from collections import Counter
from collections.abc import Mapping
from datetime import timedelta
from pathlib import Path

from sqlalchemy import func, select

from bankfeeds.scheduling import runs
from bankfeeds.storage.context import AppContext
from bankfeeds.storage.db.models import ConnectorRun, IngestedFile, ReconJob
from bankfeeds.storage.objectstore.store import key_for

#: Statuses a row whose bytes are in the store can have (parse quarantine keeps the object;
#: an archive or encrypted delivery is kept UNPACKED, its layers are rows with a parent).
STORED_STATES = frozenset(
    {"DOWNLOADED", "NORMALIZED", "MATCHED", "QUARANTINED", "ERROR", "UNPACKED"}
)
_PARQUET_MAGIC = b"PAR1"


@dataclasses.dataclass(frozen=True)
class Reconciliation:
    """What the check counted, for the figures in docs/reliability.md."""

    published_files: int
    published_hashes: int
    data_objects: int
    stored_rows: int
    quarantined_rows: int
    quarantine_objects: int
    derived_objects: int
    orphan_parquet: int
    runs_by_status: dict[str, int]
    requeued: int


def _short(shas: set[str], names: Mapping[str, list[str]]) -> str:
    return ", ".join(
        f"{s[:12]}… ({'/'.join(names.get(s, [])) or 'not published'})" for s in sorted(shas)
    )


def _compare(
    label: str, published: set[str], found: set[str], names: Mapping[str, list[str]]
) -> str:
    """A readable difference between the published hashes and those found, or ''."""
    lines = []
    if missing := published - found:
        lines.append(f"published but not among the {label}: {_short(missing, names)}")
    if extra := found - published:
        lines.append(f"among the {label} but not published: {_short(extra, names)}")
    return "; ".join(lines)


async def _derived_keys(ctx: AppContext) -> set[str]:
    """Objects bankfeeds made itself (normalised rows, recon results): not the bank's files."""
    async with ctx.sessions() as session:
        normalised = (await session.scalars(select(IngestedFile.normalized_key))).all()
        summaries = (await session.scalars(select(ReconJob.summary))).all()
    keys = {k for k in normalised if k}
    keys |= {str(s["resultsKey"]) for s in summaries if s and s.get("resultsKey")}
    return keys


async def assert_reconciled(
    ctx: AppContext,
    published: Mapping[str, str],
    *,
    staging_root: Path | None = None,
    reap: bool = False,
) -> Reconciliation:
    """Assert published hashes = data objects = stored rows, once each, with nothing left over.

    ``published`` maps a source file's name to its SHA-256 (only files with a valid sidecar).
    ``reap=True`` first runs the lease reaper with a clock past every lease, as a worker would
    after the lease interval, so runs whose worker died count as re-queued rather than RUNNING.
    """
    names: dict[str, list[str]] = {}
    for name, sha in published.items():
        names.setdefault(sha, []).append(name)
    want = set(names)
    problems: list[str] = []

    requeued = 0
    if reap:
        later = ctx.clock() + timedelta(seconds=ctx.settings.lease_seconds + 1)
        requeued = await runs.requeue_expired(ctx=dataclasses.replace(ctx, clock=lambda: later))

    async with ctx.sessions() as session:
        rows = (await session.scalars(select(IngestedFile).order_by(IngestedFile.id))).all()
        doubles = (
            await session.execute(
                select(IngestedFile.connector_id, IngestedFile.sha256, func.count())
                .group_by(IngestedFile.connector_id, IngestedFile.sha256)
                .having(func.count() > 1)
            )
        ).all()
        run_counts = dict(
            (
                await session.execute(
                    select(ConnectorRun.status, func.count()).group_by(ConnectorRun.status)
                )
            ).all()
        )
    if doubles:
        problems.append(f"rows stored twice (connector, sha256, count): {doubles}")

    stored, quarantined, layers = [], [], set()
    for r in rows:
        where = f"file {r.id} {r.remote_name!r} ({r.status})"
        if not r.object_key:
            problems.append(f"{where} has no object key")
        elif r.object_key.startswith("quarantine/"):
            quarantined.append(r)
            if r.status != "QUARANTINED":
                problems.append(f"{where} points into quarantine but is not QUARANTINED")
        else:
            if r.object_key != key_for(r.sha256) or r.status not in STORED_STATES:
                problems.append(f"{where} points at {r.object_key}, not at its own content")
            if getattr(r, "parent_id", None) is None:
                stored.append(r)
            else:  # a layer unpacked from a delivery: bankfeeds' own object, not the bank's
                layers.add(r.object_key)
        for key in (r.object_key, r.normalized_key):
            if key and not await ctx.store.exists(key):
                problems.append(f"{where} points at {key}, which is not in the store")
    row_shas = {r.sha256 for r in stored}
    if diff := _compare("stored rows", want, row_shas, names):
        problems.append(diff)

    derived = await _derived_keys(ctx) | layers
    keys = await ctx.store.list_keys("sha256/")
    object_shas: Counter[str] = Counter()
    orphan_parquet = 0
    for key in keys:
        if key in derived:
            continue
        sha = key.rsplit("/", 1)[-1]
        if key != key_for(sha):
            problems.append(f"object {key} is not at its content-addressed key")
        if sha not in row_shas:
            data = await ctx.store.read_bytes(key)
            if data[:4] == _PARQUET_MAGIC and data[-4:] == _PARQUET_MAGIC:
                orphan_parquet += 1  # a normalisation that died before its row: harmless
                continue
            problems.append(f"object {key} has no row")
        object_shas[sha] += 1
    if twice := [s for s, n in object_shas.items() if n > 1]:
        problems.append(f"hashes stored as more than one object: {twice}")
    if diff := _compare("data objects", want, set(object_shas), names):
        problems.append(diff)

    staging = staging_root or ctx.settings.data_dir / "staging"
    files = [p for p in staging.rglob("*") if p.is_file()] if staging.exists() else []
    if left := sorted(str(p.relative_to(staging)) for p in files):
        problems.append(f"files left in staging {staging}: {left[:20]}")
    if run_counts.get("RUNNING"):
        problems.append(f"{run_counts['RUNNING']} run(s) still RUNNING")

    assert not problems, "not reconciled:\n- " + "\n- ".join(problems)
    return Reconciliation(
        published_files=len(published),
        published_hashes=len(want),
        data_objects=len(object_shas),
        stored_rows=len(stored),
        quarantined_rows=len(quarantined),
        quarantine_objects=len(await ctx.store.list_keys("quarantine/")),
        derived_objects=len(derived),
        orphan_parquet=orphan_parquet,
        runs_by_status=run_counts,
        requeued=requeued,
    )
