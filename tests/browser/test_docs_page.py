"""The API reference at /docs in a real browser: a card for every operation of /openapi.json, a sidebar the
filter narrows, and Try it against the seeded server."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import httpx
from playwright.sync_api import Page, expect

from tests.conftest import Server

METHODS = ("get", "put", "post", "patch", "delete", "head", "options", "trace")


def operation_ids(server: Server) -> list[str]:
    document = httpx.get(f"{server.url}/openapi.json").json()
    return [op["operationId"] for item in document["paths"].values() for key, op in item.items() if key in METHODS]


def test_docs_renders_every_operation_filters_and_tries_a_get(
    web: Server, page: Page, shot: Callable[[Page, str], Path]
) -> None:
    ids = operation_ids(web)
    page.goto(f"{web.url}/docs")
    expect(page).to_have_title("storehouse API")
    expect(page.locator("article.op")).to_have_count(len(ids))
    for operation_id in ("listProjects", "createExecution", "followEvents", ids[-1]):
        expect(page.locator(f'article.op[id="op-{operation_id}"]')).to_have_count(1)
    expect(page.locator("#op-followEvents .try-toggle")).to_have_count(0)  # an event stream never ends

    links = page.locator("#nav .nav-op")
    expect(links).to_have_count(len(ids))
    page.fill("#filter", "transition")
    expect(page.locator('#nav a[href="#op-transitionTask"]')).to_be_visible()
    expect(page.locator('#nav a[href="#op-listProjects"]')).to_be_hidden()
    assert 0 < page.locator("#nav .nav-op:visible").count() < len(ids)
    page.fill("#filter", "")
    expect(page.locator("#nav .nav-op:visible")).to_have_count(len(ids))

    page.click('#nav a[href="#op-getTask"]')
    expect(page.locator("#op-getTask")).to_be_in_viewport()
    assert page.url.endswith("#op-getTask")

    card = page.locator("#op-listProjects")
    card.locator(".try-toggle").click()
    card.locator(".send").click()
    expect(card.locator(".try-status .status")).to_have_text("200 OK")
    expect(card.locator("pre.response")).to_contain_text('"id": "demo"')
    page.locator("#main").evaluate("main => main.scrollTo(0, 0)")  # the title, then the card tried
    shot(page, "docs")
