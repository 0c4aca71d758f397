"""Which remote files belong to a run: pattern, safe names, sidecars, stability, already seen."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import date

from sqlalchemy import select, tuple_

from bankfeeds.connectors.patterns import matches, normalisation_twins, unsafe_name_reason
from bankfeeds.storage.context import AppContext
from bankfeeds.storage.db.models import RemoteFile
from bankfeeds.transports.sftp.client import RemoteEntry, SftpSource


@dataclass(frozen=True)
class Candidate:
    """A remote file that matches the run's pattern and cycle date."""

    name: str
    path: str
    size: int
    mtime: int
    sidecar_path: str | None


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
    names = {e.name for e in entries if e.kind == "file"}
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
        if sidecar is not None and sidecar not in names:
            passed.append(
                Passed(entry.name, entry.size, "WAITING", f"its sidecar {sidecar} is not there yet")
            )
            continue
        ready.append(_candidate(remote_path, entry, sidecar))
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


def _candidate(directory: str, entry: RemoteEntry, sidecar: str | None) -> Candidate:
    return Candidate(
        name=entry.name,
        path=_join(directory, entry.name),
        size=entry.size,
        mtime=int(entry.mtime),
        sidecar_path=_join(directory, sidecar) if sidecar else None,
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


async def split_known(
    ctx: AppContext, connector_pk: int, candidates: list[Candidate]
) -> tuple[list[Candidate], list[Passed]]:
    """Separate candidates already verified before (same path, size and mtime) from new ones."""
    if not candidates:
        return [], []
    keys = [(c.path, c.size, c.mtime) for c in candidates]
    async with ctx.sessions() as session:
        rows = (
            await session.execute(
                select(
                    RemoteFile.remote_path, RemoteFile.size, RemoteFile.mtime, RemoteFile.file_id
                )
                .where(RemoteFile.connector_id == connector_pk)
                .where(tuple_(RemoteFile.remote_path, RemoteFile.size, RemoteFile.mtime).in_(keys))
            )
        ).all()
    seen = {(r[0], r[1], r[2]): r[3] for r in rows}
    fresh, known = [], []
    for c in candidates:
        file_pk = seen.get((c.path, c.size, c.mtime))
        if file_pk is None:
            fresh.append(c)
        else:
            known.append(Passed(c.name, c.size, "SKIPPED", "already ingested", file_pk))
    return fresh, known
