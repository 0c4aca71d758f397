"""Backfill with live progress, the exceptions inbox, and what a viewer and a forged post get."""

from __future__ import annotations

import re
from datetime import timedelta

from playwright.sync_api import Page, expect

from bankfeeds.sandbox.generate import generate_day
from tests.e2e.conftest import App, Sandbox, login, shot, target_day


def test_backfill_three_days_reaches_done(page: Page, app: App, sandbox: Sandbox) -> None:
    days = [target_day() - timedelta(days=n) for n in (3, 2, 1)]
    for day in days:
        generate_day(sandbox.upload, day, providers=("AXIS",), rows=10)
    cid = app.add_connector(sandbox)
    login(page)
    # htmx wires the dialog's form up after swapping it in (and fires htmx:load then); a date
    # typed before that fires no preview request, so wait for it.
    page.evaluate(
        "document.body.addEventListener('htmx:load', (e) => {"
        " if (e.target.querySelector && e.target.querySelector('#bf-form')) window.bfReady = true;"
        " })"
    )
    page.locator(f"#card-{cid}").get_by_role("button", name="Backfill").click()
    page.wait_for_function("() => window.bfReady === true")
    dialog = page.get_by_role("dialog")
    dialog.get_by_label("Start date").fill((days[0] + timedelta(days=5)).isoformat())
    expect(dialog.locator(".err-startDate")).to_contain_text("must not be after endDate")
    dialog.get_by_label("Start date").fill(days[0].isoformat())
    dialog.get_by_label("End date").fill(days[-1].isoformat())
    expect(dialog.locator(".err-startDate")).to_be_empty()
    expect(dialog.locator(".plan-days")).to_contain_text("3 days")
    expect(dialog.locator(".file-preview li")).to_have_count(3)
    expect(dialog.locator(".file-preview")).to_contain_text(f"AXIS_RECON_{days[0]:%Y%m%d}*.csv")
    shot(page, "backfill-plan")
    dialog.get_by_role("button", name="Start backfill").click()
    expect(dialog.locator("#bf-status")).to_have_text("COMPLETED", timeout=30_000)
    expect(dialog.locator("tr[data-day] .badge", has_text="done")).to_have_count(3)
    expect(dialog.locator("progress")).to_have_attribute("value", "3")
    shot(page, "backfill-done")


def test_checksum_exception_is_resolved_with_a_note(page: Page, app: App, sandbox: Sandbox) -> None:
    day = target_day()
    (name,) = [p.name for p in generate_day(sandbox.upload, day, providers=("AXIS",), rows=10)
               if p.name.startswith("AXIS")]  # fmt: skip
    (sandbox.upload / f"{name}.sha256").write_text(f"{'0' * 64}  {name}\n")
    cid = app.add_connector(sandbox)
    login(page)
    page.locator(f"#card-{cid}").get_by_role("button", name="Run now").click()
    expect(page.locator(".toast").first).to_be_visible()
    page.get_by_role("link", name="Exceptions").click()
    row = page.locator("tbody tr", has_text="CHECKSUM_MISMATCH")
    expect(row).to_have_count(1)
    row.get_by_text("Resolve").first.click()
    row.get_by_label("Note").fill("Bank resent the file; the old copy is discarded.")
    shot(page, "exceptions")
    row.get_by_role("button", name="Resolve").click()
    expect(page.locator("tbody tr", has_text="CHECKSUM_MISMATCH")).to_contain_text(
        "Resolved by ada"
    )
    page.get_by_role("link", name="Recon").click()
    expect(page.get_by_role("heading", name="No reconciliation jobs yet")).to_be_visible()
    shot(page, "recon-empty")


def test_viewer_sees_no_actions_and_is_refused(page: Page, app: App, sandbox: Sandbox) -> None:
    cid = app.add_connector(sandbox)
    login(page, "vic")
    card = page.locator(f"#card-{cid}")
    expect(card.get_by_role("button", name="History")).to_be_visible()
    for action in ("Test", "Run now", "Backfill", "Edit", "Pause"):
        expect(card.get_by_role("button", name=action, exact=True)).to_have_count(0)
    expect(page.get_by_role("button", name="Add Connector")).to_have_count(0)
    shot(page, "viewer")
    csrf = page.evaluate("JSON.parse(document.body.getAttribute('hx-headers'))['X-CSRF-Token']")
    refused = page.request.post(f"/ui/connectors/{cid}/pause", headers={"X-CSRF-Token": csrf})
    assert refused.status == 403
    expect(card.locator(".badge.status-active")).to_have_text("Active")


def test_form_posts_without_csrf_token_are_refused(page: Page, app: App, sandbox: Sandbox) -> None:
    cid = app.add_connector(sandbox)
    login(page)
    assert page.request.post(f"/ui/connectors/{cid}/pause", form={"x": "1"}).status == 403
    # A cross-site style form post: no token, a real browser navigation.
    page.evaluate(
        """cid => { const f = document.createElement('form'); f.method = 'post';
        f.action = '/ui/connectors/' + cid + '/pause';
        document.body.appendChild(f); f.submit(); }""",
        cid,
    )
    expect(page.get_by_role("heading", name="Not allowed")).to_be_visible()
    expect(page.get_by_text("CSRF token is missing or wrong")).to_be_visible()
    shot(page, "csrf-refused")
    page.goto("/ui")
    expect(page.locator(f"#card-{cid} .badge.status-active")).to_have_text("Active")
    expect(page).to_have_url(re.compile(r"/ui$"))
