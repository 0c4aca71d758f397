"""Recording an unpacked delivery: the delivered bytes and every layer under them, in one commit.

Every object is stored first; then one transaction inserts the delivery's row and its layers'
rows, each pointing at its parent. A crash before the commit leaves only orphan objects that the
next run adopts; a crash after it leaves a complete tree. The delivery's row is UNPACKED (kept,
never normalised); the leaves are DOWNLOADED and normalised after the commit.
"""

from __future__ import annotations

from dataclasses import replace

from sqlalchemy import update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from bankfeeds.core.faults import checkpoint
from bankfeeds.ingest.discovery import Candidate
from bankfeeds.ingest.records import (
    Recorded,
    arrived,
    file_by_hash,
    file_row,
    prior_version,
    remember,
    run_file,
    same_bytes,
)
from bankfeeds.ingest.unpack import Layer
from bankfeeds.storage.context import AppContext
from bankfeeds.storage.db.models import Connector, ConnectorRun, IngestedFile
from bankfeeds.transports.sink import DownloadResult

UNPACKED = "UNPACKED"


async def record_unpacked(
    ctx: AppContext,
    run: ConnectorRun,
    connector: Connector,
    c: Candidate,
    root: Layer,
    expected: str | None,
    *,
    listed: bool = True,
) -> Recorded:
    """Store a verified delivery with everything unpacked from it; DOWNLOADED or SKIPPED."""
    keys: dict[int, str] = {}
    for layer in root.walk():  # durable first
        stored = await ctx.store.put_file(layer.path, layer.sha256, hashed=True)
        keys[id(layer)] = stored.key
    checkpoint("after-put")
    now = ctx.clock()
    result = DownloadResult(root.sha256, root.size)
    leaves: list[int] = []
    async with ctx.sessions.begin() as session:
        existing = await file_by_hash(session, connector.id, root.sha256, run.cycle_date)
        if existing is not None and existing.status != "QUARANTINED":
            session.add(
                run_file(run.id, existing.id, c, result, "SKIPPED", same_bytes(existing), now)
            )
            if listed:
                await remember(session, ctx, connector.id, run.id, c, root.sha256, existing.id)
            return Recorded("SKIPPED")
        if existing is not None:
            # Refused before only because of its sidecar; now it verifies and is unpacked.
            await session.execute(
                update(IngestedFile)
                .where(IngestedFile.id == existing.id)
                .values(
                    status=UNPACKED,
                    object_key=keys[id(root)],
                    error_message=None,
                    expected_sha256=expected,
                    updated_at=now,
                )
            )
            root_pk, root_row = existing.id, existing
        else:
            row = file_row(run, connector, c, result, keys[id(root)], UNPACKED, now)
            row.expected_sha256 = expected
            session.add(row)
            await session.flush()
            root_pk, root_row = row.id, row
        for child in root.children:
            await _add_layer(session, ctx, run, connector, c, child, root_pk, keys, leaves)
        await arrived(session, root_row, now)
        members = sum(1 for _ in root.leaves())
        message = f"unpacked into {members} file(s)"
        session.add(run_file(run.id, root_pk, c, result, "DOWNLOADED", message, now))
        if listed:
            await remember(session, ctx, connector.id, run.id, c, root.sha256, root_pk)
    checkpoint("after-commit")
    return Recorded("DOWNLOADED", tuple(leaves))


async def _add_layer(
    session: AsyncSession,
    ctx: AppContext,
    run: ConnectorRun,
    connector: Connector,
    delivered: Candidate,
    layer: Layer,
    parent_pk: int,
    keys: dict[int, str],
    leaves: list[int],
) -> None:
    """Insert one layer's row under its parent, then its own layers; a known layer is skipped."""
    now = ctx.clock()
    c = replace(
        delivered,
        name=layer.name[:255],
        path=f"{delivered.path}#{layer.name}"[:1024],
        size=layer.size,
        sidecar_path=None,
    )
    result = DownloadResult(layer.sha256, layer.size)
    status = UNPACKED if layer.children else "DOWNLOADED"
    try:
        async with session.begin_nested():
            prior = (
                None
                if layer.children
                else await prior_version(session, connector.id, c.name, run.cycle_date)
            )
            row = file_row(run, connector, c, result, keys[id(layer)], status, now)
            row.parent_id = parent_pk
            row.version = (prior.version + 1) if prior else 1
            row.supersedes_id = prior.id if prior else None
            session.add(row)
            await session.flush()
    except IntegrityError:
        # The same bytes came before in another delivery: that copy stands, this one is noted.
        known = await file_by_hash(session, connector.id, layer.sha256, run.cycle_date)
        message = same_bytes(known) if known else "already ingested"
        session.add(
            run_file(run.id, known.id if known else None, c, result, "SKIPPED", message, now)
        )
        return
    if not layer.children:
        leaves.append(row.id)
        outcome = "NEW_VERSION" if row.version > 1 else "DOWNLOADED"
        note = f"from {delivered.name}" + (f", signed by {layer.signer}" if layer.signer else "")
        session.add(run_file(run.id, row.id, c, result, outcome, note, now))
    for child in layer.children:
        await _add_layer(session, ctx, run, connector, delivered, child, row.id, keys, leaves)
