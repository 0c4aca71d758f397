"""The connector API against a live server, on SQLite and PostgreSQL."""

from __future__ import annotations

import json

import asyncssh
import httpx
from tests.integration.api.conftest import Live
from tests.support.bodies import spec_body, with_config


def _errors(response: httpx.Response) -> dict[str, str]:
    body = response.json()
    assert response.headers["content-type"].startswith("application/problem+json")
    assert {"type", "title", "status", "detail"} <= body.keys()
    assert body["status"] == response.status_code
    return {e["field"]: e["message"] for e in body.get("errors", [])}


def test_spec_create_returns_conn_1_without_secrets(admin: httpx.Client) -> None:
    response = admin.post("/ops/connectors", json=spec_body())
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["id"] == "conn_1"
    assert body["config"]["password"] == "********"
    assert body["hasPassword"] is True and body["hasPrivateKey"] is False
    assert "bankpass" not in response.text
    assert body["config"]["filePattern"] == "AXIS_RECON_YYYYMMDD*.csv"
    assert body["config"]["targetCycleRule"] == "yesterday"
    assert body["nextRunAt"].endswith("+00:00")
    assert response.headers["location"] == "/ops/connectors/conn_1"


def test_spec_curl_without_json_content_type_is_accepted(admin: httpx.Client) -> None:
    # curl -d sends application/x-www-form-urlencoded; the spec's calls must work as written.
    response = admin.post(
        "/ops/connectors",
        content=json.dumps(spec_body()),
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert response.status_code == 201, response.text


def test_get_has_health_and_recent_runs(admin: httpx.Client) -> None:
    admin.post("/ops/connectors", json=spec_body())
    body = admin.get("/ops/connectors/conn_1").json()
    health = body["health"]
    assert health["healthStatus"] == "NEVER_RUN"
    assert health["lastRunAt"] is None and health["successRate"] is None
    assert health["backlog"] == {"missingDays": 0, "oldestMissing": None}
    assert health["nextRunAt"] == body["nextRunAt"]
    assert body["recentRuns"] == []


def test_provider_default_fills_pattern(admin: httpx.Client) -> None:
    body = with_config(filePattern=None)
    body["provider"] = "HDFC"
    created = admin.post("/ops/connectors", json=body).json()
    assert created["config"]["filePattern"] == "HDFC_TXN_YYYYMMDD*.csv"


def test_custom_provider_needs_a_pattern(admin: httpx.Client) -> None:
    body = with_config(filePattern=None)
    body["provider"] = "CUSTOM"
    response = admin.post("/ops/connectors", json=body)
    assert response.status_code == 422
    assert "config.filePattern" in _errors(response)


def test_custom_provider_needs_a_layout(admin: httpx.Client) -> None:
    body = with_config(filePattern="MYBANK_YYYYMMDD*.csv")
    body["provider"] = "CUSTOM"
    response = admin.post("/ops/connectors", json=body)
    assert response.status_code == 422, response.text
    assert "config.layout" in _errors(response)
    assert admin.get("/ops/connectors").json()["total"] == 0
    # Nor can a PATCH take a CUSTOM connector's layout away, or make a bank connector CUSTOM.
    columns = {"txn_id": "Ref", "amount": "Amount"}
    layout = {"name": "MYBANK", "columns": columns, "default_status": "SUCCESS"}
    body = with_config(filePattern="MYBANK_YYYYMMDD*.csv", layout=layout)
    body["provider"] = "CUSTOM"
    created = admin.post("/ops/connectors", json=body)
    assert created.status_code == 201, created.text
    cid = created.json()["id"]
    dropped = admin.patch(f"/ops/connectors/{cid}", json={"config": {"layout": None}})
    assert dropped.status_code == 422 and "config.layout" in _errors(dropped)
    axis = admin.post("/ops/connectors", json=spec_body(name="AXIS plain")).json()["id"]
    retyped = admin.patch(f"/ops/connectors/{axis}", json={"provider": "CUSTOM"})
    assert retyped.status_code == 422 and "config.layout" in _errors(retyped)


def test_validation_errors_name_each_field(admin: httpx.Client) -> None:
    cases = [
        (spec_body(provider="NOPE"), "provider"),
        (spec_body(type="FTP"), "type"),
        (with_config(port=0), "config.port"),
        (with_config(port=65536), "config.port"),
        (with_config(remotePath="upload"), "config.remotePath"),
        (with_config(filePattern="AXIS_RECON.csv"), "config.filePattern"),
        (with_config(schedule="0 19 * *"), "config.schedule"),
        (with_config(schedule="0 0 19 * * *"), "config.schedule"),
        (with_config(schedule="61 19 * * *"), "config.schedule"),
        (with_config(timezone="Asia/Nowhere"), "config.timezone"),
        (with_config(password=None), "config.password"),
        (with_config(privateKey="-----BEGIN OPENSSH PRIVATE KEY-----\nnope\n"), "config.password"),
        (with_config(password=None, privateKey="not a key"), "config.privateKey"),
        (with_config(hostKeyFingerprint="MD5:aa:bb"), "config.hostKeyFingerprint"),
        (with_config(bogus=1), "config.bogus"),
        (spec_body(name=""), "name"),
        ({"type": "SFTP"}, "name"),
    ]
    for body, field in cases:
        response = admin.post("/ops/connectors", json=body)
        assert response.status_code == 422, (field, response.text)
        errors = _errors(response)
        assert field in errors, (field, errors)
        assert errors[field], field


def test_private_key_with_passphrase(admin: httpx.Client) -> None:
    key = asyncssh.generate_private_key("ssh-ed25519")
    text = key.export_private_key(passphrase="s3cret").decode()
    no_pass = admin.post("/ops/connectors", json=with_config(password=None, privateKey=text))
    assert "config.passphrase" in _errors(no_pass)
    wrong = admin.post(
        "/ops/connectors", json=with_config(password=None, privateKey=text, passphrase="x")
    )
    assert "config.passphrase" in _errors(wrong)
    ok = admin.post(
        "/ops/connectors", json=with_config(password=None, privateKey=text, passphrase="s3cret")
    )
    assert ok.status_code == 201, ok.text
    body = ok.json()
    assert body["hasPrivateKey"] and body["hasPassphrase"] and not body["hasPassword"]
    assert "PRIVATE KEY" not in ok.text and "s3cret" not in ok.text


def test_malformed_json_is_400(admin: httpx.Client) -> None:
    response = admin.post(
        "/ops/connectors", content=b'{"name": ', headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 400
    assert "not valid JSON" in response.json()["detail"]


def test_oversized_body_is_413(admin: httpx.Client) -> None:
    big = spec_body(name="x" * (1024 * 1024 + 10))
    response = admin.post("/ops/connectors", json=big)
    assert response.status_code == 413
    assert response.json()["status"] == 413

    def chunks():  # streamed without Content-Length
        for _ in range(20):
            yield b" " * 65536

    streamed = admin.post("/ops/connectors", content=chunks())
    assert streamed.status_code == 413


def test_duplicate_name_is_409(admin: httpx.Client) -> None:
    assert admin.post("/ops/connectors", json=spec_body()).status_code == 201
    again = admin.post("/ops/connectors", json=spec_body())
    assert again.status_code == 409
    assert "conn_1" in again.json()["detail"]


def test_unknown_ids_are_404(admin: httpx.Client) -> None:
    for path in ("/ops/connectors/conn_999", "/ops/connectors/nope", "/ops/connectors/conn_0"):
        assert admin.get(path).status_code == 404
    assert admin.patch("/ops/connectors/conn_9", json={"name": "x"}).status_code == 404
    assert admin.delete("/ops/connectors/conn_9").status_code == 404
    assert admin.post("/ops/connectors/conn_9/pause").status_code == 404


def test_idempotency_key(admin: httpx.Client) -> None:
    headers = {"X-Idempotency-Key": "create-axis-1"}
    first = admin.post("/ops/connectors", json=spec_body(), headers=headers)
    assert first.status_code == 201
    replay = admin.post("/ops/connectors", json=spec_body(), headers=headers)
    assert replay.status_code == 200
    assert replay.json()["id"] == first.json()["id"]
    other = admin.post("/ops/connectors", json=spec_body(name="Other"), headers=headers)
    assert other.status_code == 409
    assert admin.get("/ops/connectors").json()["total"] == 1


def test_failed_create_does_not_burn_the_idempotency_key(admin: httpx.Client) -> None:
    headers = {"X-Idempotency-Key": "k2"}
    assert admin.post("/ops/connectors", json=spec_body()).status_code == 201
    assert admin.post("/ops/connectors", json=spec_body(), headers=headers).status_code == 409
    retry = admin.post("/ops/connectors", json=spec_body(name="Renamed"), headers=headers)
    assert retry.status_code == 201


def test_list_filters_and_cursor(admin: httpx.Client) -> None:
    for i, provider in enumerate(["AXIS", "HDFC", "AXIS", "ICICI", "AXIS"]):
        body = with_config(filePattern=None, host=f"sftp{i}.bank.example")
        body.update(name=f"{provider} feed {i}", provider=provider)
        assert admin.post("/ops/connectors", json=body).status_code == 201
    admin.post("/ops/connectors/conn_3/pause")

    axis = admin.get("/ops/connectors", params={"provider": "AXIS"}).json()
    assert axis["total"] == 3 and {c["provider"] for c in axis["connectors"]} == {"AXIS"}
    paused = admin.get("/ops/connectors", params={"status": "PAUSED"}).json()
    assert [c["id"] for c in paused["connectors"]] == ["conn_3"]
    by_host = admin.get("/ops/connectors", params={"q": "SFTP4.bank"}).json()
    assert [c["id"] for c in by_host["connectors"]] == ["conn_5"]
    by_name = admin.get("/ops/connectors", params={"q": "hdfc"}).json()
    assert [c["id"] for c in by_name["connectors"]] == ["conn_2"]
    assert admin.get("/ops/connectors", params={"q": "100%"}).json()["total"] == 0
    assert admin.get("/ops/connectors", params={"type": "API"}).json()["total"] == 0

    seen, cursor = [], None
    while True:
        params = {"limit": 2, **({"cursor": cursor} if cursor else {})}
        page = admin.get("/ops/connectors", params=params).json()
        assert page["total"] == 5
        seen += [c["id"] for c in page["connectors"]]
        if not page["hasMore"]:
            assert page["cursor"] is None
            break
        cursor = page["cursor"]
    assert seen == [f"conn_{i}" for i in range(1, 6)]

    assert admin.get("/ops/connectors", params={"status": "SLEEPING"}).status_code == 422
    assert admin.get("/ops/connectors", params={"limit": 0}).status_code == 422
    bad_cursor = admin.get("/ops/connectors", params={"cursor": "garbage!"})
    assert bad_cursor.status_code == 422 and "cursor" in _errors(bad_cursor)


def test_patch_keeps_omitted_secret_and_validates(live: Live, admin: httpx.Client) -> None:
    admin.post("/ops/connectors", json=spec_body())
    patched = admin.patch(
        "/ops/connectors/conn_1", json={"name": "AXIS main", "config": {"port": 22}}
    )
    assert patched.status_code == 200, patched.text
    body = patched.json()
    assert body["name"] == "AXIS main" and body["config"]["port"] == 22
    assert body["hasPassword"] is True
    masked = admin.patch("/ops/connectors/conn_1", json={"config": {"password": "********"}})
    assert masked.json()["hasPassword"] is True

    bad = admin.patch("/ops/connectors/conn_1", json={"config": {"port": "x"}})
    assert bad.status_code == 422 and "config.port" in _errors(bad)
    swap = admin.patch("/ops/connectors/conn_1", json={"config": {"password": None}})
    assert swap.status_code == 422 and "config.password" in _errors(swap)
    retype = admin.patch("/ops/connectors/conn_1", json={"type": "API"})
    assert retype.status_code == 422 and "type" in _errors(retype)
    assert admin.get("/ops/connectors/conn_1").json()["config"]["port"] == 22


def test_patch_rename_to_taken_name_is_409(admin: httpx.Client) -> None:
    admin.post("/ops/connectors", json=spec_body())
    admin.post("/ops/connectors", json=spec_body(name="Second"))
    response = admin.patch("/ops/connectors/conn_2", json={"name": "AXIS Bank SFTP"})
    assert response.status_code == 409


def test_pause_resume_and_patch_status(admin: httpx.Client) -> None:
    admin.post("/ops/connectors", json=spec_body())
    paused = admin.post("/ops/connectors/conn_1/pause").json()
    assert paused["status"] == "PAUSED" and paused["nextRunAt"] is None
    detail = admin.get("/ops/connectors/conn_1").json()
    assert detail["health"]["healthStatus"] == "PAUSED"
    assert admin.post("/ops/connectors/conn_1/resume").json()["status"] == "ACTIVE"
    assert admin.patch("/ops/connectors/conn_1", json={"status": "PAUSED"}).json()["status"] == (
        "PAUSED"
    )


def test_delete_frees_the_name(admin: httpx.Client) -> None:
    admin.post("/ops/connectors", json=spec_body())
    assert admin.delete("/ops/connectors/conn_1").status_code == 204
    assert admin.get("/ops/connectors/conn_1").status_code == 404
    assert admin.get("/ops/connectors").json()["total"] == 0
    again = admin.post("/ops/connectors", json=spec_body())
    assert again.status_code == 201 and again.json()["id"] == "conn_2"


def test_trust_host_key(admin: httpx.Client) -> None:
    admin.post("/ops/connectors", json=spec_body())
    fingerprint = "SHA256:" + "A" * 43
    pinned = admin.post("/ops/connectors/conn_1/trust-host-key", json={"fingerprint": fingerprint})
    assert pinned.status_code == 200
    assert pinned.json()["hostKeyFingerprint"] == fingerprint
    bad = admin.post("/ops/connectors/conn_1/trust-host-key", json={"fingerprint": "abc"})
    assert bad.status_code == 422 and "fingerprint" in _errors(bad)
    audit = admin.get("/ops/audit", params={"target": "conn_1"}).json()["entries"]
    assert audit[0]["action"] == "connector.trust-host-key"
    assert audit[0]["diff"]["hostKeyFingerprint"]["to"] == fingerprint


def test_api_connector(admin: httpx.Client) -> None:
    body = {
        "name": "HDFC API",
        "type": "API",
        "provider": "HDFC",
        "config": {
            "baseUrl": "https://api.hdfc.example",
            "endpoint": "/settlements/{cycleDate:%Y-%m-%d}",
            "authType": "bearer",
            "token": "tkn-123",
            "headers": {"X-Client": "bankfeeds"},
            "queryParams": {"format": "csv"},
            "responseFormat": "csv",
            "schedule": "30 6 * * *",
            "timezone": "Asia/Kolkata",
        },
    }
    created = admin.post("/ops/connectors", json=body)
    assert created.status_code == 201, created.text
    assert created.json()["hasToken"] is True and "tkn-123" not in created.text
    missing = dict(body, name="x", config={**body["config"], "token": None})
    response = admin.post("/ops/connectors", json=missing)
    assert response.status_code == 422 and "config.token" in _errors(response)
    sftp_field = dict(body, name="y", config={**body["config"], "remotePath": "/x"})
    assert "config.remotePath" in _errors(admin.post("/ops/connectors", json=sftp_field))


def test_an_api_config_every_run_would_refuse_is_refused_at_save(admin: httpx.Client) -> None:
    """Cursor paging over CSV, with a sidecar, was saved (201) and then failed every run."""
    config = {
        "baseUrl": "https://api.hdfc.example",
        "endpoint": "/v1/settlements",
        "pagination": "cursor",
        "cursorField": "next",
        "responseFormat": "csv",
        "sidecarUrl": "/s",
    }
    body = {"name": "HDFC API", "type": "API", "provider": "HDFC", "config": config}
    response = admin.post("/ops/connectors", json=body)
    assert response.status_code == 422, response.text
    errors = _errors(response)
    assert set(errors) == {"config.responseFormat", "config.sidecarUrl"}
    assert errors["config.responseFormat"].startswith("must be 'json' when pagination is")
    assert errors["config.sidecarUrl"].startswith("checks a single response")
    assert admin.get("/ops/connectors").json()["total"] == 0
    # Nor can a PATCH turn a working cursor connector into one.
    fine = {**config, "responseFormat": "json", "sidecarUrl": None}
    created = admin.post("/ops/connectors", json={**body, "config": fine})
    assert created.status_code == 201, created.text
    patch = {"config": {"responseFormat": "csv"}}
    patched = admin.patch(f"/ops/connectors/{created.json()['id']}", json=patch)
    assert patched.status_code == 422 and set(_errors(patched)) == {"config.responseFormat"}


def test_audit_records_mutations_with_secrets_redacted(admin: httpx.Client) -> None:
    admin.post("/ops/connectors", json=spec_body())
    admin.patch("/ops/connectors/conn_1", json={"config": {"password": "n3w-pass"}})
    admin.post("/ops/connectors/conn_1/pause")
    admin.delete("/ops/connectors/conn_1")
    response = admin.get("/ops/audit")
    entries = response.json()["entries"]
    actions = [e["action"] for e in entries if e["targetId"] == "conn_1"]
    assert actions == [
        "connector.delete",
        "connector.pause",
        "connector.update",
        "connector.create",
    ]
    assert all(e["actor"] == "test-admin" for e in entries if e["targetId"] == "conn_1")
    assert "bankpass" not in response.text and "n3w-pass" not in response.text
    update = next(e for e in entries if e["action"] == "connector.update")
    assert update["diff"] == {"password": "********"}


def test_healthz_is_open_and_docs_exist(live: Live) -> None:
    anonymous = live.client(None)
    assert anonymous.get("/healthz").json() == {"status": "ok"}
    assert anonymous.get("/docs").status_code == 200
    spec = anonymous.get("/openapi.json").json()
    assert "/ops/connectors" in spec["paths"]


def test_unknown_route_is_problem_json(admin: httpx.Client) -> None:
    response = admin.get("/ops/nowhere")
    assert response.status_code == 404
    assert response.json()["status"] == 404
