"""The recon API over HTTP: jobs, results CSV, exception filters, resolve and re-run."""

from __future__ import annotations

import csv
import hashlib
import io
import time
from datetime import date
from typing import Any

import httpx
from tests.support.targets import Target

from bankfeeds.sandbox.generate import generate_day

from .conftest import Live

DAY = "2025-01-10"


def _connector(target: Target, provider: str, pattern: str) -> dict[str, Any]:
    return {
        "name": f"{provider} sftp",
        "type": "SFTP",
        "provider": provider,
        "config": {
            "host": target.host,
            "port": target.port,
            "username": target.username,
            "password": target.password,
            "remotePath": target.remote_dir,
            "filePattern": pattern,
            "checksumExt": ".sha256",
            "stableSeconds": 0,
        },
    }


def _plant_formula(target: Target) -> None:
    """Give one AXIS row references a spreadsheet would run as formulas (no longer matching)."""
    path = target.local_dir / "AXIS_RECON_20250110.csv"
    rows = list(csv.reader(io.StringIO(path.read_text())))
    rows[2][0], rows[2][4], rows[2][5] = "=HYPERLINK(1)", "@SUM(1)", "+1"  # TXNID, UTR, RRN
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerows(rows)
    target.put(path.name, out.getvalue().encode())
    digest = hashlib.sha256(out.getvalue().encode()).hexdigest()
    target.put(path.name + ".sha256", f"{digest}  {path.name}\n".encode())


def _wait_job(client: httpx.Client, status: str = "COMPLETED") -> dict[str, Any]:
    for _ in range(300):
        found = client.get("/ops/recon/jobs", params={"provider": "AXIS", "status": status})
        if found.json()["jobs"]:
            return found.json()["jobs"][0]  # type: ignore[no-any-return]
        time.sleep(0.05)
    raise AssertionError(client.get("/ops/recon/jobs").json())


def test_recon_jobs_results_exceptions_and_resolve(live: Live, target: Target) -> None:
    generate_day(target.local_dir, date(2025, 1, 10), rows=30)
    _plant_formula(target)
    admin, viewer, operator = live.client("admin"), live.client("viewer"), live.client("operator")
    for provider, pattern in (("AXIS", "AXIS_RECON_YYYYMMDD*.csv"), ("PG", "PG_TXN_YYYYMMDD*.csv")):
        cid = admin.post("/ops/connectors", json=_connector(target, provider, pattern)).json()["id"]
        ran = admin.post(f"/ops/connectors/{cid}/run-now", json={"cycleDate": DAY})
        assert ran.json()["status"] == "SUCCESS", ran.text
    job = _wait_job(viewer)
    assert job["cycleDate"] == DAY and len(job["runIds"]) == 2
    assert job["outcomes"]["MISSING_IN_PG"]["count"] == 2  # planted, and the formula row
    assert viewer.get(f"/ops/recon/jobs/{job['id']}").json()["id"] == job["id"]
    assert viewer.get("/ops/recon/jobs/job_999").status_code == 404
    assert viewer.get("/ops/recon/jobs", params={"date": "2025-01-09"}).json()["jobs"] == []

    response = viewer.get(f"/ops/recon/jobs/{job['id']}/results.csv")
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/csv")
    table = list(csv.DictReader(io.StringIO(response.text)))
    assert len(table) == sum(o["count"] for o in job["outcomes"].values())
    assert "'=HYPERLINK(1)" in {r["txn_id"] for r in table}
    assert "'@SUM(1)" in {r["utr"] for r in table}
    assert not any(v.startswith("=") for r in table for v in r.values())

    listed = viewer.get("/ops/exceptions", params={"type": "MISSING_IN_PG", "date": DAY}).json()
    assert len(listed["exceptions"]) == 2
    page = viewer.get("/ops/exceptions", params={"jobId": job["id"], "limit": 3}).json()
    assert len(page["exceptions"]) == 3 and page["hasMore"] is True
    rest = viewer.get("/ops/exceptions", params={"jobId": job["id"], "cursor": page["cursor"]})
    assert len(page["exceptions"]) + len(rest.json()["exceptions"]) == job["exceptions"]
    high = viewer.get("/ops/exceptions", params={"severity": "HIGH", "jobId": job["id"]}).json()
    assert high["exceptions"] and all(e["severity"] == "HIGH" for e in high["exceptions"])

    target_exc = listed["exceptions"][0]["id"]
    path = f"/ops/exceptions/{target_exc}/resolve"
    assert viewer.post(path, json={"note": "ok"}).status_code == 403
    assert operator.post(path, json={"note": " "}).status_code == 422
    resolved = operator.post(path, json={"note": "bank confirmed a manual credit"})
    assert resolved.status_code == 200 and resolved.json()["state"] == "RESOLVED"
    assert operator.post(path, json={"note": "again"}).status_code == 409

    # Re-run: the day is matched again; the resolved exception stays resolved, not reopened.
    assert (
        viewer.post("/ops/recon/jobs", json={"provider": "AXIS", "cycleDate": DAY}).status_code
        == 403
    )
    again = operator.post("/ops/recon/jobs", json={"provider": "AXIS", "cycleDate": DAY})
    assert again.status_code == 202 and again.json()["jobs"][0]["id"] == job["id"]
    for _ in range(300):
        if viewer.get(f"/ops/recon/jobs/{job['id']}").json()["finishedAt"] not in (
            None,
            job["finishedAt"],
        ):
            break
        time.sleep(0.05)
    rerun = viewer.get(f"/ops/recon/jobs/{job['id']}").json()
    assert rerun["status"] == "COMPLETED" and rerun["outcomes"] == job["outcomes"]
    open_now = viewer.get("/ops/exceptions", params={"jobId": job["id"], "limit": 500}).json()
    assert len(open_now["exceptions"]) == job["exceptions"] - 1
    none = operator.post("/ops/recon/jobs", json={"provider": "BOB", "cycleDate": DAY})
    assert none.status_code == 409 and "BOB" in none.json()["detail"]
