"""Prometheus metrics read from the database at scrape time.

Every figure comes from the tables, not from in-process counters, so it is the same whichever of
several workers is scraped and survives restarts. prometheus-client collectors are synchronous,
so :func:`snapshot` reads the database asynchronously (a constant number of queries, however many
connectors there are) and :class:`SnapshotCollector` only turns that snapshot into metrics.
:class:`MetricsExporter` renders at most once every few seconds, however many scrapes arrive.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector
from sqlalchemy import case, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from bankfeeds.core.ids import public_id
from bankfeeds.days.due import BACKLOG_HORIZON, expected_dates
from bankfeeds.storage.context import AppContext
from bankfeeds.storage.db.models import (
    AlertEvent,
    Connector,
    ConnectorRun,
    IngestedFile,
    ReconException,
)

#: How long one rendering answers every scrape (seconds): Prometheus scrapes every 15 s or more.
CACHE_SECONDS = 5.0
#: Upper bounds (seconds) of the run-duration histogram's buckets.
DURATION_BUCKETS = (1.0, 5.0, 15.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0, 3600.0)
FINISHED = ("SUCCESS", "PARTIAL", "FAILED", "CANCELLED")
FILE_OUTCOMES = ("downloaded", "skipped", "quarantined", "failed")


@dataclass(frozen=True, slots=True)
class DurationHistogram:
    """Cumulative bucket counts (aligned with ``DURATION_BUCKETS``), count and sum of one label."""

    buckets: tuple[int, ...]
    count: int
    sum_seconds: float


@dataclass
class MetricsSnapshot:
    """Everything one scrape reports, read from the database in one go."""

    connectors: list[tuple[str, str, str, str]] = field(default_factory=list)  # id, name, prov, st
    runs: dict[tuple[str, str], int] = field(default_factory=dict)  # (connector, outcome)
    files: dict[tuple[str, str], int] = field(default_factory=dict)  # (connector, outcome)
    bytes_downloaded: dict[str, int] = field(default_factory=dict)
    last_success: dict[str, datetime] = field(default_factory=dict)
    durations: dict[str, DurationHistogram] = field(default_factory=dict)  # by provider
    backlog: dict[str, int] = field(default_factory=dict)
    queued: int = 0
    running: int = 0
    open_exceptions: dict[str, int] = field(default_factory=dict)
    alerts: dict[str, int] = field(default_factory=dict)  # pending | delivered | failed


async def snapshot(*, ctx: AppContext) -> MetricsSnapshot:
    """Read every metric's current value from the database."""
    snap = MetricsSnapshot()
    now = ctx.clock()
    async with ctx.sessions() as session:
        live = await _connectors(session, snap)
        await _runs(session, snap)
        await _durations(session, snap)
        await _backlog(session, ctx, snap, live, now)
        await _exceptions_and_alerts(session, snap)
    return snap


async def _connectors(session: AsyncSession, snap: MetricsSnapshot) -> list[Connector]:
    rows = list(
        (
            await session.scalars(
                select(Connector).where(Connector.deleted_at.is_(None)).order_by(Connector.id)
            )
        ).all()
    )
    snap.connectors = [(public_id("connector", r.id), r.name, r.provider, r.status) for r in rows]
    return rows


async def _runs(session: AsyncSession, snap: MetricsSnapshot) -> None:
    r = ConnectorRun
    rows = await session.execute(
        select(
            r.connector_id,
            r.status,
            func.count(),
            func.coalesce(func.sum(r.files_downloaded), 0),
            func.coalesce(func.sum(r.files_skipped), 0),
            func.coalesce(func.sum(r.files_quarantined), 0),
            func.coalesce(func.sum(r.files_failed), 0),
            func.coalesce(func.sum(r.bytes_downloaded), 0),
            func.max(r.finished_at),
        ).group_by(r.connector_id, r.status)
    )
    for pk, status, count, *files, total_bytes, last_finished in rows:
        cid = public_id("connector", pk)
        if status == "QUEUED":
            snap.queued += count
        elif status == "RUNNING":
            snap.running += count
        if status not in FINISHED:
            continue  # counters only count finished runs, so they never go down
        snap.runs[(cid, status)] = count
        for outcome, n in zip(FILE_OUTCOMES, files, strict=True):
            snap.files[(cid, outcome)] = snap.files.get((cid, outcome), 0) + int(n)
        snap.bytes_downloaded[cid] = snap.bytes_downloaded.get(cid, 0) + int(total_bytes)
        if status == "SUCCESS" and last_finished is not None:
            snap.last_success[cid] = last_finished


async def _durations(session: AsyncSession, snap: MetricsSnapshot) -> None:
    r = ConnectorRun
    bucket_columns = [
        func.sum(case((r.duration_ms <= int(bound * 1000), 1), else_=0))
        for bound in DURATION_BUCKETS
    ]
    rows = await session.execute(
        select(Connector.provider, func.count(), func.sum(r.duration_ms), *bucket_columns)
        .join(Connector, Connector.id == r.connector_id)
        .where(r.status.in_(FINISHED), r.duration_ms.is_not(None))
        .group_by(Connector.provider)
    )
    for provider, count, total_ms, *buckets in rows:
        snap.durations[provider] = DurationHistogram(
            buckets=tuple(int(b or 0) for b in buckets),
            count=int(count),
            sum_seconds=int(total_ms or 0) / 1000,
        )


async def _backlog(
    session: AsyncSession,
    ctx: AppContext,
    snap: MetricsSnapshot,
    live: list[Connector],
    now: datetime,
) -> None:
    """Backlog as ``health_of`` computes it, with one query for every connector's files."""
    since = now - BACKLOG_HORIZON
    active = [row for row in live if row.status == "ACTIVE"]
    if not active:
        return
    rows = await session.execute(
        select(IngestedFile.connector_id, IngestedFile.cycle_date)
        .where(IngestedFile.status.not_in(("QUARANTINED", "ERROR")))
        # Expected dates start at most a couple of days before the horizon.
        .where(IngestedFile.cycle_date >= (since - timedelta(days=3)).date())
        .distinct()
    )
    received: dict[int, set[date]] = {}
    for pk, cycle_date in rows:
        received.setdefault(pk, set()).add(cycle_date)
    for row in active:
        expected = expected_dates(ctx, row, max(row.created_at, since), now)
        missing = set(expected) - received.get(row.id, set())
        snap.backlog[public_id("connector", row.id)] = len(missing)


async def _exceptions_and_alerts(session: AsyncSession, snap: MetricsSnapshot) -> None:
    rows = await session.execute(
        select(ReconException.kind, func.count())
        .where(ReconException.state == "OPEN")
        .group_by(ReconException.kind)
    )
    snap.open_exceptions = {kind: int(n) for kind, n in rows}
    state = case(
        (AlertEvent.delivered_at.is_not(None), "delivered"),
        (AlertEvent.next_attempt_at.is_(None), "failed"),
        else_="pending",
    )
    rows = await session.execute(select(state, func.count()).group_by(state))
    snap.alerts = {"pending": 0, "delivered": 0, "failed": 0} | {s: int(n) for s, n in rows}


class SnapshotCollector(Collector):
    """Turns the latest :class:`MetricsSnapshot` into Prometheus metric families."""

    def __init__(self) -> None:
        self.snapshot = MetricsSnapshot()

    def collect(self) -> Iterator[Metric]:
        """Yield every metric family of the current snapshot."""
        snap = self.snapshot
        info = GaugeMetricFamily(
            "bankfeeds_connector_info",
            "Connectors that exist, with their name, provider and status.",
            labels=["connector", "name", "provider", "status"],
        )
        for values in snap.connectors:
            info.add_metric(list(values), 1)
        yield info
        yield _counter(
            "bankfeeds_runs", "Finished runs by outcome.", ["outcome"], snap.runs.items()
        )
        yield _counter(
            "bankfeeds_files", "Files handled by runs, by outcome.", ["outcome"], snap.files.items()
        )
        yield _counter(
            "bankfeeds_downloaded_bytes",
            "Bytes downloaded by finished runs.",
            [],
            [((cid,), n) for cid, n in snap.bytes_downloaded.items()],
        )
        yield self._durations()
        last = GaugeMetricFamily(
            "bankfeeds_last_success_timestamp_seconds",
            "When the connector's latest successful run finished (Unix time).",
            labels=["connector"],
        )
        for cid, at in snap.last_success.items():
            last.add_metric([cid], at.timestamp())
        yield last
        yield _gauge(
            "bankfeeds_backlog_days",
            "Expected cycle dates with no file.",
            "connector",
            snap.backlog,
        )
        yield GaugeMetricFamily("bankfeeds_queue_depth", "Runs waiting (QUEUED).", snap.queued)
        yield GaugeMetricFamily("bankfeeds_runs_running", "Runs in progress.", snap.running)
        yield _gauge(
            "bankfeeds_open_exceptions", "Open exceptions by kind.", "kind", snap.open_exceptions
        )
        yield _gauge("bankfeeds_alerts", "Alerts in the outbox by state.", "state", snap.alerts)

    def _durations(self) -> HistogramMetricFamily:
        family = HistogramMetricFamily(
            "bankfeeds_run_duration_seconds",
            "How long finished runs took, by provider.",
            labels=["provider"],
        )
        for provider, hist in sorted(self.snapshot.durations.items()):
            bounds = [repr(b) for b in DURATION_BUCKETS] + ["+Inf"]
            counts = [*hist.buckets, hist.count]
            family.add_metric(
                [provider],
                buckets=list(zip(bounds, [float(c) for c in counts], strict=True)),
                sum_value=hist.sum_seconds,
            )
        return family


def _counter(
    name: str, doc: str, labels: list[str], values: Iterable[tuple[tuple[str, ...], int]]
) -> CounterMetricFamily:
    family = CounterMetricFamily(name, doc, labels=["connector", *labels])
    for key, value in sorted(values):
        family.add_metric(list(key), value)
    return family


def _gauge(name: str, doc: str, label: str, values: dict[str, int]) -> GaugeMetricFamily:
    family = GaugeMetricFamily(name, doc, labels=[label])
    for key, value in sorted(values.items()):
        family.add_metric([key], value)
    return family


class MetricsExporter:
    """One app's registry (never the global one), rendered at most every ``max_age`` seconds."""

    def __init__(
        self, *, max_age: float = CACHE_SECONDS, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.registry = CollectorRegistry(auto_describe=False)
        self.collector = SnapshotCollector()
        self.registry.register(self.collector)
        self._max_age = max_age
        self._clock = clock
        # Concurrent scrapes queue here and reuse the first one's reading instead of each
        # running the queries (50 at once used to slow every other request down).
        self._lock = asyncio.Lock()
        self._body: bytes | None = None
        self._rendered_at = 0.0

    async def render(self, ctx: AppContext) -> bytes:
        """The Prometheus text exposition, read from the database when the last one is stale."""
        async with self._lock:
            if self._body is None or self._clock() - self._rendered_at >= self._max_age:
                self.collector.snapshot = await snapshot(ctx=ctx)
                self._body = generate_latest(self.registry)
                self._rendered_at = self._clock()
            return self._body
