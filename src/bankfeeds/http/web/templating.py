"""The Jinja2 environment: templates, and filters for times, sizes, rates and money."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from fastapi.templating import Jinja2Templates
from starlette.requests import Request
from starlette.responses import HTMLResponse

from bankfeeds.core.money import format_optional_paise

HERE = Path(__file__).parent
templates = Jinja2Templates(directory=HERE / "templates")


def _as_datetime(value: datetime | str | None) -> datetime | None:
    if value is None or value == "":
        return None
    return datetime.fromisoformat(value) if isinstance(value, str) else value


def reltime(value: datetime | str | None, now: datetime | None = None) -> str:
    """'5 min ago' / 'in 3 h' / 'never'."""
    at = _as_datetime(value)
    if at is None:
        return "never"
    seconds = ((now or datetime.now(UTC)) - at).total_seconds()
    future, seconds = seconds < 0, abs(seconds)
    for size, unit in ((86400, "d"), (3600, "h"), (60, "min")):
        if seconds >= size:
            amount = f"{int(seconds // size)} {unit}"
            break
    else:
        return "just now" if not future else "in under a minute"
    return f"in {amount}" if future else f"{amount} ago"


def exact(value: datetime | str | None, tz: str = "UTC") -> str:
    """An exact local time with its zone, for hovers and tables."""
    at = _as_datetime(value)
    if at is None:
        return ""
    return at.astimezone(ZoneInfo(tz)).strftime("%Y-%m-%d %H:%M:%S %Z")


def filesize(value: int | None) -> str:
    """Bytes in the largest unit that keeps a number of at least 1."""
    size = float(value or 0)
    for unit in ("B", "KB", "MB", "GB"):
        if size < 1024 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{size:.1f} GB"


def percent(value: float | None) -> str:
    """0.953 → '95%'; None → '—'."""
    return "—" if value is None else f"{value:.0%}"


def duration(ms: int | None) -> str:
    """Milliseconds as '850 ms', '12.3 s' or '4 min 5 s'."""
    if ms is None:
        return "—"
    if ms < 1000:
        return f"{ms} ms"
    if ms < 60_000:
        return f"{ms / 1000:.1f} s"
    return f"{ms // 60_000} min {ms % 60_000 // 1000} s"


def rupees(paise: int | None) -> str:
    """Paise as rupees in Indian grouping ('₹1,23,971.00'), '—' for no amount."""
    return format_optional_paise(paise)


def iso_day(value: date | str | None) -> str:
    """A date as YYYY-MM-DD."""
    return value.isoformat() if isinstance(value, date) else (value or "")


templates.env.filters.update(
    reltime=reltime,
    exact=exact,
    filesize=filesize,
    percent=percent,
    duration=duration,
    rupees=rupees,
    iso_day=iso_day,
)


def render(request: Request, name: str, status: int = 200, **context: Any) -> HTMLResponse:
    """Render ``name`` with the request's user and CSRF token in the context."""
    context.setdefault("user", getattr(request.state, "ui_user", None))
    context.setdefault("now", datetime.now(UTC))
    return templates.TemplateResponse(request, name, context, status_code=status)
