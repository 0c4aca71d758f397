"""/docs and /redoc load everything from our own origin, and their policy names no other."""

from __future__ import annotations

import re
from urllib.parse import urljoin, urlsplit

from playwright.sync_api import Browser, ConsoleMessage, expect

from tests.e2e.conftest import browser
from tests.security.conftest import Live
from tests.security.test_headers import directives

__all__ = ["browser"]

_REFERENCES = re.compile(r"""(?:src|href)\s*=\s*["']([^"']+)["']|spec-url=["']([^"']+)["']""")
_JS = {"application/javascript", "text/javascript"}


def test_docs_pages_reference_only_same_origin_assets_that_are_served(live: Live) -> None:
    client = live.client(None)
    for page, expected in (
        ("/docs", {"/ui/static/docs/swagger-ui-bundle.js", "/ui/static/docs/swagger-ui.css"}),
        ("/redoc", {"/ui/static/docs/redoc.standalone.js"}),
    ):
        answer = client.get(page)
        assert answer.status_code == 200
        refs = {a or b for a, b in _REFERENCES.findall(answer.text)}
        assert expected <= refs, refs
        for ref in refs:
            url = urlsplit(urljoin(live.url + page, ref))
            assert (url.scheme, url.netloc) == ("http", urlsplit(live.url).netloc), ref
            assert ref.startswith("/"), ref
        for ref in refs - {"/openapi.json", "/ui/static/favicon.svg"}:
            asset = client.get(ref)
            assert asset.status_code == 200, ref
            kind = asset.headers["content-type"].split(";")[0]
            assert kind in (_JS if ref.endswith(".js") else {"text/css"}), (ref, kind)
            assert len(asset.content) > 100_000, ref  # the real bundle, not a stub
        csp = directives(answer.headers["content-security-policy"])
        every_source = [s for sources in csp.values() for s in sources]
        assert not [s for s in every_source if "." in s or s.startswith(("http", "//"))], csp
        assert "'unsafe-inline'" not in csp["script-src"]
        assert "cdn.jsdelivr.net" not in answer.text and "googleapis" not in answer.text


def test_docs_render_in_chromium_without_leaving_the_origin(live: Live, browser: Browser) -> None:
    context = browser.new_context(base_url=live.url)
    tab = context.new_page()
    elsewhere: list[str] = []
    problems: list[str] = []
    tab.on(
        "request",
        lambda r: elsewhere.append(r.url) if not r.url.startswith((live.url, "blob:")) else None,
    )
    failed: list[str] = []
    tab.on("requestfailed", lambda r: failed.append(f"{r.url} {r.failure}"))

    def console(message: ConsoleMessage) -> None:
        if message.type == "error" or "Content Security Policy" in message.text:
            problems.append(f"{message.type}: {message.text}")

    tab.on("console", console)
    tab.on("pageerror", lambda exc: problems.append(f"pageerror: {exc}"))
    tab.add_init_script(
        "document.addEventListener('securitypolicyviolation', e => console.error("
        "'CSP violation: ' + e.violatedDirective + ' ' + e.blockedURI))"
    )
    try:
        tab.goto("/docs")
        expect(tab.locator(".opblock-summary-path").first).to_be_visible(timeout=30_000)
        expect(tab.get_by_text("/ops/connectors").first).to_be_visible()
        tab.goto("/redoc")
        expect(tab.get_by_text("/ops/connectors").first).to_be_attached(timeout=30_000)
    finally:
        context.close()
    # ReDoc's sidebar always asks for Redocly's logo; the policy stops it in the browser, before
    # any request goes out, and ReDoc drops the image. Nothing else may even be attempted.
    badge = "https://cdn.redoc.ly/redoc/logo-mini.svg"
    assert set(elsewhere) <= {badge}
    assert [f for f in failed if not f.startswith(live.url)] == [f"{badge} csp"] * len(elsewhere)
    assert [p for p in problems if badge not in p] == []
