"""Money shown to people: paise as rupees in Indian digit grouping, through one formatter."""

from __future__ import annotations

import pytest

from bankfeeds.core.money import format_optional_paise, format_paise, group_indian
from bankfeeds.http.web.templating import rupees


@pytest.mark.parametrize(
    ("paise", "shown"),
    [
        (0, "₹0.00"),
        (5, "₹0.05"),
        (99, "₹0.99"),
        (100, "₹1.00"),
        (100_078, "₹1,000.78"),
        (12_397_100, "₹1,23,971.00"),
        (123_456_789, "₹12,34,567.89"),
        (1_00_00_000_00, "₹1,00,00,000.00"),  # 1 crore
        (12_34_56_789_01, "₹12,34,56,789.01"),
        (1_00_00_00_000_00, "₹1,00,00,00,000.00"),  # 100 crore
        (-5, "-₹0.05"),
        (-100_078, "-₹1,000.78"),
        (-12_397_100, "-₹1,23,971.00"),
    ],
)
def test_format_paise(paise: int, shown: str) -> None:
    assert format_paise(paise) == shown


@pytest.mark.parametrize(
    ("digits", "grouped"),
    [("", ""), ("7", "7"), ("999", "999"), ("1000", "1,000"), ("100000", "1,00,000"),
     ("1234567", "12,34,567"), ("12345678", "1,23,45,678")],
)  # fmt: skip
def test_group_indian(digits: str, grouped: str) -> None:
    assert group_indian(digits) == grouped


def test_a_missing_amount_and_the_template_filter() -> None:
    assert format_optional_paise(None) == "—"
    assert format_optional_paise(None, missing="-") == "-"
    assert format_optional_paise(12_397_100) == "₹1,23,971.00"
    assert rupees(12_397_100) == "₹1,23,971.00"
    assert rupees(-100_078) == "-₹1,000.78"
    assert rupees(None) == "—"
