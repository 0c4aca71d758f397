"""Helpers every benchmark shares: medians with their spread, the results table, the machine.

Each benchmark measures bankfeeds and its reference in the same run, interleaved round by round,
so a noisy neighbour on this shared machine slows both alike; figures are medians of the rounds.
"""

from __future__ import annotations

import json
import os
import platform
import statistics
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal


@dataclass(frozen=True)
class Figure:
    """Several measurements of one thing; ``median`` and ``spread`` summarise them."""

    values: tuple[float, ...]

    @property
    def median(self) -> float:
        """The median measurement."""
        return statistics.median(self.values)

    @property
    def spread(self) -> float:
        """Half the range as a fraction of the median (0.1 means ±10 %); 0 for one value."""
        if len(self.values) < 2 or self.median == 0:
            return 0.0
        return (max(self.values) - min(self.values)) / 2 / self.median


@dataclass
class Samples:
    """Measurements collected per contender across interleaved rounds."""

    by_name: dict[str, list[float]] = field(default_factory=dict)

    def add(self, name: str, value: float) -> None:
        """Record one measurement of ``name``."""
        self.by_name.setdefault(name, []).append(value)

    def figure(self, name: str) -> Figure:
        """Every measurement of ``name`` so far."""
        return Figure(tuple(self.by_name[name]))


@dataclass(frozen=True)
class Row:
    """One line of the results table: a workload, its reference, ours, and the goal."""

    workload: str
    reference: str
    unit: str
    ref: Figure
    ours: Figure
    goal: float | None
    #: ``higher``: ratio = ours / reference must reach the goal (throughput);
    #: ``lower``: ratio = ours / reference must stay under it (time).
    better: Literal["higher", "lower"] = "higher"

    @property
    def ratio(self) -> float:
        """Ours over the reference, from the medians."""
        return self.ours.median / self.ref.median if self.ref.median else float("inf")

    @property
    def verdict(self) -> str:
        """pass, FAIL, or a dash for rows that only inform."""
        if self.goal is None:
            return "-"
        ok = self.ratio >= self.goal if self.better == "higher" else self.ratio <= self.goal
        return "pass" if ok else "FAIL"

    def cells(self) -> list[str]:
        """The row's cells as printed."""
        goal = "-" if self.goal is None else ("≥ " if self.better == "higher" else "≤ ")
        if self.goal is not None:
            goal += f"{self.goal:g}"
        return [
            self.workload,
            f"{self.reference}: {_num(self.ref.median)} {self.unit}",
            f"{_num(self.ours.median)} {self.unit}",
            f"{self.ratio:.2f}",
            goal,
            self.verdict,
            f"±{self.ref.spread:.0%} / ±{self.ours.spread:.0%}",
        ]


@dataclass(frozen=True)
class Check:
    """A result with no reference to divide by: a count that must be exact, a bound that holds."""

    workload: str
    value: str
    goal: str
    ok: bool


def write_json(
    path: Path, rows: Sequence[Row], checks: Sequence[Check] = (), notes: Sequence[str] = ()
) -> None:
    """Save a benchmark's rows, checks and notes for ``bench/run_all.py`` to collect."""
    doc: dict[str, Any] = {
        "rows": [asdict(r) for r in rows],
        "checks": [asdict(c) for c in checks],
        "notes": list(notes),
    }
    path.write_text(json.dumps(doc, indent=1))


def read_json(path: Path) -> tuple[list[Row], list[Check], list[str]]:
    """What :func:`write_json` saved."""
    doc = json.loads(path.read_text())
    rows = [
        Row(**{**r, "ref": Figure(tuple(r["ref"]["values"])),
               "ours": Figure(tuple(r["ours"]["values"]))})
        for r in doc["rows"]
    ]  # fmt: skip
    return rows, [Check(**c) for c in doc["checks"]], list(doc["notes"])


def _num(value: float) -> str:
    return f"{value:,.0f}" if value >= 100 else f"{value:.3g}"


HEADER = ["workload", "reference", "bankfeeds", "ratio", "goal", "result", "spread (ref / ours)"]


def markdown_table(rows: Sequence[Row]) -> str:
    """The rows as a Markdown table (readable as plain text too)."""
    lines = [HEADER, *(r.cells() for r in rows)]
    widths = [max(len(line[i]) for line in lines) for i in range(len(HEADER))]

    def fmt(cells: Sequence[str]) -> str:
        return "| " + " | ".join(c.ljust(w) for c, w in zip(cells, widths, strict=True)) + " |"

    rule = "|" + "|".join("-" * (w + 2) for w in widths) + "|"
    return "\n".join([fmt(lines[0]), rule, *(fmt(line) for line in lines[1:])])


def machine() -> str:
    """One line about the machine the figures come from: cores usable, CPU, Python."""
    usable = len(os.sched_getaffinity(0))
    return (
        f"{usable} usable cores ({os.cpu_count()} online), {platform.processor() or 'cpu'}, "
        f"Python {platform.python_version()}, {platform.system()} {platform.release()}"
    )


@contextmanager
def stopwatch() -> Iterator[Callable[[], float]]:
    """Time a block; the yielded function returns the seconds elapsed (final after the block)."""
    start = time.perf_counter()
    end: list[float] = []
    yield lambda: (end[0] if end else time.perf_counter()) - start
    end.append(time.perf_counter())
