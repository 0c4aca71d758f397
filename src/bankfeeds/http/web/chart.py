"""A server-rendered SVG bar chart of a recon job's outcomes (no JavaScript, no library)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

COLOURS = {
    "MATCHED": "#1f8a4c",
    "MATCHED_WITHIN_TOLERANCE": "#5fb57f",
    "MISSING_IN_BANK": "#c0392b",
    "MISSING_IN_PG": "#d35400",
    "AMOUNT_MISMATCH": "#b9770e",
    "FEE_MISMATCH": "#ca8a04",
}
DEFAULT_COLOUR = "#6b7280"
BAR_HEIGHT, GAP, LABEL_WIDTH, WIDTH = 22, 8, 220, 640


@dataclass(frozen=True, slots=True)
class Bar:
    """One outcome's bar: label, count, geometry and colour."""

    label: str
    count: int
    y: int
    width: int
    colour: str


@dataclass(frozen=True, slots=True)
class Chart:
    """The bars and the SVG's height."""

    bars: list[Bar]
    height: int
    label_width: int = LABEL_WIDTH
    width: int = WIDTH


def outcome_bars(job: dict[str, Any]) -> Chart:
    """Bars scaled to the largest outcome count."""
    outcomes: dict[str, dict[str, int]] = job.get("outcomes") or {}
    largest = max((o["count"] for o in outcomes.values()), default=0) or 1
    room = WIDTH - LABEL_WIDTH - 60
    bars = [
        Bar(
            label=name,
            count=o["count"],
            y=i * (BAR_HEIGHT + GAP),
            width=max(1, round(room * o["count"] / largest)) if o["count"] else 0,
            colour=COLOURS.get(name, DEFAULT_COLOUR),
        )
        for i, (name, o) in enumerate(outcomes.items())
    ]
    return Chart(bars=bars, height=max(1, len(bars)) * (BAR_HEIGHT + GAP))
