"""The one way bankfeeds shows an amount of paise to people: rupees in Indian digit grouping.

Indian grouping keeps the last three digits of the rupees together and groups the rest in twos
(lakh, crore): 123971 rupees is ``₹1,23,971.00``, 1 crore is ``₹1,00,00,000.00``. A negative amount
puts the sign before the symbol (``-₹1,000.78``). Amounts are integers of paise, so the two
decimals are exact.
"""

from __future__ import annotations


def group_indian(digits: str) -> str:
    """A string of digits with Indian separators: '12345678' → '1,23,45,678'."""
    if len(digits) <= 3:
        return digits
    head, tail = digits[:-3], digits[-3:]
    # Pairs are counted from the right, so a head of odd length starts with a single digit.
    lead = len(head) % 2
    groups = ([head[:lead]] if lead else []) + [head[i : i + 2] for i in range(lead, len(head), 2)]
    return ",".join([*groups, tail])


def format_paise(paise: int) -> str:
    """Paise as rupees for people: 12397100 → '₹1,23,971.00', -100078 → '-₹1,000.78'."""
    sign = "-" if paise < 0 else ""
    rupees, rest = divmod(abs(paise), 100)
    return f"{sign}₹{group_indian(str(rupees))}.{rest:02d}"


def format_optional_paise(paise: int | None, missing: str = "—") -> str:
    """Like :func:`format_paise`, with ``missing`` for an amount a row does not have."""
    return missing if paise is None else format_paise(paise)
