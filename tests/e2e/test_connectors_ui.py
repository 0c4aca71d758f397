"""The Connectors page in Chromium: login, create, test and trust, run, history, pause, resume."""

from __future__ import annotations

import re

from playwright.sync_api import Page, expect

from bankfeeds.connectors.patterns import DEFAULT_PATTERNS
from bankfeeds.sandbox.generate import generate_day
from tests.e2e.conftest import PASSWORD, App, Sandbox, login, shot, target_day


def test_login_shows_the_empty_state(page: Page) -> None:
    page.goto("/")
    expect(page).to_have_url(re.compile(r"/ui/login"))
    page.get_by_label("User name", exact=True).fill("ada")
    page.get_by_label("Password", exact=True).fill("wrong password!")
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("alert")).to_contain_text("user name or password is wrong")
    shot(page, "login")
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("heading", name="No connectors yet")).to_be_visible()
    expect(page.get_by_role("button", name="Add your first connector")).to_be_visible()
    shot(page, "connectors-empty")


def test_create_sftp_connector_through_the_dialog(page: Page, sandbox: Sandbox) -> None:
    login(page)
    page.get_by_role("button", name="Add Connector").first.click()
    dialog = page.get_by_role("dialog")
    dialog.get_by_label("Name", exact=True).fill("AXIS via sandbox")
    dialog.get_by_label("Host", exact=True).fill("127.0.0.1")
    dialog.get_by_label("Port", exact=True).fill("70000")
    dialog.get_by_role("tab", name="Auth").click()
    dialog.get_by_label("Username", exact=True).fill("bank")
    dialog.get_by_label("Password", exact=True).fill("bankpass")
    dialog.get_by_role("button", name="Create connector").click()
    port_error = dialog.locator(".err-config-port")
    expect(port_error).to_contain_text("1 to 65535")
    expect(dialog.get_by_role("tab", name="Connection")).to_have_attribute("aria-selected", "true")
    expect(dialog.get_by_label("Name", exact=True)).to_have_value(
        "AXIS via sandbox"
    )  # nothing typed is lost
    shot(page, "dialog-validation")
    dialog.get_by_label("Port", exact=True).fill(str(sandbox.handle.port))
    dialog.get_by_role("tab", name="Schedule").click()
    dialog.get_by_role("button", name="Weekdays at 19:00").click()
    expect(dialog.locator(".schedule-preview")).to_contain_text("Every weekday")
    expect(dialog.locator(".next-runs li")).to_have_count(5)
    dialog.get_by_role("button", name="Create connector").click()
    expect(dialog.get_by_text("Created conn_1")).to_be_visible()
    expect(page.locator("#card-conn_1")).to_contain_text("AXIS via sandbox")
    dialog.get_by_role("button", name="Close", exact=True).last.click()
    expect(page.get_by_role("dialog")).to_have_count(0)


def test_choosing_a_provider_fills_its_default_file_pattern(page: Page) -> None:
    login(page)
    page.get_by_role("button", name="Add Connector").first.click()
    dialog = page.get_by_role("dialog")
    pattern = dialog.get_by_label("File Pattern", exact=True)
    expect(pattern).to_have_value(DEFAULT_PATTERNS["AXIS"])
    dialog.get_by_label("Provider", exact=True).select_option("HDFC")
    expect(pattern).to_have_value(DEFAULT_PATTERNS["HDFC"])
    # A pattern the user typed is theirs: another provider does not overwrite it.
    pattern.fill("HDFC_custom_YYYYMMDD.csv")
    dialog.get_by_label("Provider", exact=True).select_option("SBI")
    expect(pattern).to_have_value("HDFC_custom_YYYYMMDD.csv")


def test_test_connection_and_trust_the_host_key(page: Page, app: App, sandbox: Sandbox) -> None:
    cid = app.add_connector(sandbox, hostKeyPolicy="strict")
    login(page)
    page.locator(f"#card-{cid}").get_by_role("button", name="Edit").click()
    dialog = page.get_by_role("dialog")
    dialog.get_by_role("button", name="Test connection").click()
    result = dialog.locator("#test-result")
    expect(result).to_contain_text(sandbox.handle.fingerprint)
    expect(result).to_contain_text("strict policy needs a pinned fingerprint")
    dialog.get_by_role("button", name="Trust this key").click()
    expect(result).to_contain_text("Trusted")
    dialog.get_by_role("button", name="Test connection").click()
    expect(result).to_contain_text("Connected;")
    expect(result).to_contain_text("This is the trusted (pinned) key")
    shot(page, "dialog-test-trust")
    page.keyboard.press("Escape")
    expect(page.get_by_role("dialog")).to_have_count(0)


def test_run_now_then_history_shows_the_files(page: Page, app: App, sandbox: Sandbox) -> None:
    generate_day(sandbox.upload, target_day(), providers=("AXIS",), rows=10)
    cid = app.add_connector(sandbox)
    login(page)
    card = page.locator(f"#card-{cid}")
    card.get_by_role("button", name="Run now").click()
    expect(page.locator(".toast")).to_contain_text("SUCCESS")
    expect(page.locator(f"#card-{cid} .health-label")).to_have_text("Healthy")
    page.locator(f"#card-{cid}").get_by_role("button", name="History").click()
    dialog = page.get_by_role("dialog")
    expect(dialog.locator(".stats")).to_contain_text("100%")
    dialog.locator("details.run summary").first.click()
    expect(dialog.locator(".run-detail table")).to_contain_text(f"AXIS_RECON_{target_day():%Y%m%d}")
    expect(dialog.locator(".run-detail")).to_contain_text("DOWNLOADED")
    shot(page, "history")


def test_pause_and_resume(page: Page, app: App, sandbox: Sandbox) -> None:
    cid = app.add_connector(sandbox)
    app.add_connector(sandbox, name="AXIS second")
    login(page)
    page.locator(f"#card-{cid}").get_by_role("button", name="Pause").click()
    expect(page.locator(f"#card-{cid} .badge.status-paused")).to_have_text("Paused")
    expect(page.locator(".toast").last).to_contain_text("paused")
    page.get_by_role("tab", name=re.compile("Paused")).click()
    expect(page.locator(".card")).to_have_count(1)
    shot(page, "connectors-paused")
    page.locator(f"#card-{cid}").get_by_role("button", name="Resume").click()
    expect(page.locator(f"#card-{cid} .badge.status-active")).to_have_text("Active")
    page.get_by_role("tab", name=re.compile("All")).click()
    expect(page.locator(".card")).to_have_count(2)
    shot(page, "connectors")
