"""One connector's runs and exceptions are never reached through another connector's id."""

from __future__ import annotations

import hashlib

import pytest

from tests.security.conftest import Live, Target
from tests.support.bodies import spec_body
from tests.support.sshd import free_port


def _connector(live: Live, name: str, **config: object) -> str:
    body = spec_body(name=name)
    body["config"] = {**body["config"], **config}  # type: ignore[dict-item]
    made = live.client("admin").post("/ops/connectors", json=body)
    assert made.status_code == 201, made.text
    return str(made.json()["id"])


@pytest.mark.parametrize("target", ["sandbox"], indirect=True)
def test_nested_and_filtered_reads_stay_within_their_connector(live: Live, target: Target) -> None:
    data = b"TXNID,CREDIT_AMT\n"
    target.put("AXIS_RECON_20250110.csv", data)
    target.put("AXIS_RECON_20250110.csv.sha256", hashlib.sha256(data).hexdigest().encode())
    # A: a server whose key is not the pinned one, so its run fails for good and opens an
    # exception; B: nothing listening, so its run fails and will be retried.
    a = _connector(live, "A", host=target.host, port=target.port, remotePath=target.remote_dir,
                   hostKeyPolicy="strict", hostKeyFingerprint="SHA256:" + "Q" * 43)  # fmt: skip
    b = _connector(live, "B", host="127.0.0.1", port=free_port())
    viewer = live.client("viewer")
    operator = live.client("operator")
    run_a = operator.post(f"/ops/connectors/{a}/run-now", json={"cycleDate": "2025-01-10"}).json()
    run_b = operator.post(f"/ops/connectors/{b}/run-now", json={"cycleDate": "2025-01-10"}).json()
    assert run_a["connectorId"] == a and run_b["connectorId"] == b

    for mine, theirs, their_run in ((a, b, run_b), (b, a, run_a)):
        runs = viewer.get(f"/ops/connectors/{mine}/runs").json()["runs"]
        assert runs and {r["connectorId"] for r in runs} == {mine}
        assert their_run["id"] not in {r["id"] for r in runs}
        for nested in (f"/ops/connectors/{mine}/runs/{their_run['id']}",
                       f"/ops/connectors/{mine}/files/{their_run['id']}",
                       f"/ops/connectors/{mine}/exceptions"):  # fmt: skip
            assert viewer.get(nested).status_code in (404, 405), nested
        open_a = viewer.get("/ops/exceptions", params={"connectorId": theirs}).json()
        assert all(e["connectorId"] == theirs for e in open_a["exceptions"])

    everything = viewer.get("/ops/exceptions").json()["exceptions"]
    of_a = [e for e in everything if e.get("connectorId") == a]
    assert of_a, everything  # A's refused host key opened one
    of_b = viewer.get("/ops/exceptions", params={"connectorId": b}).json()["exceptions"]
    assert not {e["id"] for e in of_a} & {e["id"] for e in of_b}
    # A cursor taken from A's run list does not page into B's runs.
    page = viewer.get(f"/ops/connectors/{a}/runs", params={"limit": 1}).json()
    if page["cursor"]:
        rest = viewer.get(f"/ops/connectors/{b}/runs", params={"cursor": page["cursor"]}).json()
        assert all(r["connectorId"] == b for r in rest["runs"])
    # Deleting B leaves A and its history untouched, and B's run no longer lists under B.
    assert live.client("admin").delete(f"/ops/connectors/{b}").status_code == 204
    assert viewer.get(f"/ops/connectors/{a}/runs").json()["runs"]
