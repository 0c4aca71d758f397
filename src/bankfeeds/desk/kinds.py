"""The kinds of exception the desk queues that are about a file or a day, and which ones page."""

from __future__ import annotations

#: Kinds about a file or a day rather than a row: in the order an ops person meets them.
FILE_KINDS: tuple[str, ...] = (
    "FILE_MISSING", "STALE_FILE", "CHECKSUM_MISMATCH", "PARSE_ERROR", "RUN_FAILED",
    "UNKNOWN_BANK", "COUNTERPART_MISSING",
)  # fmt: skip
#: Exception kinds that also page someone through the alert webhooks.
ALERTED = frozenset(
    {
        "FILE_MISSING",
        "CHECKSUM_MISMATCH",
        "RUN_FAILED",
        "STALE_FILE",
        "UNKNOWN_BANK",
        "COUNTERPART_MISSING",
    }
)
