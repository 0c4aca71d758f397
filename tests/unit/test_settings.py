"""Settings: the specification's variable names, defaults, and one-sentence errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from bankfeeds.core.config import async_url, load_settings, sync_url
from bankfeeds.core.errors import ConfigError


def test_defaults_are_embedded(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)
    settings = load_settings()
    assert settings.data_dir == Path("var")
    assert settings.resolved_database_url == "sqlite+aiosqlite:///var/bankfeeds.db"
    assert (settings.sftp_host, settings.sftp_port, settings.sftp_user) == (
        "127.0.0.1",
        2222,
        "bank",
    )
    assert settings.sftp_pass.get_secret_value() == "bankpass"
    assert settings.scheduler_cutoff_hour == 18
    assert settings.scheduler_grace_period_hours == 2
    assert settings.s3_endpoint is None
    assert settings.secret_keys == []


def test_spec_names_are_read(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)
    env = {
        "SFTP_HOST": "sftp.example",
        "SFTP_PORT": "2200",
        "SFTP_USER": "u",
        "SFTP_PASS": "p",
        "SCHEDULER_ENABLED": "false",
        "SCHEDULER_TIMEZONE": "Europe/London",
        "SCHEDULER_CUTOFF_HOUR": "17",
        "SCHEDULER_GRACE_PERIOD_HOURS": "3",
        "S3_BUCKET": "settlepaisa-recon",
        "S3_REGION": "ap-south-1",
        "S3_ENDPOINT": "http://localhost:4566",
        "METRICS_ENABLED": "false",
        "ALERTS_ENABLED": "false",
        "DATABASE_URL": "postgresql://postgres@127.0.0.1:5432/test",
        "BANKFEEDS_DATA_DIR": "/srv/bankfeeds",
        "BANKFEEDS_SECRET_KEY": "k1, k2",
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    s = load_settings()
    assert (s.sftp_host, s.sftp_port, s.sftp_user) == ("sftp.example", 2200, "u")
    assert s.sftp_pass.get_secret_value() == "p"
    assert s.scheduler_enabled is False and s.scheduler_timezone == "Europe/London"
    assert (s.scheduler_cutoff_hour, s.scheduler_grace_period_hours) == (17, 3)
    assert (s.s3_bucket, s.s3_region, s.s3_endpoint) == (
        "settlepaisa-recon",
        "ap-south-1",
        "http://localhost:4566",
    )
    assert s.metrics_enabled is False and s.alerts_enabled is False
    assert s.resolved_database_url == "postgresql+psycopg://postgres@127.0.0.1:5432/test"
    assert s.data_dir == Path("/srv/bankfeeds")
    assert s.secret_keys == ["k1", "k2"]


def test_dotenv_file_is_read(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / ".env").write_text("SFTP_PORT=2022\nSCHEDULER_CUTOFF_HOUR=20\n")
    s = load_settings()
    assert s.sftp_port == 2022 and s.scheduler_cutoff_hour == 20


@pytest.mark.parametrize(
    ("name", "value", "sentence"),
    [
        ("SFTP_PORT", "70000", "SFTP_PORT is invalid"),
        ("SFTP_PORT", "abc", "SFTP_PORT is invalid"),
        ("SCHEDULER_TIMEZONE", "Mars/Olympus", "SCHEDULER_TIMEZONE is invalid: unknown time zone"),
        ("SCHEDULER_CUTOFF_HOUR", "24", "SCHEDULER_CUTOFF_HOUR is invalid"),
        ("SCHEDULER_ENABLED", "maybe", "SCHEDULER_ENABLED is invalid"),
        ("DATABASE_URL", "mysql://x", "DATABASE_URL is invalid: must be a sqlite"),
    ],
)
def test_invalid_values_name_the_variable(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, name: str, value: str, sentence: str
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv(name, value)
    with pytest.raises(ConfigError) as caught:
        load_settings()
    assert str(caught.value).startswith(sentence)
    assert str(caught.value).endswith(".")
    assert "\n" not in str(caught.value)


def test_url_mapping() -> None:
    assert async_url("sqlite:///var/x.db") == "sqlite+aiosqlite:///var/x.db"
    assert async_url("postgres://h/db") == "postgresql+psycopg://h/db"
    assert sync_url("sqlite+aiosqlite:///var/x.db") == "sqlite:///var/x.db"
    assert sync_url("postgresql+psycopg://h/db") == "postgresql+psycopg://h/db"
