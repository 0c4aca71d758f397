"""A connection test that always reports the server's host-key fingerprint, for trusting it.

``operations.test_connection`` reports the fingerprint when it logged in; when the key itself was
refused (untrusted or changed) it knows only the message, so the key is read again without
logging in, which is what an operator needs to compare it and press "Trust this key".
"""

from __future__ import annotations

import contextlib
from typing import Any

from bankfeeds.adapters.sftp import probe_fingerprint
from bankfeeds.errors import SourceError
from bankfeeds.services import connector_views, operations
from bankfeeds.services.context import AppContext


async def check(*, ctx: AppContext, connector_id: str) -> dict[str, Any]:
    """Test the connection; on a refused host key, add the key's fingerprint to the details."""
    result = await operations.test_connection(ctx=ctx, connector_id=connector_id)
    details = result["details"]
    if result["success"] or details.get("hostKeyFingerprint") or not details.get("connected"):
        return result
    view = await connector_views.get_connector(ctx=ctx, connector_id=connector_id)
    config = view["config"]
    # If even the probe fails, the test's own message already says what went wrong.
    with contextlib.suppress(SourceError):
        details["hostKeyFingerprint"] = await probe_fingerprint(
            str(config["host"]), int(config.get("port", 22))
        )
    return result
