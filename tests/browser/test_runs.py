"""The page's frame and its run views in a real browser (issue #7): projects, a project's runs, one run.

Each test opens the page on the module's seeded server and compares what it shows with ``demo.seeded``;
the screenshots go to ``test-artifacts/screenshots``. Runs written during the tests go to projects of their
own (``live``), so the seeded figures stay true whatever the order.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any

from playwright.sync_api import Browser, Page, expect

from storehouse import Storehouse
from tests.browser.conftest import EXPECT_TIMEOUT_MS, Demo
from tests.conftest import Server

Shot = Callable[[Page, str], Path]
ROWS = "#runs tbody tr[data-id]"
PAGE_SIZE = 50


def showing(first: int, last: int, total: int) -> str:
    """The pager's range text: "51\u2013100 of 240"."""
    return f"{first}\u2013{last} of {total}"


def cost_text(usd: float) -> str:
    """The page's formatCost for amounts of a cent or more."""
    return f"${usd:,.2f}"


def open_runs(page: Page, web: Server, query: str = "") -> None:
    page.goto(f"{web.url}/#/p/demo{query}")
    expect(page.locator("#range")).to_contain_text(" of ")


def shown_ids(page: Page) -> list[str]:
    ids: list[str] = page.locator(ROWS).evaluate_all("rows => rows.map(row => row.dataset.id)")
    return ids


def test_projects_view_lists_projects_with_run_counts_cost_and_tasks(
    page: Page, web: Server, demo: Demo, shot: Shot
) -> None:
    page.goto(f"{web.url}/")
    card = page.locator('[data-project="demo"]')
    expect(card.locator(".runs .value")).to_have_text(f"{len(demo.seeded.runs)}")
    expect(card.locator(".cost .value")).to_have_text(cost_text(sum(run["costUSD"] for run in demo.seeded.runs)))
    expect(card.locator(".tasks .value")).to_have_text(f"{len(demo.seeded.tasks)}")
    expect(page.locator('[data-project="ops"] .runs .value')).to_have_text(f"{demo.seeded.ops_runs}")
    expect(card.locator(".mix span").first).to_be_visible()
    shot(page, "projects")

    card.click()
    expect(page).to_have_url(f"{web.url}/#/p/demo")
    expect(page.locator(".tab.active")).to_have_text("Runs")


def test_runs_list_shows_the_first_page_the_total_and_the_stats(
    page: Page, web: Server, demo: Demo, shot: Shot
) -> None:
    open_runs(page, web)
    expect(page.locator(ROWS)).to_have_count(PAGE_SIZE)
    expect(page.locator("#range")).to_have_text(showing(1, PAGE_SIZE, len(demo.seeded.runs)))
    expect(page.locator("#metrics .metric").first.locator(".value")).to_have_text(f"{len(demo.seeded.runs)}")
    newest = max(demo.seeded.runs, key=lambda run: (run["startedAt"], run["id"]))
    assert shown_ids(page)[0] == newest["id"]
    expect(page.locator("#live")).to_have_class("live on")
    expect(page.locator("#crumbs")).to_have_text("Projects\u203ademo\u203aRuns")
    shot(page, "runs")


def test_status_filter_shows_exactly_the_seeded_failed_runs(page: Page, web: Server, demo: Demo, shot: Shot) -> None:
    failed = demo.seeded.count("failed")
    open_runs(page, web)
    page.locator('.chip[data-status="failed"]').click()
    expect(page.locator("#range")).to_have_text(showing(1, failed, failed))
    expect(page.locator(f"{ROWS} .badge")).to_have_count(failed)
    assert set(page.locator(f"{ROWS} .badge").all_inner_texts()) == {"failed"}
    assert page.evaluate("location.hash") == "#/p/demo?status=failed"
    shot(page, "runs-failed")

    # the filtered view is a shareable link, with several statuses
    both = failed + demo.seeded.count("cancelled")
    open_runs(page, web, "?status=failed,cancelled")
    expect(page.locator("#range")).to_have_text(showing(1, both, both))
    expect(page.locator('.chip[aria-pressed="true"]')).to_have_text(["Failed", "Cancelled"])


def test_tag_and_date_range_filters_match_the_seed(page: Page, web: Server, demo: Demo) -> None:
    def started_on(run: dict[str, Any]) -> date:
        return date.fromisoformat(run["startedAt"][:10])

    tagged = [run for run in demo.seeded.runs if "eval" in run["tags"]]
    first, last = date(2026, 11, 10), date(2026, 11, 12)
    in_range = [run for run in tagged if first <= started_on(run) <= last]
    assert 0 < len(in_range) < len(tagged) < len(demo.seeded.runs)

    open_runs(page, web)
    page.locator('input[name="tag"]').fill("eval")
    page.locator('input[name="tag"]').press("Enter")
    expect(page.locator("#range")).to_have_text(showing(1, PAGE_SIZE, len(tagged)))
    page.locator('input[name="from"]').fill(first.isoformat())
    page.locator('input[name="to"]').fill(last.isoformat())
    expect(page.locator("#range")).to_have_text(showing(1, len(in_range), len(in_range)))
    assert sorted(shown_ids(page)) == sorted(run["id"] for run in in_range)
    assert page.evaluate("location.hash") == "#/p/demo?tag=eval&from=2026-11-10&to=2026-11-12"

    page.locator("#clear-filters").click()
    expect(page.locator("#range")).to_have_text(showing(1, PAGE_SIZE, len(demo.seeded.runs)))


def test_search_finds_runs_by_id_and_by_name_fragment(page: Page, web: Server, demo: Demo, shot: Shot) -> None:
    target = demo.seeded.runs[42]
    open_runs(page, web)
    search = page.locator('input[name="q"]')
    search.fill(target["id"])
    expect(page.locator("#range")).to_have_text(showing(1, 1, 1))
    expect(page.locator(ROWS)).to_have_attribute("data-id", target["id"])

    fragment = "Release-Notes-1"  # any case
    named = [run["id"] for run in demo.seeded.runs if fragment.lower() in run["name"].lower()]
    assert 1 < len(named) < PAGE_SIZE
    search.fill(fragment)
    expect(page.locator("#range")).to_have_text(showing(1, len(named), len(named)))
    assert sorted(shown_ids(page)) == sorted(named)
    shot(page, "runs-search")


def test_next_and_prev_page_through_the_runs(page: Page, web: Server, demo: Demo) -> None:
    total = len(demo.seeded.runs)
    newest_first = [run["id"] for run in sorted(demo.seeded.runs, key=lambda run: (run["startedAt"], run["id"]))][::-1]
    open_runs(page, web)
    first_page = shown_ids(page)
    assert first_page[0] == newest_first[0]
    expect(page.locator("#prev")).to_be_disabled()

    page.locator("#next").click()
    expect(page.locator("#range")).to_have_text(showing(51, 100, total))
    second_page = shown_ids(page)
    assert len(second_page) == PAGE_SIZE
    assert not set(first_page) & set(second_page)
    assert set(first_page) | set(second_page) == set(newest_first[: 2 * PAGE_SIZE])

    page.locator("#next").click()
    page.locator("#next").click()
    page.locator("#next").click()
    expect(page.locator("#range")).to_have_text(showing(201, total, total))
    expect(page.locator("#next")).to_be_disabled()

    for _ in range(3):
        page.locator("#prev").click()
    expect(page.locator("#range")).to_have_text(showing(51, 100, total))
    assert shown_ids(page) == second_page
    page.locator("#prev").click()
    expect(page.locator("#range")).to_have_text(showing(1, 50, total))
    assert shown_ids(page) == first_page


def test_a_row_opens_the_run_with_its_timeline_json_and_task_history(
    page: Page, web: Server, demo: Demo, shot: Shot
) -> None:
    run = next(run for run in demo.seeded.runs if run["taskId"] == "metrics" and run["status"] == "failed")
    open_runs(page, web, f"?q={run['id']}")
    page.locator(f'{ROWS}[data-id="{run["id"]}"] td').first.click()
    expect(page).to_have_url(f"{web.url}/#/p/demo/runs/{run['id']}")

    expect(page.locator("#run-head h1")).to_have_text(run["name"])
    expect(page.locator("#run-head .badge")).to_have_text("failed")
    expect(page.locator("#run-error")).to_contain_text(run["error"])
    expect(page.locator("#task-link")).to_have_attribute("href", "#/p/demo/tasks/metrics")
    expect(page.locator("#steps .bar")).to_have_count(len(run["steps"]))
    expect(page.locator("#steps details.step")).to_have_count(len(run["steps"]))
    expect(page.locator('#data [data-pane="input"] .json')).to_contain_text(run["input"]["ticket"])
    expect(page.locator("#history li")).to_have_count(demo.seeded.history["metrics"])
    expect(page.locator("#history")).to_contain_text("Plan: wrap the call in a retry loop.")
    shot(page, "run")

    # a step opens to its input and output; a JSON branch folds
    last = page.locator("#steps details.step").last
    last.locator("summary").click()
    expect(last.locator(".step-body")).to_contain_text(run["steps"][-1]["input"]["prompt"])
    expect(last.locator(".step-body .notice")).to_contain_text(run["steps"][-1]["error"])
    branch = page.locator('#data [data-pane="input"] .json > details')
    expect(branch).to_have_attribute("open", "")
    branch.locator("> summary").click()
    expect(branch).not_to_have_attribute("open", "")
    page.evaluate("window.scrollTo(0, 0)")  # the sticky top bar would show mid-page in a full-page shot
    shot(page, "run-step")

    page.locator(".back").click()
    expect(page.locator(ROWS)).to_have_count(1)


def test_a_run_written_by_another_process_appears_without_a_reload(
    page: Page, web: Server, demo: Demo, shot: Shot
) -> None:
    with Storehouse(demo.data_dir) as store:
        for number in (1, 2):
            store.create_execution("live", {"id": f"live-{number}", "name": f"warm-up {number}", "status": "completed"})
    page.goto(f"{web.url}/#/p/live")
    expect(page.locator(ROWS)).to_have_count(2)
    expect(page.locator("#live")).to_have_class("live on")

    script = (
        "import sys; from storehouse import Storehouse\n"
        "with Storehouse(sys.argv[1]) as store:\n"
        "    store.create_execution('live', {'id': 'live-3', 'name': 'from another process', 'status': 'running',"
        " 'tags': ['nightly'], 'tokenUsage': {'input': 1200, 'output': 300}, 'costUSD': 0.0123})\n"
    )
    subprocess.run([sys.executable, "-c", script, str(demo.data_dir)], check=True, timeout=30)
    fresh = page.locator(f'{ROWS}[data-id="live-3"]')
    expect(fresh).to_be_visible(timeout=5_000)
    expect(fresh).to_have_class("flash")
    expect(page.locator("#range")).to_have_text(showing(1, 3, 3))
    assert shown_ids(page)[0] == "live-3"
    shot(page, "runs-live")


def test_a_server_with_a_token_asks_for_it_and_then_loads(browser: Browser, demo: Demo, shot: Shot) -> None:
    secured = Server(demo.data_dir, "--token", "s3cret-token-browser")
    # its own page: the first, refused requests are logged as console errors, which the page fixture forbids
    context = browser.new_context(viewport={"width": 1360, "height": 860})
    context.set_default_timeout(EXPECT_TIMEOUT_MS)
    try:
        page = context.new_page()
        crashes: list[str] = []
        page.on("pageerror", lambda error: crashes.append(str(error)))
        page.goto(f"{secured.url}/")
        expect(page.locator("#auth")).to_contain_text("This server needs a token")
        shot(page, "token")

        page.locator('#auth input[name="token"]').fill("s3cret-token-browser")
        page.locator('#auth button[type="submit"]').click()
        expect(page.locator('[data-project="demo"] .runs .value')).to_have_text(f"{len(demo.seeded.runs)}")
        page.locator('[data-project="demo"]').click()
        expect(page.locator(ROWS)).to_have_count(PAGE_SIZE)
        expect(page.locator("#live")).to_have_class("live on")  # the event stream sends the token too

        page.locator("#token-button").click()
        page.locator('.popover button:has-text("Forget the token")').click()
        expect(page.locator("#auth")).to_be_visible()
        assert not crashes
    finally:
        context.close()
        secured.stop()
