"""The end-of-run lines naming each missing test component and the command that installs them."""

from __future__ import annotations

from tests.support.components import (
    CHROMIUM,
    GPG,
    POSTGRES,
    SSHD,
    component_of,
    hidden,
    skip_message,
    summary_lines,
)

NO_SSHD = skip_message(SSHD, "/usr/sbin/sshd is missing")
NO_PG = skip_message(POSTGRES, "nothing answers at 127.0.0.1:5432")


def test_nothing_skipped_for_a_component_says_all_were_present() -> None:
    present = ["Test components: PostgreSQL, sshd, Chromium, gpg all present; none skipped a test."]
    assert summary_lines({}) == present
    assert summary_lines({"Skipped: cannot mount a small tmpfs": 3}) == present


def test_one_line_per_component_in_a_fixed_order_then_the_install_command() -> None:
    reasons = {
        f"Skipped: {skip_message(GPG, 'gpg is missing')}": 1,
        f"Skipped: {NO_SSHD}": 17,
        f"Skipped: {NO_PG}": 412,
        "Skipped: cannot mount a small tmpfs": 2,
    }
    assert summary_lines(reasons) == [
        "PostgreSQL missing, 412 tests skipped: nothing answers at 127.0.0.1:5432",
        "sshd missing, 17 tests skipped: /usr/sbin/sshd is missing",
        "gpg missing, 1 test skipped: gpg is missing",
        "To install and start them all: make test-deps",
    ]


def test_a_component_skipped_for_several_reasons_sums_them_most_common_first() -> None:
    reasons = {
        skip_message(POSTGRES, "its server binaries are missing"): 1,
        f"Skipped: {NO_PG}": 40,
        NO_PG: 2,
    }
    assert summary_lines(reasons)[0] == (
        "PostgreSQL missing, 43 tests skipped: "
        "nothing answers at 127.0.0.1:5432; its server binaries are missing"
    )


def test_only_reasons_made_by_skip_message_name_a_component() -> None:
    assert component_of(f"Skipped: {skip_message(CHROMIUM, 'no browser')}") == (
        CHROMIUM,
        "no browser",
    )
    assert component_of("browser tests need Chromium at /usr/bin/chromium") is None
    assert component_of("needs sshd") is None


def test_test_without_hides_components_by_name_in_any_case() -> None:
    env = {"TEST_WITHOUT": "SSHD, chromium"}
    assert hidden(SSHD, env) and hidden(CHROMIUM, env)
    assert not hidden(POSTGRES, env) and not hidden(GPG, {})
