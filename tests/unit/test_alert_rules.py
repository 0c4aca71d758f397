"""Alert rules, pure: health transitions, message bodies, backoff, and ALERT_WEBHOOKS parsing."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from bankfeeds.alerts.rules import AlertKind, health_transition, retry_delay, webhook_body
from bankfeeds.alerts.webhooks import fingerprint, redact
from bankfeeds.core.config import load_settings
from bankfeeds.core.errors import ConfigError


@pytest.mark.parametrize(
    ("previous", "current", "kind"),
    [
        (None, "CRITICAL", AlertKind.HEALTH_CRITICAL),
        ("HEALTHY", "CRITICAL", AlertKind.HEALTH_CRITICAL),
        ("WARNING", "CRITICAL", AlertKind.HEALTH_CRITICAL),
        ("CRITICAL", "CRITICAL", None),
        ("CRITICAL", "HEALTHY", AlertKind.HEALTH_RECOVERED),
        ("CRITICAL", "WARNING", AlertKind.HEALTH_RECOVERED),
        ("CRITICAL", "PAUSED", None),
        ("HEALTHY", "WARNING", None),
        (None, "NEVER_RUN", None),
    ],
)
def test_health_transition(previous: str | None, current: str, kind: AlertKind | None) -> None:
    assert health_transition(previous, current) == kind


def test_retry_delay_doubles_up_to_the_cap_without_overflow() -> None:
    base, cap = timedelta(seconds=30), timedelta(hours=1)
    delays = [retry_delay(n, base=base, cap=cap).total_seconds() for n in range(1, 10)]
    assert delays == [30, 60, 120, 240, 480, 960, 1920, 3600, 3600]
    assert retry_delay(10**9, base=timedelta(days=300), cap=timedelta(days=900)).days == 900


def test_bodies() -> None:
    at = datetime(2026, 3, 1, 20, 0, tzinfo=UTC)
    payload = {"connectorId": "conn_2", "cycleDate": "2026-03-01", "provider": "HDFC"}
    assert webhook_body("json", kind="FILE_MISSING", key="k", payload=payload, created_at=at) == {
        "kind": "FILE_MISSING",
        "key": "k",
        "payload": payload,
        "createdAt": "2026-03-01T20:00:00+00:00",
    }
    slack = webhook_body("slack", kind="FILE_MISSING", key="k", payload=payload, created_at=at)
    assert slack == {
        "text": "[bankfeeds] Expected file is missing · connector conn_2 · provider HDFC"
        " · cycle 2026-03-01"
    }


def test_webhook_urls_are_redacted_and_fingerprinted() -> None:
    url = "https://user:pw@hooks.slack.example/services/T000/B000/SECRET"
    assert redact(url) == "https://hooks.slack.example"
    assert fingerprint(url) == fingerprint(url) != fingerprint(url + "x")
    assert "SECRET" not in fingerprint(url)


def test_alert_webhooks_setting_is_read(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(
        "ALERT_WEBHOOKS",
        '[{"url": "https://hooks.example/a", "format": "slack"}, {"url": "http://b.example"}]',
    )
    hooks = load_settings(_env_file=None).alert_webhooks
    assert [(h.url.get_secret_value(), h.format) for h in hooks] == [
        ("https://hooks.example/a", "slack"),
        ("http://b.example", "json"),
    ]
    assert "hooks.example" not in repr(load_settings(_env_file=None))  # URLs may hold tokens


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("[{", "ALERT_WEBHOOKS is invalid: not valid JSON"),
        ('{"url": "http://a"}', "ALERT_WEBHOOKS is invalid: must be a JSON list"),
        ('[{"url": "ftp://a"}]', "entry 1: url: must start with http:// or https://"),
        ('[{"url": "http://a"}, {"url": "http://b", "format": "xml"}]', "entry 2: format:"),
        ('[{"url": "http://a", "urls": 1}]', "entry 1: urls: extra inputs are not permitted"),
        ("[3]", 'entry 1 must be an object with "url"'),
    ],
)
def test_invalid_alert_webhooks_is_one_sentence(
    monkeypatch: pytest.MonkeyPatch, value: str, message: str
) -> None:
    monkeypatch.setenv("ALERT_WEBHOOKS", value)
    with pytest.raises(ConfigError) as caught:
        load_settings(_env_file=None)
    assert message in str(caught.value)
    assert str(caught.value).startswith("ALERT_WEBHOOKS is invalid: ")
    assert str(caught.value).endswith(".")
