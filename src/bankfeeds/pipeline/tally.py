"""What every kind of source shares once a file is fetched: the run's tally and storing a file."""

from __future__ import annotations

import asyncio
import shutil
from dataclasses import dataclass, field
from typing import Final

from sqlalchemy import or_, select

from bankfeeds.core.errors import BankfeedsError
from bankfeeds.core.logs import scrub
from bankfeeds.ingest.discovery import Candidate, Passed
from bankfeeds.ingest.records import Arrived, record_passed, record_quarantine, record_verified
from bankfeeds.ingest.records_unpacked import UNPACKED, record_unpacked
from bankfeeds.ingest.unpack import Layer, UnpackRules, needs_unpacking, unpack
from bankfeeds.pipeline import handoff
from bankfeeds.storage.context import AppContext
from bankfeeds.storage.db.models import Connector, ConnectorRun, IngestedFile, RunFile

#: File statuses that leave a file of no use until the bank sends another (or someone accepts it),
#: by the word a run's message uses for them.
PROBLEMS: Final = {"QUARANTINED": "quarantined", "ERROR": "unreadable", "STALE": "stale"}
#: What a problem file is said to be when its row gives no reason.
_DEFAULT_REASONS: Final = {
    "quarantined": "quarantined",
    "unreadable": "it could not be read",
    "stale": "the same bytes as another day's file",
}
#: Run-file outcomes the tally counts as they happen; reading them back would count them twice.
_COUNTED: Final = ("QUARANTINED", "FAILED", "REJECTED", "WAITING")
#: Files named one by one in a run's message, per kind of problem.
_NAMED: Final = 5


@dataclass(frozen=True)
class FileProblem:
    """A stored file of the run that cannot be used: quarantined, unreadable or stale, and why."""

    name: str
    kind: str
    reason: str
    #: The column it was first counted in (``downloaded``, ``skipped``) or None (an archive's part).
    counted_as: str | None


@dataclass
class Tally:
    """What a run did, counted as it goes."""

    discovered: int = 0
    downloaded: int = 0
    skipped: int = 0
    quarantined: int = 0
    failed: int = 0
    refused: int = 0
    refusal: str | None = None
    waiting: int = 0
    bytes_done: dict[str, int] = field(default_factory=dict)
    bytes_expected: int = 0
    #: Verdicts on the stored files, read back once the run's files are normalised.
    problems: list[FileProblem] = field(default_factory=list)
    #: Files of the day the run stored or found usable; None until read back.
    usable: int | None = None
    #: Why the run found nothing at all (its pattern matched no listed file).
    no_file: str | None = None

    def _kinds(self, kind: str) -> list[FileProblem]:
        return [p for p in self.problems if p.kind == kind]

    def outcome(self) -> str:
        """SUCCESS, PARTIAL or FAILED from the counts."""
        problems = self.failed + self.refused + self.quarantined + self.waiting
        problems += len(self.problems)
        if problems == 0:
            return "SUCCESS"
        usable = self.usable if self.usable is not None else self.downloaded + self.skipped
        return "PARTIAL" if usable > 0 or self.waiting else "FAILED"

    def got_file(self) -> bool:
        """Whether the run leaves the day with at least one usable file."""
        return bool(self.usable) if self.usable is not None else self.downloaded + self.skipped > 0

    def columns(self) -> dict[str, int]:
        """The run columns these counts fill; a quarantined or unreadable file counts as such."""
        moved = {"downloaded": 0, "skipped": 0}
        for p in self.problems:
            if p.kind != "stale" and p.counted_as in moved:
                moved[p.counted_as] += 1
        return {
            "files_discovered": self.discovered,
            "files_downloaded": max(0, self.downloaded - moved["downloaded"]),
            "files_skipped": max(0, self.skipped - moved["skipped"]),
            "files_quarantined": self.quarantined + len(self._kinds("quarantined")),
            "files_failed": self.failed + self.refused + len(self._kinds("unreadable")),
            "bytes_downloaded": sum(self.bytes_done.values()),
            "bytes_expected": self.bytes_expected,
        }

    def error_code(self) -> str | None:
        """None on a clean success; otherwise what spoiled the run, the most actionable first."""
        if self.outcome() == "SUCCESS":
            return "no-file" if self.no_file else None
        if self.failed or self.waiting:
            return "incomplete"
        if self.refused:
            return "file-refused"
        if self.quarantined:
            return "checksum-mismatch"
        kinds = {p.kind for p in self.problems}
        return next(f"file-{k}" for k in ("quarantined", "unreadable", "stale") if k in kinds)

    def retryable(self) -> bool:
        """Whether a later attempt could do better (files that failed or were not ready).

        A quarantined, unreadable or stale file fails the same way until the bank sends another.
        """
        return bool(self.failed or self.waiting)

    def summary(self) -> str | None:
        """A sentence about what went wrong, if anything did, or why nothing was found."""
        parts = []
        if self.failed:
            parts.append(f"{self.failed} file(s) failed to download")
        if self.refused:
            parts.append(f"{self.refused} file(s) refused ({(self.refusal or '').rstrip('.')})")
        if self.quarantined:
            parts.append(f"{self.quarantined} file(s) quarantined on checksum mismatch")
        for kind in ("quarantined", "unreadable", "stale"):
            if found := self._kinds(kind):
                parts.append(f"{len(found)} file(s) {kind}: {_named(found)}")
        if self.waiting:
            parts.append(f"{self.waiting} file(s) not ready yet; a later run will pick them up")
        if parts:
            return "; ".join(parts) + "."
        return self.no_file


def _named(problems: list[FileProblem]) -> str:
    named = "; ".join(f"{p.name}: {p.reason.rstrip('.')}" for p in problems[:_NAMED])
    rest = len(problems) - _NAMED
    return named + (f"; and {rest} more" if rest > 0 else "")


async def settle(ctx: AppContext, run_pk: int, tally: Tally) -> None:
    """Fold the verdicts on the run's stored files into its tally, read back from the database.

    Normalisation decides a file's fate after it is stored (too many bad rows, not in its layout,
    the same bytes as another day's file), so the run's outcome is read from the file rows: the
    ones this run created and the known ones it skipped or promoted (a day's file quarantined
    earlier is still no file for the day).
    """
    linked = select(RunFile.file_id).where(RunFile.run_id == run_pk)
    async with ctx.sessions() as session:
        outcomes: dict[int, set[str]] = {}
        for file_pk, outcome in (await session.execute(linked.add_columns(RunFile.outcome))).all():
            if file_pk is not None:
                outcomes.setdefault(file_pk, set()).add(outcome)
        files = (
            await session.execute(
                select(
                    IngestedFile.id,
                    IngestedFile.remote_name,
                    IngestedFile.status,
                    IngestedFile.error_message,
                    IngestedFile.parent_id,
                ).where(
                    or_(
                        IngestedFile.run_id == run_pk,
                        IngestedFile.id.in_(linked.where(RunFile.outcome.not_in(_COUNTED))),
                    )
                )
            )
        ).all()
    parents = {f.parent_id for f in files if f.parent_id is not None}
    usable = 0
    for f in sorted(files, key=lambda f: f.id):
        counted = outcomes.get(f.id, set())
        if f.status == "QUARANTINED" and "QUARANTINED" in counted:
            continue  # refused on its checksum by this run: counted already
        kind = PROBLEMS.get(f.status)
        if kind is None:
            # An unpacked delivery counts through its parts; alone (known, skipped) it stands.
            usable += f.status != UNPACKED or f.id not in parents
            continue
        origin = None
        if f.parent_id is None:
            fetched = counted & {"DOWNLOADED", "NEW_VERSION"}
            origin = "downloaded" if fetched else "skipped" if "SKIPPED" in counted else None
        reason = f.error_message or _DEFAULT_REASONS[kind]
        tally.problems.append(FileProblem(f.remote_name, kind, reason, origin))
    tally.usable = usable


async def store(
    ctx: AppContext,
    run: ConnectorRun,
    connector: Connector,
    arrived: Arrived,
    rules: UnpackRules,
    *,
    listed: bool = True,
) -> str:
    """Record a verified file (unpacking it first when it is encrypted or an archive), then
    normalise what it stored; returns the run-file outcome."""
    c, staged, result = arrived.candidate, arrived.staged, arrived.result
    # Scratch files go in the run's staging directory, which a re-run of a killed run removes.
    scratch = staged.parent
    if not needs_unpacking(c.name, rules):
        recorded = await record_verified(ctx, run, connector, arrived, listed=listed)
        await handoff.files_stored(ctx, recorded.to_normalise, scratch)
        return recorded.outcome
    workdir = staged.with_name(staged.name + ".unpacked")
    try:
        root = await asyncio.to_thread(
            unpack, Layer(c.name, staged, result.sha256, result.size), rules, workdir
        )
        recorded = await record_unpacked(
            ctx, run, connector, c, root, arrived.expected, listed=listed
        )
        # Before the work directory goes: the unpacked members are read from it.
        await handoff.files_stored(ctx, recorded.to_normalise, scratch)
        return recorded.outcome
    finally:
        await asyncio.to_thread(shutil.rmtree, workdir, True)


async def take(
    ctx: AppContext,
    run: ConnectorRun,
    connector: Connector,
    arrived: Arrived,
    tally: Tally,
    rules: UnpackRules,
    *,
    listed: bool = True,
) -> None:
    """Quarantine or store one arrived file: the one path for SFTP and API deliveries alike."""
    c = arrived.candidate
    try:
        if arrived.problem is not None:
            await record_quarantine(ctx, run, connector, arrived, arrived.problem)
            tally.quarantined += 1
            return
        count(tally, await store(ctx, run, connector, arrived, rules, listed=listed))
    except BankfeedsError as exc:
        await file_failed(ctx, run, c, tally, exc)


async def file_failed(
    ctx: AppContext, run: ConnectorRun, c: Candidate, tally: Tally, exc: BankfeedsError
) -> None:
    """Record one file's error on the run without failing the rest of it.

    A file the bank must fix (wrong key, bad signature, archive bomb) is refused for good; anything
    else may go better on the next attempt, so it counts as failed and the run is tried again.
    """
    if exc.retryable:
        tally.failed += 1
    else:
        refuse(tally, exc)
    await record_passed(ctx, run.id, [Passed(c.name, c.size, "FAILED", scrub(exc.message))])


def refuse(tally: Tally, exc: BankfeedsError) -> None:
    """Count a file refused for good (the bank must send another), keeping the first reason."""
    tally.refused += 1
    tally.refusal = tally.refusal or exc.message


def count(tally: Tally, outcome: str) -> None:
    """Count a stored file by what recording it did."""
    if outcome == "SKIPPED":
        tally.skipped += 1
    else:
        tally.downloaded += 1
