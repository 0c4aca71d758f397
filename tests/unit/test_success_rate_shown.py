"""One success rate: the card, the history dialog and the API show the same number and window."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

from bankfeeds.http.web.templating import templates
from bankfeeds.monitoring.health import HEALTH_RULES, health_view
from bankfeeds.monitoring.health_rules import Health, RunOutcome, RunStatus, compute_health

NOW = datetime(2025, 6, 10, 12, 0, tzinfo=UTC)
LABEL = 'Success rate <span class="rate-window">(last 20 runs in 7 days)</span>'


def _health() -> Health:
    # 17 successes and 3 failures among the newest 20 runs of the week, and 10 month-old
    # failures that no figure may count.
    failed: list[RunStatus] = ["FAILED"]
    succeeded: list[RunStatus] = ["SUCCESS"]
    statuses = failed * 3 + succeeded * 17
    runs = [RunOutcome(s, NOW - timedelta(hours=n + 2), NOW - timedelta(hours=n + 1))
            for n, s in enumerate(statuses)]  # fmt: skip
    runs += [RunOutcome("FAILED", NOW - timedelta(days=30, hours=n), NOW - timedelta(days=30))
             for n in range(10)]  # fmt: skip
    return compute_health(runs=runs, connector_status="ACTIVE", received_dates=set(),
                          expected_dates=[], now=NOW, **HEALTH_RULES)  # fmt: skip


def _user() -> SimpleNamespace:
    return SimpleNamespace(can=lambda role: False)


def test_api_card_and_history_dialog_show_one_rate_with_its_window() -> None:
    health = _health()
    view = health_view(health, None)
    assert (view["successRate"], view["successRateWindow"], view["successRateRuns"]) == (
        0.85, "last 20 runs in 7 days", 20,
    )  # fmt: skip
    card = SimpleNamespace(id="con_1", name="AXIS", type="SFTP", provider="AXIS", host=None,
                           status="ACTIVE", running=False, next_run_at=None, open_exceptions=0,
                           health=health)  # fmt: skip
    shown = templates.env.get_template("_card.html").render(card=card, user=_user(), now=NOW)
    assert f'<dt>{LABEL}</dt><dd title="20 runs counted">85%</dd>' in shown
    dialog = templates.env.get_template("_history_dialog.html").render(
        connector={"name": "AXIS", "health": view},
        stats=SimpleNamespace(total=30, failed=13, files=0, bytes=0),
        page={"runs": []},
        user=_user(),
    )
    assert f'<dt>{LABEL}</dt><dd title="20 runs counted">85%</dd>' in dialog
