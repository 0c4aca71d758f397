"""Pure parts of the web UI: password hashing, dialog forms, schedule words."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from starlette.datastructures import FormData

from bankfeeds.access.users import hash_password, verify_password
from bankfeeds.core.errors import ValidationFailed
from bankfeeds.http.web import forms
from bankfeeds.http.web.routes.backfill import expected_name
from bankfeeds.http.web.schedule_preview import describe, preview, zones

NOW = datetime(2025, 3, 8, 12, 0, tzinfo=UTC)


def test_passwords_are_salted_scrypt() -> None:
    one, two = hash_password("correct horse"), hash_password("correct horse")
    assert one != two
    assert one.startswith("scrypt$16384$8$1$")
    assert verify_password("correct horse", one)
    assert not verify_password("correct horsE", one)
    assert not verify_password("x", "bcrypt$not$ours")


def _form(**fields: str) -> FormData:
    return FormData(list(fields.items()))


def test_create_form_becomes_the_api_body() -> None:
    body = forms.create_body(
        _form(
            name="AXIS",
            type="SFTP",
            provider="AXIS",
            host="h",
            port="2222",
            username="bank",
            password="pw",
            authMethod="password",
            schedule="0 19 * * *",
            timezone="UTC",
            remotePath="/upload",
            checksumExt="",
            baseUrl="https://ignored",
        )
    )
    config = body.config.model_dump(by_alias=True, exclude_unset=True)
    assert config == {"host": "h", "port": 2222, "username": "bank", "password": "pw",
                      "remotePath": "/upload", "filePattern": "AXIS_RECON_YYYYMMDD*.csv",
                      "schedule": "0 19 * * *", "timezone": "UTC"}  # fmt: skip


def test_create_form_errors_carry_field_paths() -> None:
    with pytest.raises(ValidationFailed) as caught:
        forms.create_body(
            _form(name="", type="SFTP", provider="AXIS", host="h", port="abc", username="u",
                  password="pw", remotePath="/upload")
        )  # fmt: skip
    fields = {e.field for e in caught.value.errors}
    assert fields == {"name", "config.port"}
    beside, summary = forms.errors_by_field(caught.value.errors)
    assert set(beside) == fields
    assert summary == []


def test_edit_form_keeps_blank_secrets_and_drops_the_other_method() -> None:
    patch = forms.patch_body(_form(name="A", authMethod="privateKey", passphrase=""), "SFTP")
    assert patch.config is not None
    assert "privateKey" not in patch.config  # blank: unchanged
    assert patch.config["password"] is None  # switching method removes the password
    assert patch.config["host"] is None  # an emptied field is removed


def test_api_headers_must_be_name_value_lines() -> None:
    with pytest.raises(ValidationFailed) as caught:
        forms.create_body(_form(name="A", type="API", provider="HDFC", headers="no colon"))
    assert caught.value.errors[0].field == "config.headers"


def test_form_values_never_contain_secrets() -> None:
    view = {"name": "A", "type": "SFTP", "provider": "AXIS", "hasPassword": True,
            "config": {"host": "h", "password": "********"}}  # fmt: skip
    values = forms.form_values(view)
    assert "password" not in values
    assert values["stored"]["password"] is True


@pytest.mark.parametrize(
    ("cron", "words"),
    [
        ("0 19 * * *", "Every day at 19:00"),
        ("30 6 * * 1-5", "Every weekday (Monday to Friday) at 06:30"),
        ("0 8 * * 1", "Every Monday at 08:00"),
        ("*/15 * * * *", "Every 15 minutes"),
        ("5 * * * *", "Every hour at minute 5"),
        ("0 9 1 * *", "On day 1 of every month at 09:00"),
        ("@daily", "Every day at 00:00"),
        ("0 9 1-7 * 1", "At the times cron '0 9 1-7 * 1' names"),
    ],
)
def test_cron_in_plain_words(cron: str, words: str) -> None:
    assert describe(cron) == words


def test_preview_lists_the_next_five_runs_in_the_zone() -> None:
    result = preview("30 2 * * *", "America/New_York", NOW)
    assert result.error is None
    # 2025-03-09 is the spring-forward day: 02:30 does not exist and runs at 03:00 EDT.
    assert result.next_runs[0] == "Sun 09 Mar 2025, 03:00 EDT"
    assert len(result.next_runs) == 5
    assert preview("61 * * * *", "UTC", NOW).error is not None
    assert preview("0 1 * * *", "Mars/Base", NOW).error is not None
    assert "Asia/Kolkata" in zones()


def test_expected_file_names_fill_the_date_token() -> None:
    day = datetime(2025, 1, 8).date()
    assert expected_name("AXIS_RECON_YYYYMMDD*.csv", day) == "AXIS_RECON_20250108*.csv"
    assert expected_name("f_YYYY-MM-DD_DDMMYYYY.txt", day) == "f_2025-01-08_08012025.txt"
