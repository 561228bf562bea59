"""The page under its Content-Security-Policy in Chromium: the policy is enforced, and a violation is a console
error, which the ``page`` fixture turns into a failed test (so every browser test checks the page obeys it)."""

from __future__ import annotations

from playwright.sync_api import Browser

from tests.conftest import Server


def test_an_inline_script_is_refused_and_reported_as_a_console_error(browser: Browser, web: Server) -> None:
    page = browser.new_page()
    errors: list[str] = []
    page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
    try:
        page.goto(f"{web.url}/")
        page.locator("[data-project]").first.wait_for()
        page.evaluate(
            """() => {
              const script = document.createElement("script");
              script.textContent = "window.ran = true";
              document.head.append(script);
            }"""
        )
        page.wait_for_timeout(200)
        assert page.evaluate("window.ran") is None
        assert any("Content Security Policy" in text for text in errors), errors
    finally:
        page.close()
