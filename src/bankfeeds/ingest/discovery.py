"""Which remote files belong to a run: pattern, safe names, sidecars, stability, already seen."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import date

from sqlalchemy import bindparam, select, tuple_, update

from bankfeeds.connectors.patterns import matches, normalisation_twins, unsafe_name_reason
from bankfeeds.core.errors import BankfeedsError
from bankfeeds.storage.context import AppContext
from bankfeeds.storage.db.models import RemoteFile
from bankfeeds.transports.checksum import parse_sidecar
from bankfeeds.transports.sftp.client import RemoteEntry, SftpSource


@dataclass(frozen=True)
class Candidate:
    """A remote file that matches the run's pattern and cycle date, with its sidecar as listed."""

    name: str
    path: str
    size: int
    mtime: int
    sidecar_path: str | None
    sidecar_size: int | None = None
    sidecar_mtime: int | None = None


@dataclass(frozen=True)
class Passed:
    """A remote file left alone by this run, and why (unsafe, not ready, already have it)."""

    name: str
    size: int | None
    outcome: str
    reason: str
    file_pk: int | None = None


@dataclass(frozen=True)
class Discovery:
    """One listing split by the run's pattern: what to fetch, what to pass over, what else is there.

    ``matched`` counts the entries the pattern matched for the day, whatever became of them;
    ``others`` are the listed files it did not match (safe names, sidecars left out), from which
    a run that matched nothing names the nearest.
    """

    ready: list[Candidate]
    passed: list[Passed]
    matched: int
    others: list[str]


def _join(directory: str, name: str) -> str:
    return directory.rstrip("/") + "/" + name


async def discover(
    source: SftpSource,
    *,
    remote_path: str,
    pattern: str,
    checksum_ext: str | None,
    cycle_date: date,
    stable_seconds: float,
) -> Discovery:
    """List the directory and split matching files into ready candidates and passed-over ones."""
    entries = await source.list_dir(remote_path)
    files = {e.name: e for e in entries if e.kind == "file"}
    twins = normalisation_twins([e.name for e in entries])
    ready: list[Candidate] = []
    passed: list[Passed] = []
    others: list[str] = []
    matched = 0
    for entry in entries:
        if checksum_ext and entry.name.endswith(checksum_ext):
            continue
        reason = unsafe_name_reason(entry.name)
        if reason is not None:
            passed.append(Passed(repr(entry.name)[1:-1][:200], None, "REJECTED", reason))
            continue
        if not matches(pattern, entry.name, cycle_date):
            if entry.kind == "file":
                others.append(entry.name)
            continue
        matched += 1
        if entry.name in twins:
            # Two names that display alike could be a spoof; an operator must choose, not us.
            passed.append(
                Passed(entry.name, entry.size, "REJECTED", _twin_reason(entry.name, twins))
            )
            continue
        if entry.kind != "file":
            passed.append(Passed(entry.name, None, "REJECTED", f"is a {entry.kind}, not a file"))
            continue
        sidecar = entry.name + checksum_ext if checksum_ext else None
        if sidecar is not None and sidecar not in files:
            passed.append(
                Passed(entry.name, entry.size, "WAITING", f"its sidecar {sidecar} is not there yet")
            )
            continue
        ready.append(_candidate(remote_path, entry, files[sidecar] if sidecar else None))
    if stable_seconds > 0 and ready:
        ready, moving = await _stable(source, remote_path, ready, stable_seconds)
        passed += moving
    return Discovery(ready, passed, matched, others)


def _twin_reason(name: str, twins: dict[str, list[str]]) -> str:
    others = ", ".join(repr(t) for t in twins[name])
    return (
        f"The server listed {name!r} and {others}, which differ only in Unicode normalisation "
        "and look the same; none of them is fetched until only one is left."
    )


def _candidate(directory: str, entry: RemoteEntry, sidecar: RemoteEntry | None) -> Candidate:
    return Candidate(
        name=entry.name,
        path=_join(directory, entry.name),
        size=entry.size,
        mtime=int(entry.mtime),
        sidecar_path=_join(directory, sidecar.name) if sidecar else None,
        sidecar_size=sidecar.size if sidecar else None,
        sidecar_mtime=int(sidecar.mtime) if sidecar else None,
    )


async def _stable(
    source: SftpSource, directory: str, ready: list[Candidate], wait: float
) -> tuple[list[Candidate], list[Passed]]:
    """Keep the files whose size and mtime did not change over ``wait`` seconds."""
    await asyncio.sleep(wait)
    again = {e.name: e for e in await source.list_dir(directory) if e.kind == "file"}
    still, moving = [], []
    for c in ready:
        now = again.get(c.name)
        if now is not None and now.size == c.size and int(now.mtime) == c.mtime:
            still.append(c)
        else:
            moving.append(Passed(c.name, c.size, "WAITING", "it is still being written"))
    return still, moving


# Why the sidecar, and only when it lists differently: a bank that corrects a day's file writes
# its checksum again, so the sidecar is rewritten whenever the bytes change, and it comes in the
# same readdir at no cost. Tools that keep timestamps (`sftp put -p`, `rsync -t`) carry a
# corrected file's old mtime over, and a same-size correction then lists exactly like the file it
# replaces; its sidecar carries the mtime of its own rewrite. So a remembered file whose sidecar
# lists differently has that sidecar read (a few dozen bytes) and compared with the digest we
# hold, and only a different digest is fetched. Reading every known sidecar, or probing the head
# and tail of every known file, would turn a re-run over 10,000 known files from one listing into
# 10,000 opens (and a probe misses a change in the middle); ctime, which would tell, is not in
# SFTP v3 attributes. A bank that also stamps the new sidecar with the old mtime is not seen: a
# forced re-run of the day fetches its correction.
async def split_known(
    ctx: AppContext, connector_pk: int, candidates: list[Candidate], source: SftpSource
) -> tuple[list[Candidate], list[Passed]]:
    """Separate candidates already verified (same path, size and mtime, same sidecar) from new ones.

    A remembered file whose sidecar lists differently is fetched only if that sidecar no longer
    gives the digest we hold.
    """
    if not candidates:
        return [], []
    keys = [(c.path, c.size, c.mtime) for c in candidates]
    async with ctx.sessions() as session:
        rows = (
            await session.execute(
                select(
                    RemoteFile.remote_path,
                    RemoteFile.size,
                    RemoteFile.mtime,
                    RemoteFile.file_id,
                    RemoteFile.sidecar_size,
                    RemoteFile.sidecar_mtime,
                )
                .where(RemoteFile.connector_id == connector_pk)
                .where(tuple_(RemoteFile.remote_path, RemoteFile.size, RemoteFile.mtime).in_(keys))
            )
        ).all()
    seen = {(r[0], r[1], r[2]): r for r in rows}
    fresh: list[Candidate] = []
    known: list[Passed] = []
    doubtful: list[tuple[Candidate, int]] = []
    for c in candidates:
        row = seen.get((c.path, c.size, c.mtime))
        if row is None:
            fresh.append(c)
        elif c.sidecar_path is not None and (c.sidecar_size, c.sidecar_mtime) != (row[4], row[5]):
            doubtful.append((c, row[3]))
        else:
            known.append(Passed(c.name, c.size, "SKIPPED", "already ingested", row[3]))
    if doubtful:
        changed, same = await _recheck(ctx, connector_pk, source, doubtful)
        fresh += changed
        known += same
    return fresh, known


async def _recheck(
    ctx: AppContext, connector_pk: int, source: SftpSource, doubtful: list[tuple[Candidate, int]]
) -> tuple[list[Candidate], list[Passed]]:
    """Read the sidecars that list differently: the files to fetch, and those to skip.

    A sidecar still giving the digest we hold has its new (size, mtime) remembered, so the next
    listing needs no read. One that cannot be read or parsed sends its file to be fetched, where
    verifying says why.
    """
    keys = [(c.path, c.size, c.mtime) for c, _ in doubtful]
    async with ctx.sessions() as session:
        held = {
            (r[0], r[1], r[2]): r[3]
            for r in await session.execute(
                select(RemoteFile.remote_path, RemoteFile.size, RemoteFile.mtime, RemoteFile.sha256)
                .where(RemoteFile.connector_id == connector_pk)
                .where(tuple_(RemoteFile.remote_path, RemoteFile.size, RemoteFile.mtime).in_(keys))
            )
        }
    gate = asyncio.Semaphore(max(1, source.params.max_files_in_flight))

    async def digest(c: Candidate) -> str | None:
        assert c.sidecar_path is not None
        async with gate:
            try:
                return parse_sidecar(await source.read_small(c.sidecar_path), c.name)
            except BankfeedsError:
                if source.connection_lost:
                    raise
                return None

    found = await asyncio.gather(*(digest(c) for c, _ in doubtful))
    changed: list[Candidate] = []
    same: list[tuple[Candidate, int]] = []
    for (c, file_pk), got in zip(doubtful, found, strict=True):
        if got is not None and got == held.get((c.path, c.size, c.mtime)):
            same.append((c, file_pk))
        else:
            changed.append(c)
    if same:
        stmt = (
            update(RemoteFile)
            .where(
                RemoteFile.connector_id == connector_pk,
                RemoteFile.remote_path == bindparam("key_path"),
                RemoteFile.size == bindparam("key_size"),
                RemoteFile.mtime == bindparam("key_mtime"),
            )
            .values(sidecar_size=bindparam("new_size"), sidecar_mtime=bindparam("new_mtime"))
        )
        async with ctx.sessions.begin() as session:
            conn = await session.connection()
            await conn.execute(
                stmt,
                [
                    {
                        "key_path": c.path,
                        "key_size": c.size,
                        "key_mtime": c.mtime,
                        "new_size": c.sidecar_size,
                        "new_mtime": c.sidecar_mtime,
                    }
                    for c, _ in same
                ],
            )
    reason = "already ingested; its new sidecar gives the same SHA-256"
    return changed, [Passed(c.name, c.size, "SKIPPED", reason, file_pk) for c, file_pk in same]
