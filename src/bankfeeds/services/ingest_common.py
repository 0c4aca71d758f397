"""What every kind of source shares once a file is fetched: the run's tally and storing a file."""

from __future__ import annotations

import asyncio
import shutil
from dataclasses import dataclass, field
from pathlib import Path

from bankfeeds.adapters.db.models import Connector, ConnectorRun
from bankfeeds.adapters.sftp import DownloadResult
from bankfeeds.errors import BankfeedsError
from bankfeeds.services.context import AppContext
from bankfeeds.services.discovery import Candidate
from bankfeeds.services.records import record_verified
from bankfeeds.services.records_unpacked import record_unpacked
from bankfeeds.services.unpack import Layer, UnpackRules, needs_unpacking, unpack


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

    def outcome(self) -> str:
        """SUCCESS, PARTIAL or FAILED from the counts."""
        problems = self.failed + self.refused + self.quarantined + self.waiting
        if problems == 0:
            return "SUCCESS"
        return "PARTIAL" if self.downloaded + self.skipped > 0 or self.waiting else "FAILED"

    def columns(self) -> dict[str, int]:
        """The run columns these counts fill."""
        return {
            "files_discovered": self.discovered,
            "files_downloaded": self.downloaded,
            "files_skipped": self.skipped,
            "files_quarantined": self.quarantined,
            "files_failed": self.failed + self.refused,
            "bytes_downloaded": sum(self.bytes_done.values()),
            "bytes_expected": self.bytes_expected,
        }

    def error_code(self) -> str | None:
        """None on success; checksum-mismatch when only quarantines spoiled the run."""
        if self.outcome() == "SUCCESS":
            return None
        if self.failed or self.waiting:
            return "incomplete"
        return "file-refused" if self.refused else "checksum-mismatch"

    def retryable(self) -> bool:
        """Whether a later attempt could do better (files that failed or were not ready)."""
        return bool(self.failed or self.waiting)

    def summary(self) -> str | None:
        """A sentence about what went wrong, if anything did."""
        parts = []
        if self.failed:
            parts.append(f"{self.failed} file(s) failed to download")
        if self.refused:
            parts.append(f"{self.refused} file(s) refused ({(self.refusal or '').rstrip('.')})")
        if self.quarantined:
            parts.append(f"{self.quarantined} file(s) quarantined on checksum mismatch")
        if self.waiting:
            parts.append(f"{self.waiting} file(s) not ready yet; a later run will pick them up")
        return ("; ".join(parts) + ".") if parts else None


async def store(
    ctx: AppContext,
    run: ConnectorRun,
    connector: Connector,
    c: Candidate,
    staged: Path,
    result: DownloadResult,
    expected: str | None,
    rules: UnpackRules,
    *,
    listed: bool = True,
) -> str:
    """Record a verified file, unpacking it first when it is encrypted or an archive."""
    if not needs_unpacking(c.name, rules):
        return await record_verified(
            ctx, run, connector, c, staged, result, expected, listed=listed
        )
    workdir = staged.with_name(staged.name + ".unpacked")
    try:
        root = await asyncio.to_thread(
            unpack, Layer(c.name, staged, result.sha256, result.size), rules, workdir
        )
        return await record_unpacked(ctx, run, connector, c, root, expected, listed=listed)
    finally:
        await asyncio.to_thread(shutil.rmtree, workdir, True)


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
