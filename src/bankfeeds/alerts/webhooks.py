"""Posting alerts to webhooks over HTTP; httpx errors become ``WebhookFailed``."""

from __future__ import annotations

import asyncio
import hashlib
from typing import Any
from urllib.parse import urlsplit

import httpx

from bankfeeds.core.errors import WebhookFailed

TIMEOUT_SECONDS = 5.0


def redact(url: str) -> str:
    """The scheme and host of ``url``: its path may hold a token (Slack's do)."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc.rpartition('@')[2]}"


def fingerprint(url: str) -> str:
    """A stable, non-secret name for a webhook URL, to record who already has an alert."""
    return hashlib.sha256(url.encode()).hexdigest()[:16]


def client(timeout: float = TIMEOUT_SECONDS) -> httpx.AsyncClient:
    """An HTTP client for webhooks with a bound on every phase of a request."""
    return httpx.AsyncClient(timeout=httpx.Timeout(timeout), follow_redirects=False)


async def post(
    http: httpx.AsyncClient, url: str, body: dict[str, Any], *, seconds: float = TIMEOUT_SECONDS
) -> None:
    """POST ``body`` as JSON to ``url``; any answer but 2xx raises ``WebhookFailed``."""
    where = redact(url)
    try:
        # httpx bounds each phase; this bounds the whole exchange (a slow trickle included).
        async with asyncio.timeout(seconds):
            response = await http.post(url, json=body)
    except TimeoutError as exc:
        raise WebhookFailed(f"{where} did not answer within {seconds:g} s.") from exc
    except httpx.HTTPError as exc:
        raise WebhookFailed(f"{where} could not be reached: {type(exc).__name__}.") from exc
    if not 200 <= response.status_code < 300:
        raise WebhookFailed(f"{where} answered HTTP {response.status_code}.")
