"""No pinned dependency is at a version with a known vulnerability.

``pip-audit`` (installed with the dev tools) asks PyPI or OSV about each pin over the network, and
keeps no offline database, so it cannot run where the suite runs without network access. This
test therefore checks ``constraints.txt`` and the installed packages against the advisory table
committed at ``security/advisories.json``; run ``pip-audit -r constraints.txt`` with network
access to find new advisories, and add them to the table.
"""

from __future__ import annotations

import json
import re
from importlib import metadata
from pathlib import Path
from typing import Any

from packaging.utils import canonicalize_name
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[2]
#: Must always be covered: the SSH libraries (Terrapin) and the web stack facing the network.
REQUIRED = {
    "asyncssh",
    "paramiko",
    "cryptography",
    "jinja2",
    "starlette",
    "fastapi",
    "h11",
    "urllib3",
    "requests",
    "python-multipart",
    "idna",
    "certifi",
}


def pins() -> dict[str, Version]:
    """``name==version`` lines of constraints.txt, by canonical name."""
    out = {}
    for line in (ROOT / "constraints.txt").read_text().splitlines():
        found = re.fullmatch(r"\s*([A-Za-z0-9._-]+)\s*==\s*([^\s;#]+).*", line)
        if found:
            out[canonicalize_name(found.group(1))] = Version(found.group(2))
    return out


def advisories() -> list[dict[str, Any]]:
    """The committed advisory table."""
    rows: list[dict[str, Any]] = json.loads((ROOT / "security" / "advisories.json").read_text())[
        "advisories"
    ]
    return rows


def test_the_table_covers_the_exposed_packages() -> None:
    covered = {canonicalize_name(a["package"]) for a in advisories()}
    assert covered >= {canonicalize_name(p) for p in REQUIRED}
    for row in advisories():
        assert re.fullmatch(r"CVE-\d{4}-\d{4,}|GHSA(-[0-9a-z]{4}){3}", row["id"]), row
        Version(row["fixedIn"])
        assert row["summary"].strip()


def test_no_pin_is_below_a_fix() -> None:
    pinned = pins()
    assert "asyncssh" in pinned and pinned["asyncssh"] >= Version("2.14.2")  # Terrapin
    vulnerable = [
        f"{a['package']}=={pinned[canonicalize_name(a['package'])]} < {a['fixedIn']} ({a['id']})"
        for a in advisories()
        if canonicalize_name(a["package"]) in pinned
        and pinned[canonicalize_name(a["package"])] < Version(a["fixedIn"])
    ]
    assert vulnerable == []


def test_installed_packages_are_at_or_above_each_fix() -> None:
    vulnerable = []
    for a in advisories():
        try:
            installed = Version(metadata.version(a["package"]))
        except metadata.PackageNotFoundError:
            continue
        if installed < Version(a["fixedIn"]):
            vulnerable.append(f"{a['package']} {installed} < {a['fixedIn']} ({a['id']})")
    assert vulnerable == []
