"""What the fault scenarios share: bank files, an AXIS connector, and one run carried to its end."""

from __future__ import annotations

import hashlib
import random
from typing import Any

from sqlalchemy import func, select

from bankfeeds.storage.context import AppContext
from tests.support.pipeline import DAY, finish, make_connector, publish, run_once, start

__all__ = [
    "DAY",
    "NAME",
    "axis_csv",
    "count",
    "finish",
    "make_connector",
    "outcomes",
    "publish",
    "run_once",
    "sha",
    "start",
]

NAME = "AXIS_RECON_20250110.csv"
HEADER = "TXNID,CREDIT_AMT,NET_CR_AMT,VALUE_DATE,UTR,RRN,AUTH,POST_DATE,BANK,STATUS,REMARKS\n"


def sha(data: bytes) -> str:
    """The SHA-256 hex of ``data``."""
    return hashlib.sha256(data).hexdigest()


def axis_csv(size: int, seed: int) -> bytes:
    """A well-formed AXIS settlement file of about ``size`` bytes, distinct for each seed."""
    rng = random.Random(seed)
    lines = [HEADER]
    total, i = len(HEADER), 0
    while total < size:
        i += 1
        rupees = rng.randrange(100, 10_000_000)
        line = (
            f"S{seed}T{i:07d},{rupees / 100:.2f},{rupees * 0.995 / 100:.2f},2025-01-10,"
            f"UTIB{rng.randrange(10**11, 10**12)},{rng.randrange(10**11, 10**12)},A{i},"
            f"2025-01-10,AXIS,SUCCESS,{rng.getrandbits(64):016x}\n"
        )
        lines.append(line)
        total += len(line)
    return "".join(lines).encode()


async def count(ctx: AppContext, model: Any, *where: Any) -> int:
    """Rows of ``model`` matching ``where``."""
    async with ctx.sessions() as session:
        return int(await session.scalar(select(func.count()).select_from(model).where(*where)) or 0)


def outcomes(run: dict[str, Any]) -> dict[str, str]:
    """Each remote file's outcome in a run view, by name."""
    return {f["name"]: f["outcome"] for f in run["files"]}
