"""One model per connector type checks a config at save and again at run: the two agree."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from bankfeeds.connectors.model import (
    ConnectorCreate,
    ConnectorType,
    Provider,
    checked_config,
    pydantic_errors,
    split_secrets,
    stored_config,
)
from bankfeeds.connectors.sources import http_params_from
from bankfeeds.core.errors import ConfigError, ValidationFailed


def _mostly(good: list[Any], bad: list[Any]) -> st.SearchStrategy[Any]:
    """Mostly values the save accepts, now and then one it refuses."""
    return st.sampled_from(good * 4 + bad)


_TEXT = _mostly(["next", "data.items", "row"], ["", "a\nb", "é"])
_SECRET = _mostly(["tok-123", "s3cr3t"], ["", "a\r\nb", "café"])
#: Every field of an API config, with values near each rule's edge; each may be left out.
_API: dict[str, Any] = {
    "endpoint": _mostly(
        ["/v1/s", "/v1/{cycleDate}", "/a?d={cycleDate:%Y}"], ["/v1/{day}", "v1", "/a?d={x}"]
    ),
    "authType": st.sampled_from(["none", "bearer", "apiKey", "basic"]),
    "token": _SECRET,
    "apiKey": _SECRET,
    "password": _SECRET,
    "username": _TEXT,
    "apiKeyHeader": _mostly(["X-Key", "X-API-Key"], ["Authorization", "Bad Name", "Host"]),
    "headers": st.dictionaries(
        _mostly(["X-A", "X-Key", "X-API-Key", "Authorization"], ["Host"]),
        _mostly(["1", "v"], ["a\r\nb", "é"]),
        max_size=2,
    ),
    "queryParams": st.dictionaries(
        st.sampled_from(["d", "q"]), _mostly(["{cycleDate}", "v"], ["{x}", "a\nb"]), max_size=2
    ),
    "responseFormat": st.sampled_from(["csv", "json", "xml"]),
    "recordsPath": _TEXT,
    "recordTag": _TEXT,
    "pagination": st.sampled_from(["none", "link", "cursor"]),
    "cursorField": _TEXT,
    "cursorParam": _TEXT,
    "checksumHeader": _mostly(["X-Sum"], ["bad header"]),
    "sidecarUrl": _mostly(
        ["/s", "/s/{cycleDate}", "https://h/s?d={cycleDate}"], ["/s/{x}", "s", "https://h/{x}"]
    ),
    "maxPages": _mostly([1, 5, 100_000], [0, 100_001, "many"]),
    "connectTimeout": _mostly([1, 30], [0, 2.5]),
    "readTimeout": _mostly([1, 3600], [0, 3601]),
}
api_configs = st.fixed_dictionaries(
    {"baseUrl": _mostly(["https://api.bank.example", "http://h:8080/base"], ["ftp://h"])},
    optional=_API,
)
providers = st.sampled_from(list(Provider))


def _saved(ctype: ConnectorType, provider: Provider, config: dict[str, Any]) -> dict[str, Any]:
    """What saving ``config`` stores (the create body, then the service's check), or raise."""
    try:
        body = ConnectorCreate.model_validate(
            {"name": "X", "type": ctype, "provider": provider, "config": config}
        )
    except ValidationError as exc:  # the API answers 422 with these
        raise ValidationFailed(errors=pydantic_errors(exc)) from exc
    raw = body.config.model_dump(by_alias=True, exclude_unset=True)
    return checked_config(ctype, provider, raw).stored("Asia/Kolkata")


@settings(max_examples=400, deadline=None)
@given(config=api_configs, provider=providers)
def test_any_api_config_accepted_at_save_builds_http_params(
    config: dict[str, Any], provider: Provider
) -> None:
    try:
        stored = _saved(ConnectorType.API, provider, config)
    except ValidationFailed:
        return  # refused at save with a 422: it never reaches a run
    plain, secrets = split_secrets(stored)
    params = http_params_from(plain, secrets, allow_hosts=frozenset(), provider=provider)
    assert params.base_url == stored["baseUrl"]


def test_cursor_paging_over_csv_with_a_sidecar_is_refused_naming_each_field() -> None:
    config = {"baseUrl": "https://h", "pagination": "cursor", "cursorField": "next",
              "responseFormat": "csv", "sidecarUrl": "/s"}  # fmt: skip
    with pytest.raises(ValidationFailed) as caught:
        _saved(ConnectorType.API, Provider.HDFC, config)
    fields = {e.field: e.message for e in caught.value.errors}
    assert set(fields) == {"config.responseFormat", "config.sidecarUrl"}
    assert fields["config.sidecarUrl"].startswith("checks a single response")


def test_a_row_saved_before_a_rule_fails_the_run_naming_the_field() -> None:
    row = {"baseUrl": "https://h", "pagination": "link", "sidecarUrl": "/s", "authType": "none"}
    with pytest.raises(ConfigError) as caught:
        http_params_from(row, {}, allow_hosts=frozenset(), provider="HDFC")
    assert "sidecarUrl checks a single response" in caught.value.message
    assert caught.value.message.startswith("The connector's saved settings break a rule")


def test_a_stored_sftp_row_is_checked_with_its_secrets_and_provider() -> None:
    row = {"host": "h", "port": 22, "username": "u", "remotePath": "/out"}
    parsed = stored_config(ConnectorType.SFTP, row, {"password": "pw"}, "AXIS")
    assert (parsed.password, parsed.file_pattern) == ("pw", "AXIS_RECON_YYYYMMDD*.csv")
    with pytest.raises(ConfigError, match="password give exactly one of password or privateKey"):
        stored_config(ConnectorType.SFTP, row, {}, "AXIS")
    with pytest.raises(ConfigError, match="layout is required for a CUSTOM connector"):
        stored_config(
            ConnectorType.SFTP, {**row, "filePattern": "X_*.csv"}, {"password": "p"}, "CUSTOM"
        )


@pytest.mark.parametrize(
    ("config", "field", "says"),
    [
        ({"host": "h", "baseUrl": "https://h"}, "config.baseUrl", "applies to API connectors only"),
        ({"port": 0}, "config.port", "must be a whole number from 1 to 65535"),
        ({"port": "x"}, "config.port", "must be a whole number"),
        ({"hostKeyPolicy": "trust"}, "config.hostKeyPolicy", "must be 'accept-new' or 'strict'"),
        ({"stableSeconds": 4000}, "config.stableSeconds", "must be at most 3600"),
        ({"remotePath": "/" + "a" * 2000}, "config.remotePath", "must be at most 1024 characters"),
        ({"username": " "}, "config.username", "is required for an SFTP connector"),
    ],
)
def test_pydantic_wording_is_replaced_by_sentences(
    config: dict[str, Any], field: str, says: str
) -> None:
    base = {"host": "h", "username": "u", "password": "p", "remotePath": "/out"}
    with pytest.raises(ValidationFailed) as caught:
        _saved(ConnectorType.SFTP, Provider.AXIS, {**base, **config})
    assert {e.field: e.message for e in caught.value.errors}[field] == says
