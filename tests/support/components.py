"""The machine's components some tests need (PostgreSQL, sshd, Chromium, gpg), and what skipped.

A test that cannot run because one is missing skips with :func:`skip_message`, so the end of the
run can count the skips per component (:func:`summary_lines`) and name the one command that
installs them all. ``TEST_WITHOUT=sshd,chromium`` makes the tests behave as if those were missing.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Mapping
from pathlib import Path

POSTGRES = "PostgreSQL"
SSHD = "sshd"
CHROMIUM = "Chromium"
GPG = "gpg"
#: In the order the summary lists them.
COMPONENTS = (POSTGRES, SSHD, CHROMIUM, GPG)
#: Installs and starts every component (.ci/deps.sh, which .ci/run runs too).
INSTALL_COMMAND = "make test-deps"
HIDE_ENV = "TEST_WITHOUT"
CHROMIUM_PATH = Path("/usr/bin/chromium")
_PREFIX = "needs "
#: The reason a component TEST_WITHOUT hides is missing.
HIDDEN = f"{HIDE_ENV} hides it"


def hidden(component: str, env: Mapping[str, str] = os.environ) -> bool:
    """Whether TEST_WITHOUT asks the tests to act as if ``component`` were missing."""
    names = {name.strip().lower() for name in env.get(HIDE_ENV, "").split(",")}
    return component.lower() in names


def skip_message(component: str, why: str) -> str:
    """The skip reason for a test that needs ``component``, which the summary counts."""
    return f"{_PREFIX}{component}: {why}"


def component_of(reason: str) -> tuple[str, str] | None:
    """The component and why from a :func:`skip_message` reason, or None for any other skip."""
    reason = reason.removeprefix("Skipped: ")
    for component in COMPONENTS:
        head = f"{_PREFIX}{component}: "
        if reason.startswith(head):
            return component, reason[len(head) :]
    return None


def chromium_missing() -> str | None:
    """Why the browser tests cannot run here, or None."""
    if hidden(CHROMIUM):
        return HIDDEN
    if not CHROMIUM_PATH.exists():
        return f"{CHROMIUM_PATH} is missing (Debian package chromium)"
    return None


def summary_lines(reasons: Mapping[str, int]) -> list[str]:
    """One line per component that skipped tests, then the install command; or one line saying
    every component was there.

    ``reasons`` counts skipped tests by skip reason; reasons not made by :func:`skip_message`
    (a test's own skips) are not a missing component and are left out.
    """
    counts: Counter[str] = Counter()
    whys: dict[str, Counter[str]] = {}
    for reason, count in reasons.items():
        found = component_of(reason)
        if found is None:
            continue
        component, why = found
        counts[component] += count
        whys.setdefault(component, Counter())[why] += count
    lines = []
    for component in COMPONENTS:
        if counts[component]:
            n = counts[component]
            why = "; ".join(w for w, _ in whys[component].most_common())
            lines.append(f"{component} missing, {n} test{'' if n == 1 else 's'} skipped: {why}")
    if not lines:
        return [f"Test components: {', '.join(COMPONENTS)} all present; none skipped a test."]
    lines.append(f"To install and start them all: {INSTALL_COMMAND}")
    return lines
