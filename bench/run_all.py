"""Run every benchmark and write one table: ``bench/results.md`` (also printed).

Run as ``.venv/bin/python bench/run_all.py [--quick] [--only NAME ...]`` (``make bench``). Each
benchmark script runs in its own process with ``--json FILE`` (and ``--quick`` when given) and
prints its own report as it goes (to stderr here, so stdout carries only the final table). Its
rows are collected into one table: workload | reference (measured in the same run) | bankfeeds |
ratio | goal | verdict, each figure the median over the rounds with its spread (± half the range,
as a share of the median). A benchmark that crashes becomes a row saying so, and the table is
still written. The SFTP benchmark needs root and OpenSSH's sshd, the API one ``wrk``, the
scheduler one PostgreSQL (``TEST_DATABASE_URL``).
"""

from __future__ import annotations

import argparse
import collections
import os
import platform
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make ``bench`` importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import Check, Figure, Row, read_json

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results.md"
#: name -> script, in the order they run (the long SFTP one first, while the machine is fresh).
BENCHMARKS: dict[str, str] = {
    "sftp": "sftp.py",
    "api": "api.py",
    "recon": "recon.py",
    "scheduler": "scheduler.py",
}
COLUMNS = ("workload", "reference (same run)", "bankfeeds", "ratio", "goal", "verdict")


@dataclass(frozen=True)
class Outcome:
    """What one benchmark produced: rows, checks and notes, or the reason it produced none."""

    name: str
    rows: list[Row]
    checks: list[Check]
    notes: list[str]
    seconds: float
    failure: str | None = None


def run_one(name: str, quick: bool, work: Path) -> Outcome:
    """Run one benchmark script in its own process and read back its JSON."""
    out = work / f"{name}.json"
    command = [sys.executable, str(HERE / BENCHMARKS[name]), "--json", str(out)]
    if quick:
        command.append("--quick")
    print(f"\n=== {name}: {' '.join(command[1:])}", file=sys.stderr, flush=True)
    started = time.monotonic()
    # The script's report and progress go to our stderr as it runs (stdout is for the final
    # table); the last line it wrote to stderr says why it failed, if it did.
    last: collections.deque[str] = collections.deque(maxlen=1)
    with subprocess.Popen(
        command, stdout=sys.stderr, stderr=subprocess.PIPE, text=True, errors="replace"
    ) as proc:
        assert proc.stderr is not None
        try:
            for line in proc.stderr:
                sys.stderr.write(line)
                if line.strip():
                    last.append(line.strip())
        except BaseException:
            proc.terminate()  # interrupted: let the benchmark stop what it started
            raise
    seconds = time.monotonic() - started
    if proc.returncode != 0 or not out.exists():
        why = last[0] if last else "no output"
        return Outcome(name, [], [], [], seconds, f"exit {proc.returncode}: {why}")
    rows, checks, notes = read_json(out)
    return Outcome(name, rows, checks, notes, seconds)


def _num(value: float) -> str:
    return f"{value:,.0f}" if abs(value) >= 100 else f"{value:.3g}"


def figure(fig: Figure, unit: str) -> str:
    """A median with its unit and spread, e.g. ``184 MiB/s ±12%``."""
    spread = f" ±{fig.spread:.0%}" if len(fig.values) > 1 else ""
    return f"{_num(fig.median)} {unit}{spread}"


def row_cells(row: Row) -> list[str]:
    """A ratio row's cells."""
    goal = "-"
    if row.goal is not None:
        goal = ("≥ " if row.better == "higher" else "≤ ") + f"{row.goal:g}"
    return [
        row.workload,
        f"{row.reference}: {figure(row.ref, row.unit)}",
        figure(row.ours, row.unit),
        f"{row.ratio:.2f}" if row.ratio >= 0.1 else f"{row.ratio:.2g}",
        goal,
        row.verdict,
    ]


def check_cells(check: Check) -> list[str]:
    """A check row's cells: no reference, no ratio."""
    return [check.workload, "-", check.value, "-", check.goal, "pass" if check.ok else "FAIL"]


def table(outcomes: Sequence[Outcome]) -> str:
    """Every benchmark's rows as one Markdown table."""
    lines: list[list[str]] = [list(COLUMNS)]
    for o in outcomes:
        if o.failure is not None:
            lines.append([f"{o.name}: did not complete", "-", o.failure, "-", "-", "CRASH"])
        lines += [row_cells(r) for r in o.rows]
        lines += [check_cells(c) for c in o.checks]
    # Pipes inside a cell (a crash message) would split it into columns.
    lines = [[c.replace("|", "\\|") for c in line] for line in lines]
    widths = [max(len(line[i]) for line in lines) for i in range(len(COLUMNS))]

    def fmt(cells: Sequence[str]) -> str:
        return "| " + " | ".join(c.ljust(w) for c, w in zip(cells, widths, strict=True)) + " |"

    rule = "|" + "|".join("-" * (w + 2) for w in widths) + "|"
    return "\n".join([fmt(lines[0]), rule, *(fmt(line) for line in lines[1:])])


def cpu_model() -> str:
    """The CPU's model name from /proc/cpuinfo (Linux), else what ``platform`` knows."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def header(quick: bool) -> str:
    """The line saying where and when the figures come from."""
    cores = len(os.sched_getaffinity(0))
    when = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    mode = " (--quick: small sizes, one round; a smoke test, not the goals)" if quick else ""
    return (
        f"{cores} cores ({os.cpu_count()} online), {cpu_model()}, Python "
        f"{platform.python_version()}, {platform.system()} {platform.release()}; {when}{mode}"
    )


def report(outcomes: Sequence[Outcome], quick: bool) -> str:
    """The whole results file: header, table, how to read it, each benchmark's notes."""
    parts = [
        "# Benchmark results",
        "",
        header(quick),
        "",
        "Each figure is the median over the benchmark's rounds, ± half the range as a share of "
        "the median; the reference is measured in the same run, interleaved round by round. "
        "Ratio = bankfeeds / reference; the goal says which way it must go. Written by "
        "`make bench` (`bench/run_all.py`); see `bench/NOTES.md` for what each figure means.",
        "",
        table(outcomes),
        "",
    ]
    for o in outcomes:
        if o.notes:
            parts.append(f"- {o.name} ({o.seconds / 60:.1f} min): " + "; ".join(o.notes))
        else:
            parts.append(f"- {o.name}: {o.seconds / 60:.1f} min")
    return "\n".join(parts) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmarks, print the table, write ``bench/results.md``; 1 if any crashed."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="pass --quick to every benchmark")
    parser.add_argument("--only", nargs="+", choices=list(BENCHMARKS), help="run only these")
    parser.add_argument("--out", type=Path, default=RESULTS, help="where to write the table")
    args = parser.parse_args(argv)
    names = args.only or list(BENCHMARKS)
    with tempfile.TemporaryDirectory(prefix="bankfeeds-bench-") as tmp:
        outcomes = [run_one(name, args.quick, Path(tmp)) for name in names]
    text = report(outcomes, args.quick)
    args.out.write_text(text)
    print(text)
    return 1 if any(o.failure for o in outcomes) else 0


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    sys.exit(main())
