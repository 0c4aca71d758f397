"""``bankfeeds user …`` as a real process against a real database, and its effect on a live UI."""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
import sys
from pathlib import Path

import httpx
from tests.support.server import serve

from bankfeeds.core.config import load_settings
from bankfeeds.http.app import create_app
from bankfeeds.storage.context import AppContext
from bankfeeds.storage.secrets import generate_key

EXE = str(Path(sys.executable).with_name("bankfeeds"))
PASSWORD = "correct horse battery"
NEW_PASSWORD = "another long passphrase"


def _login(url: str, name: str, password: str) -> httpx.Response:
    with httpx.Client(base_url=url, timeout=30) as client:
        found = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/ui/login").text)
        assert found is not None
        data = {"csrf_token": found.group(1), "username": name, "password": password}
        return client.post("/ui/login", data=data)


def test_user_commands(tmp_path: Path) -> None:
    key = generate_key()

    env = {k: v for k, v in os.environ.items() if not k.startswith(("BANKFEEDS_", "DATABASE_"))}
    env.update(BANKFEEDS_DATA_DIR=str(tmp_path / "var"), BANKFEEDS_SECRET_KEY=key)

    def bf(*args: str, stdin: str | None = None) -> tuple[int, str, str]:
        done = subprocess.run(
            [EXE, *args],
            cwd=tmp_path,
            env=env,
            input=stdin or "",
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        return done.returncode, done.stdout.strip(), done.stderr.strip()

    assert bf("user", "create", "--name", "ada", "--password-stdin", stdin=PASSWORD + "\n")[0] == 0
    settings = load_settings(
        BANKFEEDS_DATA_DIR=str(tmp_path / "var"), BANKFEEDS_SECRET_KEY=key, _env_file=None
    )
    app_ctx = AppContext.build(settings)
    with serve(create_app(app_ctx)) as url:
        cookie = _login(url, "ada", PASSWORD).cookies["bf_session"]
        page = httpx.get(url + "/ui", headers={"Cookie": f"bf_session={cookie}"})
        assert page.status_code == 200
        assert bf("user", "list")[1] == "user_1\tada\tviewer\tenabled\t1 session(s)"

        assert bf("user", "disable", "ada") == (0, "disabled ada; ended 1 session(s)", "")
        page = httpx.get(url + "/ui", headers={"Cookie": f"bf_session={cookie}"})
        assert page.status_code == 303
        assert _login(url, "ada", PASSWORD).status_code == 401
        assert bf("user", "list")[1] == "user_1\tada\tviewer\tdisabled\t0 session(s)"
        assert bf("user", "enable", "ada") == (0, "enabled ada", "")
        cookie = _login(url, "ada", PASSWORD).cookies["bf_session"]

        weak = bf("user", "set-password", "ada", "--password-stdin", stdin="short\n")
        assert weak == (1, "", "error: password: must be at least 10 characters")
        empty = bf("user", "set-password", "ada", "--password-stdin", stdin="\n")
        assert empty[0] == 1 and "password: must be at least 10" in empty[2]
        changed = bf("user", "set-password", "ada", "--password-stdin", stdin=NEW_PASSWORD + "\n")
        assert changed == (0, "password of ada changed; ended 1 session(s)", "")
        page = httpx.get(url + "/ui", headers={"Cookie": f"bf_session={cookie}"})
        assert page.status_code == 303
        assert _login(url, "ada", PASSWORD).status_code == 401
        assert _login(url, "ada", NEW_PASSWORD).status_code == 303

        assert bf("user", "end-sessions", "ada") == (0, "ended 1 session(s)", "")
        _login(url, "ada", NEW_PASSWORD)
        assert bf("user", "end-sessions", "--all") == (0, "ended 1 session(s)", "")
        neither = bf("user", "end-sessions")
        assert neither == (2, "", "error: Name one user, or pass --all (not both).")
    asyncio.run(app_ctx.close())

    unknown = bf("user", "disable", "nobody")
    assert unknown == (1, "", "error: No user named 'nobody'.")
    token = bf("token", "create", "--name", "ada")
    assert token[0] == 1 and "taken by a user" in token[2]
    padded = bf("token", "create", "--name", " ops")
    assert padded == (1, "", "error: name: must not start or end with a space")
