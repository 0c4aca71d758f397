"""Under the Content-Security-Policy the UI works with nothing refused: no violation in Chromium."""

from __future__ import annotations

from playwright.sync_api import ConsoleMessage, Page, expect

from tests.e2e.conftest import App, Sandbox, login


def test_pages_and_dialogs_raise_no_csp_violation(page: Page, app: App, sandbox: Sandbox) -> None:
    problems: list[str] = []

    def console(message: ConsoleMessage) -> None:
        if message.type == "error" or "Content Security Policy" in message.text:
            problems.append(f"{message.type}: {message.text}")

    page.on("console", console)
    page.on("pageerror", lambda exc: problems.append(f"pageerror: {exc}"))
    # securitypolicyviolation fires for every refusal, including ones Chromium does not log.
    page.add_init_script(
        "document.addEventListener('securitypolicyviolation', e => console.error("
        "'CSP violation: ' + e.violatedDirective + ' ' + e.blockedURI))"
    )
    cid = app.add_connector(sandbox)
    page.goto("/ui/login")
    expect(page.get_by_role("button", name="Log in")).to_be_visible()
    login(page)
    expect(page.locator(f"#card-{cid}")).to_be_visible()
    page.get_by_role("button", name="Add Connector").first.click()
    dialog = page.get_by_role("dialog")
    expect(dialog).to_be_visible()
    dialog.get_by_role("tab").nth(1).click()
    page.keyboard.press("Escape")
    expect(dialog).to_be_hidden()
    page.locator(f"#card-{cid}").get_by_role("button", name="History").click()
    expect(page.get_by_role("dialog")).to_be_visible()
    page.keyboard.press("Escape")
    for path in ("/ui/recon", "/ui/exceptions"):
        page.goto(path)
        expect(page.locator("main")).to_be_visible()
    assert problems == []
