"""The API reference at /docs in a real browser: the vendored Swagger UI shows every operation of /openapi.json,
asks for nothing from another host, and tries a request against the live server with the token."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest
from playwright.sync_api import Page, Route, expect

from tests.browser.conftest import Demo
from tests.conftest import Server

METHODS = ("get", "put", "post", "patch", "delete", "head", "options", "trace")
TOKEN = "s3cret-token-docs"
Shot = Callable[[Page, str], Path]


def operation_ids(server: Server) -> list[str]:
    document = httpx.get(f"{server.url}/openapi.json").json()
    return [op["operationId"] for item in document["paths"].values() for key, op in item.items() if key in METHODS]


def offline(page: Page, server: Server) -> list[str]:
    """Refuse every request to another host, and list them: the page must work without any."""
    foreign: list[str] = []
    ours = urlsplit(server.url).netloc

    def check(route: Route) -> None:
        url = route.request.url
        if url.startswith(("data:", "blob:")) or urlsplit(url).netloc == ours:
            route.continue_()
        else:
            foreign.append(url)
            route.abort()

    page.route("**/*", check)
    return foreign


@pytest.fixture(scope="module")
def secured(demo: Demo) -> Iterator[Server]:
    running = Server(demo.data_dir, "--token", TOKEN)
    yield running
    running.stop()


def test_docs_lists_every_operation_of_the_openapi_document_offline(web: Server, page: Page, shot: Shot) -> None:
    foreign = offline(page, web)
    ids = operation_ids(web)
    page.goto(f"{web.url}/docs")
    expect(page).to_have_title("storehouse API")
    expect(page.locator(".opblock")).to_have_count(len(ids))
    shown = page.locator(".opblock").evaluate_all("ops => ops.map(op => op.id)")
    assert sorted(op_id.rsplit("-", 1)[-1] for op_id in shown) == sorted(ids)
    tags = page.locator(".opblock-tag").evaluate_all("ts => ts.map(t => t.dataset.tag)")
    # grouped by what the path is about, not all under "default"
    assert sorted(tags) == ["events", "export", "history", "projects", "runs", "settings", "tasks"]
    expect(page.locator(".swagger-ui .btn.authorize")).to_be_visible()
    expect(page.locator(".swagger-ui .info .title")).to_contain_text("storehouse")
    page.wait_for_load_state("networkidle")
    assert foreign == []
    shot(page, "docs")


def test_try_it_sends_the_token_set_with_authorize_and_keeps_it_for_the_page(
    secured: Server, page: Page, shot: Shot
) -> None:
    foreign = offline(page, secured)
    page.goto(f"{secured.url}/docs")
    page.locator(".swagger-ui .btn.authorize").click()
    dialog = page.locator(".swagger-ui .modal-ux")
    dialog.locator("input").fill(TOKEN)
    dialog.locator("button.authorize").click()
    dialog.locator("button.btn-done").click()
    assert page.evaluate("localStorage.getItem('storehouse.token')") == TOKEN  # the web page uses it too

    operation = page.locator(".opblock[id$='-listProjects']")
    operation.locator(".opblock-summary").click()
    operation.locator(".try-out__btn").click()
    operation.locator(".execute").click()
    expect(operation.locator(".live-responses-table tbody .response-col_status")).to_have_text("200")
    answer = operation.locator(".live-responses-table .response-col_description .microlight").first
    expect(answer).to_contain_text('"id": "demo"')
    assert foreign == []
    shot(page, "docs-try-it")


def test_try_it_uses_the_token_the_web_page_stored(secured: Server, page: Page) -> None:
    page.goto(f"{secured.url}/docs")
    page.evaluate(f"localStorage.setItem('storehouse.token', {TOKEN!r})")
    page.reload()
    expect(page.locator(".swagger-ui .btn.authorize")).to_have_class("btn authorize locked")
    operation = page.locator(".opblock[id$='-getProjectStats'], .opblock[id$='-listProjects']").first
    operation.locator(".opblock-summary").click()
    operation.locator(".try-out__btn").click()
    operation.locator(".execute").click()
    expect(operation.locator(".live-responses-table tbody .response-col_status")).to_have_text("200")
