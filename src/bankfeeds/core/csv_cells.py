"""CSV files people open in a spreadsheet: text it would run as a formula is quoted first.

Every CSV export goes through :func:`escape_formulas`; the bank-file data the normaliser reads
does not (it must stay as the bank sent it).
"""

from __future__ import annotations

from typing import Final

import polars as pl

#: First characters that make a spreadsheet treat a cell as a formula.
FORMULA_START: Final = r"^[=+\-@\t\r]"


def escape_formulas(frame: pl.DataFrame) -> pl.DataFrame:
    """Prefix text cells a spreadsheet would run as a formula with a quote (numbers untouched)."""
    # One vectorised pass per text column: results exports run to millions of rows.
    text = [c for c, t in frame.schema.items() if t == pl.String]
    return frame.with_columns(
        pl.when(pl.col(c).str.contains(FORMULA_START))
        .then("'" + pl.col(c))
        .otherwise(pl.col(c))
        .alias(c)
        for c in text
    )
