"""Browser tests of the stats and tasks views (issue #7): what the page draws matches what was seeded.

The charts carry one ``[data-date]`` point per day and series, with its value in ``data-value``; the tasks
table and graph carry ``data-task-row`` / ``data-task-id`` with ``data-status`` and ``data-ready``.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from tests.browser.conftest import Demo
from tests.browser.seed import DAYS, LAST_DAY, TASKS
from tests.conftest import Server

Shot = Callable[[Page, str], Path]
SERIES = [("runs", "runs"), ("cost", "cost"), ("tokens", "tokens"), ("duration", "p50"), ("duration", "p95")]


def dates(days: int) -> list[str]:
    return [(LAST_DAY - timedelta(days=days - 1 - n)).date().isoformat() for n in range(days)]


def open_stats(page: Page, web: Server, days: int) -> None:
    page.goto(f"{web.url}/#/p/demo/stats")
    page.click(f"[data-days='{days}']")
    expect(page.locator("[data-chart=runs] [data-date]")).to_have_count(days)


@pytest.mark.parametrize("days", [7, 30, 90])
def test_every_chart_has_a_point_per_day_of_the_range(web: Server, page: Page, days: int) -> None:
    open_stats(page, web, days)
    for chart, series in SERIES:
        points = page.locator(f"[data-chart={chart}] [data-date][data-series={series}]")
        expect(points).to_have_count(days)
        assert points.evaluate_all("ps => ps.map(p => p.dataset.date)") == dates(days)


def test_runs_per_day_match_the_seeded_runs(web: Server, demo: Demo, page: Page, shot: Shot) -> None:
    open_stats(page, web, DAYS)
    per_day = Counter(run["startedAt"][:10] for run in demo.seeded.runs)
    bars = page.locator("[data-chart=runs] [data-date]").evaluate_all(
        "bs => bs.map(b => [b.dataset.date, Number(b.dataset.value), b.querySelector('.bar-label').textContent])"
    )
    assert {date: value for date, value, _ in bars} == dict(per_day)
    assert [int(label) for _, _, label in bars] == [per_day[date] for date in dates(DAYS)]
    for status in ("completed", "failed"):
        segments = page.locator(f"[data-chart=runs] .segment[data-status={status}]")
        shown = sum(segments.evaluate_all("ss => ss.map(s => Number(s.dataset.value))"))
        assert shown == demo.seeded.count(status)
    expect(page.locator("[data-card=runs] .value")).to_have_text(str(len(demo.seeded.runs)))
    day = dates(DAYS)[5]
    page.hover(f"[data-chart=runs] [data-hit='{day}']")
    tip = page.locator("[data-chart=runs] .chart-tip")
    expect(tip).to_be_visible()
    expect(tip.locator(".tip-total .tip-value")).to_have_text(str(per_day[day]))
    shot(page, "stats")


def test_tasks_view_shows_every_task_with_its_status_and_readiness(
    web: Server, demo: Demo, page: Page, shot: Shot
) -> None:
    page.goto(f"{web.url}/#/p/demo/tasks")
    rows = page.locator("[data-task-row]")
    expect(rows).to_have_count(len(TASKS))
    seen = rows.evaluate_all(
        "rs => rs.map(r => [r.dataset.taskRow, r.querySelector('.badge').textContent,"
        " !!r.querySelector('.ready-pill')])"
    )
    assert {task_id: status for task_id, status, _ in seen} == {task[0]: task[2] for task in TASKS}
    assert sorted(task_id for task_id, _, ready in seen if ready) == sorted(demo.seeded.ready)

    nodes = page.locator(".dep-graph .graph-node")
    expect(nodes).to_have_count(len(TASKS))
    drawn = nodes.evaluate_all(
        "ns => ns.map(n => [n.dataset.taskId, n.dataset.status, !!n.querySelector('.ready-tag')])"
    )
    assert sorted(map(tuple, drawn)) == sorted((task[0], task[2], task[0] in demo.seeded.ready) for task in TASKS)
    edges = page.locator(".dep-graph .graph-edge").evaluate_all(
        "es => es.map(e => [e.dataset.from, e.dataset.to, e.dataset.type])"
    )
    assert sorted(map(tuple, edges)) == sorted((target, task[0], kind) for task in TASKS for target, kind in task[4])
    shot(page, "tasks")


def test_filters_narrow_the_table(web: Server, demo: Demo, page: Page) -> None:
    page.goto(f"{web.url}/#/p/demo/tasks")
    rows = page.locator("[data-task-row]")
    expect(rows).to_have_count(len(TASKS))
    page.click("[data-filter-status=ready]")
    expect(rows).to_have_count(len(demo.seeded.ready))
    assert sorted(rows.evaluate_all("rs => rs.map(r => r.dataset.taskRow)")) == sorted(demo.seeded.ready)
    page.click("[data-filter-status=pending]")
    expect(rows).to_have_count(sum(1 for task in TASKS if task[2] == "pending"))
    page.select_option("[data-filter=priority]", "low")
    expect(rows).to_have_count(sum(1 for task in TASKS if task[2] == "pending" and task[3] == "low"))


@pytest.mark.parametrize("task_id", ["metrics", "worker"])
def test_clicking_a_node_opens_the_task(web: Server, demo: Demo, page: Page, shot: Shot, task_id: str) -> None:
    title = next(task[1] for task in TASKS if task[0] == task_id)
    page.goto(f"{web.url}/#/p/demo/tasks")
    page.click(f".dep-graph .graph-node[data-task-id='{task_id}']")
    expect(page).to_have_url(re.compile(rf"#/p/demo/tasks/{task_id}$"))
    detail = page.locator(f".task-detail[data-task-id='{task_id}']")
    expect(detail.locator("h2")).to_have_text(title)
    expect(detail.locator("[data-history-entry]")).to_have_count(demo.seeded.history[task_id])
    expect(detail.locator("[data-context]")).to_contain_text(title)
    runs = sum(1 for run in demo.seeded.runs if run["taskId"] == task_id)
    expect(detail.locator("[data-run]")).to_have_count(min(runs, 10))
    expect(page.locator(f".graph-node.selected[data-task-id='{task_id}']")).to_have_count(1)
    if task_id == "metrics":
        page.mouse.move(0, 0)  # off the graph: hovering a node dims the others
        shot(page, "task")
