"""Text checks every input path shares."""

from __future__ import annotations

import re
from typing import Final

_CONTROL: Final = re.compile(r"[\x00-\x1f\x7f]")


def has_control_char(text: str) -> bool:
    """Whether ``text`` holds a C0 control character or DEL (NUL, CR, LF, ...)."""
    # One regex scan in C: a re-run checks every name of a 20,000-entry listing.
    return _CONTROL.search(text) is not None
