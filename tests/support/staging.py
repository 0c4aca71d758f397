"""Staged files for object-store tests: bytes written where the pipeline would stage them."""

from __future__ import annotations

import hashlib
from pathlib import Path

CONTENT = b"TXNID,CREDIT_AMT,NET_CR_AMT\nT1,100.00,99.50\n"


def stage(tmp_path: Path, data: bytes, name: str = "staged.csv") -> tuple[Path, str]:
    """Write ``data`` to ``tmp_path/staging/name``; return the path and its SHA-256 hex."""
    path = tmp_path / "staging" / name
    path.parent.mkdir(exist_ok=True)
    path.write_bytes(data)
    return path, hashlib.sha256(data).hexdigest()
