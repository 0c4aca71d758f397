"""Ingesting one cycle date from a bank's HTTP API: fetch every page, verify, store as one file."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from pathlib import Path

from bankfeeds.connectors.sources import http_params
from bankfeeds.core.errors import ChecksumMismatch
from bankfeeds.core.faults import checkpoint
from bankfeeds.ingest.discovery import Candidate
from bankfeeds.ingest.records import Arrived
from bankfeeds.ingest.unpack import rules_for
from bankfeeds.pipeline.tally import Tally, take
from bankfeeds.storage.context import AppContext
from bankfeeds.storage.db.models import Connector, ConnectorRun
from bankfeeds.transports.http.source import open_http
from bankfeeds.transports.sink import DownloadResult


async def ingest_api(
    ctx: AppContext, run: ConnectorRun, connector: Connector, staging: Path, tally: Tally
) -> None:
    """One cycle date from a bank's HTTP API: fetch every page, verify, then store as one file."""
    params = http_params(ctx, connector)
    await asyncio.to_thread(staging.mkdir, parents=True, exist_ok=True)
    tally.discovered = 1

    def progress(done: int) -> None:
        tally.bytes_done["api"] = done

    async with open_http(params) as source:
        delivery = await source.fetch_day(run.cycle_date, staging, progress)
    if delivery.no_data is not None:  # a holiday: a success with no file, as SFTP finding none
        tally.discovered = 0
        tally.no_file = delivery.no_data
        return
    tally.bytes_expected = delivery.size
    tally.bytes_done["api"] = sum(page.size for page in delivery.pages)
    checkpoint("after-download")
    c = Candidate(
        name=delivery.name,
        path=(delivery.pages[0].url if delivery.pages else delivery.name)[:1024],
        size=delivery.size,
        mtime=int(ctx.clock().timestamp()),
        sidecar_path=None,
    )
    if mismatches := delivery.checksum_mismatches:  # the first bad page quarantines the day
        page = mismatches[0]
        problem = ChecksumMismatch(
            f"{delivery.name}: page {page.url} has SHA-256 {page.sha256[:12]}… but the bank "
            f"says {(page.expected_sha256 or '')[:12]}…."
        )
        page_c = replace(c, path=page.url[:1024], size=page.size)
        arrived = Arrived(
            page_c, page.path, DownloadResult(page.sha256, page.size), problem=problem
        )
    else:
        # The bank's checksum covers the stored bytes only when one page was stored as it came.
        only = delivery.pages[0] if len(delivery.pages) == 1 else None
        expected = only.expected_sha256 if only and only.sha256 == delivery.sha256 else None
        result = DownloadResult(delivery.sha256, delivery.size)
        arrived = Arrived(c, delivery.path, result, expected)
    # An API response has no listing to remember.
    await take(ctx, run, connector, arrived, tally, rules_for(ctx, connector), listed=False)
