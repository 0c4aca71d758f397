"""Property: any CSV-ish bytes through a built-in layout give rows and bad rows, or a ParseError.

The generated files are near misses of real ones (the layout's header, plausible fields) mixed
with what breaks parsers: quotes, delimiters, NUL, lone CRs, BOMs, invalid UTF-8, ragged rows.
"""

from __future__ import annotations

from datetime import date

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bankfeeds.connectors.layouts import LAYOUTS, Layout
from bankfeeds.core.errors import ParseError
from bankfeeds.normalise.rules import normalise

DAY = date(2025, 1, 10)

_PLAUSIBLE = [
    "T1", "UTR123", "RRN9", "100.00", "1,18,000.50", "-5", "2025-01-10", "10-01-2025",
    "2025-01-10 10:00:00", "SUCCESS", "FAILED", "CR", "DR", "NA", "", " ", "118000",
]  # fmt: skip
_NASTY = ['"', '""', '"a,b"', '"open', "\x00", "\r", "\ufeff", "é", "\t", "|", ",", "-"]


def _field() -> st.SearchStrategy[str]:
    return st.one_of(
        st.sampled_from(_PLAUSIBLE),
        st.sampled_from(_NASTY),
        st.text(max_size=6),
        st.builds("".join, st.lists(st.sampled_from(_PLAUSIBLE + _NASTY), max_size=3)),
    )


@st.composite
def csvish(draw: st.DrawFn, layout: Layout) -> bytes:
    """A file for ``layout``: maybe its header, then rows of plausible and nasty fields."""
    width = len(layout.header)
    header = list(layout.header)
    if draw(st.booleans()):
        header = draw(st.permutations(header))[: draw(st.integers(0, width + 1))]
    lines = [[""] * layout.header_row, [layout.delimiter.join(header)]]
    rows = draw(
        st.lists(
            st.lists(_field(), min_size=max(width - 2, 0), max_size=width + 2),
            max_size=8,
        )
    )
    lines.append([layout.delimiter.join(row) for row in rows])
    flat = [line for group in lines for line in group]
    if draw(st.booleans()):
        flat.insert(draw(st.integers(0, len(flat))), layout.delimiter * draw(st.integers(1, 500)))
    ending = draw(st.sampled_from(["\n", "\r\n", "\r"]))
    text = ending.join(flat) + draw(st.sampled_from(["", ending]))
    data = text.encode()
    if draw(st.booleans()):
        data = b"\xef\xbb\xbf" + data
    if draw(st.integers(0, 9)) == 0:  # sometimes not UTF-8 at all
        at = draw(st.integers(0, len(data)))
        data = data[:at] + draw(st.sampled_from([b"\xff", b"\xc3", b"\xed\xa0\x80"])) + data[at:]
    return data


def _physical_lines(data: bytes) -> int:
    """Lines as the reader counts them: LF (or CRLF) endings, or CR alone when there is no LF."""
    if b"\n" in data:
        return data.count(b"\n") + 1
    return data.count(b"\r") + 1


@pytest.mark.parametrize("provider", ["AXIS", "ICICI"])
def test_normalise_only_ever_raises_parse_error(provider: str) -> None:
    layout = LAYOUTS[provider]

    @settings(
        max_examples=100,
        derandomize=True,
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
    @given(csvish(layout))
    def check(data: bytes) -> None:
        try:
            result = normalise(data, layout, side="BANK", source_file_id=1, cycle_date=DAY)
        except ParseError:  # a sentence about the whole file is an allowed outcome
            return
        lines = _physical_lines(data)
        bad = [b.line for b in result.bad_rows]
        good = result.rows["source_row"].to_list()
        assert all(layout.header_row + 2 <= line <= lines for line in bad + good), (bad, good)
        assert len(set(bad + good)) == len(bad) + len(good)  # no line counted twice
        assert all(b.reason for b in result.bad_rows)
        assert result.summary.rows == len(good)
        assert result.summary.bad_rows == len(bad)

    check()
