"""Spreadsheet cells become the text a bank's CSV export of the same sheet would hold."""

from __future__ import annotations

from datetime import date, datetime

import pytest

from bankfeeds.normalise.tabular import _cell_text


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (3540.2999999999997, "3540.3"),  # Excel keeps 17 digits of a computed value, shows 15
        (0.1 + 0.2, "0.3"),
        (12.345, "12.345"),  # a real third decimal stays, for the amount parser to refuse
        (100.0, "100"),
        (7, "7"),
        (None, None),
        (date(2025, 1, 10), "2025-01-10"),
        (datetime(2025, 1, 10, 9, 30), "2025-01-10 09:30:00"),
    ],
)
def test_cell_text(value: object, text: str | None) -> None:
    assert _cell_text(value) == text
