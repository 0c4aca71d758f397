"""SFTP hosts go through the API hosts' address policy: at save, at test and at connect."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import httpx
import pytest

from bankfeeds.core.errors import UnsafeTarget
from bankfeeds.http.app import create_app
from bankfeeds.storage.context import AppContext
from bankfeeds.transports.sftp.address import checked_address
from tests.security.conftest import Live
from tests.support.bodies import with_config
from tests.support.server import serve

#: Host spellings and the reason each is refused.
REFUSED = {
    "127.0.0.1": "a loopback address",
    "0x7f000001": "a loopback address",
    "localhost": "localhost resolves to",
    "10.1.2.3": "a private address",
    "192.168.0.10": "a private address",
    "169.254.169.254": "the cloud metadata address",
    "100.64.0.1": "a carrier-grade NAT address",
    "224.0.0.1": "a multicast address",
    "240.0.0.1": "a reserved address",
    "::1": "a loopback address",
    "::ffff:127.0.0.1": "a loopback address",
}


@contextmanager
def listener() -> Iterator[tuple[int, list[object]]]:
    """A TCP port on 127.0.0.1 that records every connection made to it."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen()
    sock.settimeout(0.1)
    accepted: list[object] = []
    done = threading.Event()

    def accept() -> None:
        while not done.is_set():
            try:
                conn, _ = sock.accept()
            except OSError:
                continue
            accepted.append(conn)
            conn.close()

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield sock.getsockname()[1], accepted
    finally:
        done.set()
        thread.join(timeout=5)
        sock.close()


@contextmanager
def unlisted_server(live: Live) -> Iterator[str]:
    """The same database served by an app whose SFTP allow-list is empty (the default)."""
    settings = live.settings.model_copy(update={"sftp_allow_hosts": frozenset()})
    with serve(create_app(AppContext.build(settings), run_wait_seconds=10)) as url:
        yield url


def test_saving_an_internal_sftp_host_is_refused_naming_it(live: Live) -> None:
    with unlisted_server(live) as url:
        admin = {"Authorization": f"Bearer {live.tokens['admin']}"}
        for n, (host, reason) in enumerate(REFUSED.items()):
            body = with_config(host=host, port=22)
            body["name"] = f"internal {n}"
            answer = httpx.post(url + "/ops/connectors", json=body, headers=admin)
            assert answer.status_code == 422, (host, answer.text)
            [error] = answer.json()["errors"]
            assert error["field"] == "config.host"
            assert reason in error["message"], (host, error)


def test_test_and_run_refuse_a_loopback_host_without_connecting(live: Live) -> None:
    with listener() as (port, accepted):
        # Saved while the allow-list named the host (as the sandbox does); the list is then gone.
        made = {}
        hosts = ("127.0.0.1", "localhost", "0x7f000001")
        listed = live.settings.model_copy(update={"sftp_allow_hosts": frozenset(hosts)})
        admin = {"Authorization": f"Bearer {live.tokens['admin']}"}
        with serve(create_app(AppContext.build(listed))) as saving:
            for host in hosts:
                body = with_config(host=host, port=port)
                body["name"] = f"scan {host}"
                answer = httpx.post(saving + "/ops/connectors", json=body, headers=admin)
                assert answer.status_code == 201, answer.text
                made[host] = answer.json()["id"]
        with unlisted_server(live) as url:
            operator = {"Authorization": f"Bearer {live.tokens['operator']}"}
            for cid in made.values():
                tested = httpx.post(f"{url}/ops/connectors/{cid}/test", headers=operator)
                assert tested.status_code == 200, tested.text
                result = tested.json()
                assert result["success"] is False
                assert "a loopback address" in result["message"]
                assert result["details"]["connected"] is False
                ran = httpx.post(
                    f"{url}/ops/connectors/{cid}/run-now",
                    json={"cycleDate": "2025-01-10"},
                    headers=operator,
                    timeout=30,
                )
                assert ran.status_code == 200, ran.text
                assert (ran.json()["status"], ran.json()["errorCode"]) == (
                    "FAILED",
                    "unsafe-target",
                )
        time.sleep(0.3)  # a connection attempt, had there been one, would have been accepted
        assert accepted == []


def test_the_connection_goes_to_the_checked_address() -> None:
    allowed = asyncio.run(checked_address("localhost", 22, ["localhost"]))
    assert allowed in ("127.0.0.1", "::1")
    assert asyncio.run(checked_address("0x7f000001", 22, ["0x7f000001:22"])) == "127.0.0.1"
    with pytest.raises(UnsafeTarget, match="localhost resolves to"):
        asyncio.run(checked_address("localhost", 22, ["localhost:2222"]))  # another port only
    with pytest.raises(UnsafeTarget, match="the cloud metadata address"):
        asyncio.run(checked_address("169.254.169.254", 22, ["127.0.0.1"]))
