"""The specification's acceptance sequence over HTTP, against the sandbox and OpenSSH's sshd."""

from __future__ import annotations

import hashlib
import time
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import httpx
from tests.support.bodies import spec_body
from tests.support.targets import Target

from bankfeeds.sandbox.generate import generate_day

FIXTURES = Path(__file__).parents[2] / "fixtures"


def _config(target: Target, port: int | None = None, **extra: object) -> dict[str, object]:
    body = spec_body()
    config = dict(body["config"])  # type: ignore[call-overload]
    config.update(
        host=target.host,
        port=port or target.port,
        username=target.username,
        password=target.password,
        remotePath=target.remote_dir,
        **extra,
    )
    body["config"] = config
    return body


def _wait_backfill(client: httpx.Client, job_id: str) -> dict[str, object]:
    for _ in range(300):
        job = client.get(f"/ops/backfills/{job_id}").json()
        if job["status"] != "RUNNING":
            return job  # type: ignore[no-any-return]
        time.sleep(0.1)
    raise AssertionError(f"backfill {job_id} did not finish: {job}")


def test_spec_acceptance_sequence(admin: httpx.Client, target: Target) -> None:
    for name in ("AXIS_RECON_20250110.csv", "AXIS_RECON_20250110.csv.sha256"):
        target.put(name, (FIXTURES / name).read_bytes())
    for day in ("2025-01-08", "2025-01-09"):
        generate_day(target.local_dir, datetime.fromisoformat(day).date(), providers=("AXIS",))
    yesterday = (datetime.now(ZoneInfo("Asia/Kolkata")) - timedelta(days=1)).date()
    generate_day(target.local_dir, yesterday, providers=("AXIS",))

    # 1. create
    created = admin.post("/ops/connectors", json=_config(target))
    assert created.status_code == 201 and created.json()["id"] == "conn_1"
    # 2. test: connected, the fingerprint seen, the target day's file found
    tested = admin.post("/ops/connectors/conn_1/test").json()
    assert tested["success"] is True, tested
    assert tested["details"]["hostKeyFingerprint"] == target.fingerprint
    assert tested["details"]["authenticated"] is True
    assert [f["name"] for f in tested["filesFound"]] == [f"AXIS_RECON_{yesterday:%Y%m%d}.csv"]
    assert tested["filesFound"][0]["hasChecksum"] is True
    # 3. run now (target cycle date), and for the spec's sample day
    first = admin.post("/ops/connectors/conn_1/run-now")
    assert first.status_code == 200, first.text
    assert first.json()["status"] == "SUCCESS" and first.json()["filesDownloaded"] == 1
    sample = admin.post("/ops/connectors/conn_1/run-now", json={"cycleDate": "2025-01-10"}).json()
    assert sample["status"] == "SUCCESS" and sample["filesDownloaded"] == 1
    digest = hashlib.sha256((FIXTURES / "AXIS_RECON_20250110.csv").read_bytes()).hexdigest()
    assert sample["ingestedFiles"][0]["sha256"] == digest
    # 4. again: skipped, nothing downloaded
    again = admin.post("/ops/connectors/conn_1/run-now", json={"cycleDate": "2025-01-10"}).json()
    assert (again["filesSkipped"], again["filesDownloaded"], again["bytesDownloaded"]) == (1, 0, 0)
    # 5. backfill three days, as the spec's curl sends it (no content type)
    accepted = admin.post(
        "/ops/connectors/conn_1/backfill",
        content=b'{"startDate": "2025-01-08", "endDate": "2025-01-10"}',
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert accepted.status_code == 202, accepted.text
    job = accepted.json()
    assert job["daysToProcess"] == 3 and len(job["runs"]) == 3
    done = _wait_backfill(admin, job["jobId"])
    assert done["status"] == "COMPLETED"
    by_day = {r["cycleDate"]: r for r in done["runs"]}  # type: ignore[attr-defined]
    assert by_day["2025-01-10"]["filesSkipped"] == 1
    assert by_day["2025-01-08"]["filesDownloaded"] == by_day["2025-01-09"]["filesDownloaded"] == 1
    # 6. health
    detail = admin.get("/ops/connectors/conn_1").json()
    health = detail["health"]
    assert health["healthStatus"] == "HEALTHY"
    assert health["successRate"] == 1.0
    assert health["lastRunAt"] is not None and health["lastSuccessAt"] is not None
    assert len(detail["recentRuns"]) == 6
    history = admin.get("/ops/connectors/conn_1/runs", params={"limit": 4}).json()
    assert len(history["runs"]) == 4 and history["hasMore"] is True


def test_second_run_now_while_running_is_409(admin: httpx.Client, target: Target) -> None:
    generate_day(target.local_dir, datetime(2025, 1, 10).date(), providers=("AXIS",))
    # A stability wait longer than the server's 3 s wait bound keeps the first run busy.
    admin.post("/ops/connectors", json=_config(target, stableSeconds=5))
    first = admin.post("/ops/connectors/conn_1/run-now", json={"cycleDate": "2025-01-10"})
    assert first.status_code == 202, first.text
    running = first.json()
    assert running["status"] == "RUNNING"
    second = admin.post("/ops/connectors/conn_1/run-now", json={"cycleDate": "2025-01-10"})
    assert second.status_code == 409
    assert running["id"] in second.json()["detail"]
    for _ in range(200):
        state = admin.get(f"/ops/runs/{running['id']}").json()
        if state["status"] != "RUNNING":
            break
        time.sleep(0.1)
    assert state["status"] == "SUCCESS" and state["filesDownloaded"] == 1


def test_backfill_validation(admin: httpx.Client, target: Target) -> None:
    admin.post("/ops/connectors", json=_config(target))
    cases = [
        ({"startDate": "2025-01-10", "endDate": "2025-01-08"}, "startDate"),
        ({"startDate": "2024-01-01", "endDate": "2024-06-30"}, "endDate"),
        ({"startDate": "2025-01-01", "endDate": "2999-01-01"}, "endDate"),
        ({"startDate": "yesterday", "endDate": "2025-01-08"}, "startDate"),
        ({"endDate": "2025-01-08"}, "startDate"),
    ]
    for body, field in cases:
        response = admin.post("/ops/connectors/conn_1/backfill", json=body)
        assert response.status_code == 422, (body, response.text)
        assert field in {e["field"] for e in response.json()["errors"]}
    assert admin.post("/ops/connectors/conn_9/backfill", json=cases[0][0]).status_code == 404
