"""The web page at 100,000 runs (issue #7): every call it makes, over HTTP, and two of its views in a browser.

    .venv/bin/python tests/benchmarks/bench_web.py [--executions 100000] [--json out.json] [--data-dir DIR]

Builds one project of N realistic runs (``bench_core.execution``, started over the last 90 days, twelve workflow
names, a ``prod`` tag on one run in ten) and 200 tasks with ~150 dependencies through the library, non-durably
(the data is thrown away) and from several threads (the index commits their rows together). Then it starts a
real ``storehouse serve`` on 127.0.0.1 and times, with one keep-alive httpx client, 30 requests of each call the
page makes, twice:

- *repeat*: the same request again with the project unchanged, so the server may answer a page from its cache;
- *after a write*: a PATCH of another run (untimed) before each request, as in a project being written to, so
  every answer is worked out from SQLite again.

Then the whole ``executions/export`` streamed, and, with Playwright driving Debian's chromium (headless), the
time from navigation until the runs view shows its 50 rows and until the stats view has drawn its four charts
(each in a fresh browser context, after a write). Prints the medians and p95s; not part of the test suite.
``--data-dir DIR`` builds the project there and keeps it, and reuses it on the next run.
"""

from __future__ import annotations

import argparse
import math
import os
import platform
import shutil
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from urllib.parse import urlencode

import httpx
import orjson
from playwright.sync_api import Browser, sync_playwright

from storehouse import Settings, Storehouse
from storehouse.models import format_timestamp

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # run as a script from anywhere
from tests.benchmarks.bench_core import at_least_one, execution
from tests.servers import Server, chromium_path

PROJECT = "bench"
DAYS = 90  # runs start over this many days, ending now
TASKS = 200
REPEAT = 30  # requests of each call, per column
BROWSER_REPEAT = 5
EXPORT_REPEAT = 3
PAGE = 50  # the page size of the runs view
DEEP_PAGES = 1000  # the cursor chain goes this many pages deep and offset= skips as many (at most half the runs)
SLOW_MS = 100.0  # a call slower than this (median) at 100,000 runs is marked slow
# creates/s here (2 cores, non-durable): 535 from one thread, ~1,000 from 2-4 (group commit shares the index's
# transactions), and no better from several processes (they queue on SQLite's write lock instead)
BUILD_THREADS = 4
WORKFLOWS = (
    "triage-issue",
    "summarize-ticket",
    "code-review",
    "fix-flaky-test",
    "write-release-notes",
    "refactor-module",
    "nightly-report",
    "deploy-check",
    "support-reply",
    "data-cleanup",
    "security-scan",
    "translate-docs",
)
PRIORITIES = ("critical", "high", "medium", "low")
ROWS_SHOWN = "() => document.querySelectorAll('#runs tbody tr[data-id]').length >= {rows} && performance.now()"
CHARTS_DRAWN = (
    "() => ['runs', 'cost', 'tokens', 'duration'].every((chart) => "
    "document.querySelectorAll(`[data-chart=${chart}] [data-date]`).length >= 30) && performance.now()"
)  # the stats view shows 30 days unless told otherwise: a point (or bar) per day and series


def run(n: int, count: int, end: datetime) -> dict[str, object]:
    """Run n of count: bench_core's document (~4 KB, five steps) started at its share of the DAYS days before end
    (jittered), lasting 2 s to ~3 min (a long tail), named after one of twelve workflows, tagged nightly or adhoc,
    a team, and ``prod`` one time in ten; one run in five belongs to a task. Only the newest 20 still run."""
    step = DAYS * 86_400_000 // count
    started = end - timedelta(days=DAYS) + timedelta(milliseconds=n * step + n * 7919 % step)
    document = execution(n)
    status = document["status"]
    if status == "running" and n < count - 20:
        status = "cancelled" if n % 30 == 9 else "completed"
    document.update(
        name=WORKFLOWS[n % len(WORKFLOWS)],
        status=status,
        startedAt=format_timestamp(started),
        tags=["nightly" if n % 2 else "adhoc", f"team-{n % 6}", *(["prod"] if n % 10 == 0 else [])],
    )
    if status != "running":
        duration = 2000 + (n * 7919 % 1000) ** 2 // 6
        document["completedAt"] = format_timestamp(started + timedelta(milliseconds=duration))
    if status == "failed":
        document["error"] = "TimeoutError: step s3 did not answer within 120 s"
    if n % 5 == 0:
        document["taskId"] = task_id(n // 5 % TASKS)
    return document


def task_id(k: int) -> str:
    return f"task-{k:03d}"


def build(data: Path, count: int) -> dict[str, float]:
    """Create count runs and TASKS tasks in data through the library; return how long each part took."""
    end = datetime.now(UTC).replace(second=0, microsecond=0)
    with Storehouse(data, settings=Settings(durable=False)) as store:
        start = time.perf_counter()

        def create(first: int) -> None:
            for n in range(first, count, BUILD_THREADS):
                store.create_execution(PROJECT, run(n, count, end))

        with ThreadPoolExecutor(BUILD_THREADS) as pool:
            list(pool.map(create, range(BUILD_THREADS)))
        runs_seconds = time.perf_counter() - start
        start = time.perf_counter()
        create_tasks(store)
        tasks_seconds = time.perf_counter() - start
    return {"runs_seconds": runs_seconds, "runs_per_second": count / runs_seconds, "tasks_seconds": tasks_seconds}


def create_tasks(store: Storehouse) -> None:
    """TASKS tasks; three in four depend on an earlier one (a tree, so no cycle), one edge in five ``related``.
    The first 60 have succeeded and the next 20 are running."""
    for k in range(TASKS):
        store.create_task(
            PROJECT,
            id=task_id(k),
            title=f"{WORKFLOWS[k % len(WORKFLOWS)]} #{k}",
            priority=PRIORITIES[k % len(PRIORITIES)],
            tags=[f"team-{k % 6}"],
            assignedTo=f"agent-{k % 7}",
            complexityScore=1 + k % 10,
        )
        if k and k % 4:
            store.add_dependency(PROJECT, task_id(k), task_id((k - 1) // 2), "related" if k % 5 == 0 else "blocks")
        for to in ("running", "succeeded") if k < 60 else ("running",) if k < 80 else ():
            store.transition_task(PROJECT, task_id(k), to)


def percentile(samples: list[float], share: float) -> float:
    """The nearest-rank percentile (0.95: the 29th of 30 samples)."""
    ordered = sorted(samples)
    return ordered[max(0, math.ceil(share * len(ordered)) - 1)]


@dataclass
class Figure:
    """One call: median and p95 in ms asked again unchanged and asked after a write, its size and matches."""

    call: str
    url: str
    repeat_median_ms: float
    repeat_p95_ms: float
    written_median_ms: float
    written_p95_ms: float
    kilobytes: float
    total: int | None  # the matches a listing reports


class Bench:
    """Times GET requests to a running server over one keep-alive connection; writes to one run between them."""

    def __init__(self, client: httpx.Client) -> None:
        self.client = client
        self.runs = f"/api/projects/{PROJECT}/executions"
        oldest = client.get(self.runs, params={"sort": "startedAt", "limit": 1}).json()
        self.touched = oldest["executions"][0]["id"]  # far from the pages measured; its metadata is not listed
        self.touches = 0

    def touch(self) -> None:
        """Change the project (one durable PATCH), so the server's cached pages and anchors are stale."""
        self.touches += 1
        response = self.client.patch(f"{self.runs}/{self.touched}", json={"metadata": {"touch": self.touches}})
        response.raise_for_status()

    def get(self, url: str) -> tuple[float, httpx.Response]:
        start = time.perf_counter()
        response = self.client.get(url)  # reads the whole body
        elapsed = (time.perf_counter() - start) * 1000
        response.raise_for_status()
        return elapsed, response

    def measure(self, call: str, url: str) -> Figure:
        _, response = self.get(url)  # the first request opens the project and fills what is cached
        repeat = [self.get(url)[0] for _ in range(REPEAT)]
        written = []
        for _ in range(REPEAT):
            self.touch()
            written.append(self.get(url)[0])
        body = response.json()
        total = body.get("total") if isinstance(body, dict) else None
        figure = Figure(
            call,
            url,
            statistics.median(repeat),
            percentile(repeat, 0.95),
            statistics.median(written),
            percentile(written, 0.95),
            len(response.content) / 1024,
            total if isinstance(total, int) else None,
        )
        print(f"  {call:<44} {figure.repeat_median_ms:8.2f} {figure.written_median_ms:8.2f} ms", file=sys.stderr)
        return figure


def listing(base: str, **params: str | int) -> str:
    return f"{base}?{urlencode(params)}"


def measure_calls(bench: Bench, count: int) -> tuple[list[Figure], tuple[int, float]]:
    """Every call of the projects, runs, stats and tasks views; and how long the cursor chain took."""
    runs, project = bench.runs, f"/api/projects/{PROJECT}"
    newest = bench.client.get(runs, params={"limit": PAGE}).json()
    first = newest["executions"]
    day = date.fromisoformat(first[0]["startedAt"][:10]) - timedelta(days=DAYS // 2)
    pages = max(1, min(DEEP_PAGES, count // PAGE // 2))
    cursor = newest["nextCursor"]
    start = time.perf_counter()
    for _ in range(pages - 2):  # page 2 is the cursor's page; the last hop goes to page ``pages``
        if cursor is None:  # a small project: the listing ended
            break
        cursor = bench.client.get(runs, params={"limit": PAGE, "cursor": cursor}).json()["nextCursor"]
    chain = (pages, time.perf_counter() - start)
    deep_cursor = cursor
    calls = [
        ("projects", "/api/projects"),
        ("project card: newest 8", listing(runs, limit=8)),
        ("runs: first page", listing(runs, limit=PAGE)),
        ("runs: status=failed", listing(runs, status="failed", limit=PAGE)),
        ("runs: tag=prod (1 in 10)", listing(runs, tag="prod", limit=PAGE)),
        (
            "runs: one day (startedAfter/Before)",
            listing(
                runs,
                startedAfter=f"{day.isoformat()}T00:00:00.000Z",
                startedBefore=f"{(day + timedelta(days=1)).isoformat()}T00:00:00.000Z",
                limit=PAGE,
            ),
        ),
        ("runs: q=id prefix (10 chars)", listing(runs, q=first[min(7, len(first) - 1)]["id"][:10], limit=PAGE)),
        ("runs: q=name fragment 'review' (1 in 12)", listing(runs, q="review", limit=PAGE)),
        ("runs: q=no match", listing(runs, q="no-such-run", limit=PAGE)),
        ("runs: next page (cursor)", listing(runs, limit=PAGE, cursor=newest["nextCursor"])),
        (f"runs: page {pages:,} by cursor (last hop)", listing(runs, limit=PAGE, cursor=deep_cursor)),
        (f"runs: offset={pages * PAGE:,}", listing(runs, limit=PAGE, offset=pages * PAGE)),
        ("stats", f"{runs}/stats"),
        ("stats/daily?days=30", listing(f"{runs}/stats/daily", days=30)),
        ("stats/daily?days=90", listing(f"{runs}/stats/daily", days=90)),
        ("one run", f"{runs}/{first[min(3, len(first) - 1)]['id']}"),
        ("tasks: table page", listing(f"{project}/tasks", limit=PAGE, offset=0)),
        ("tasks: ready", listing(f"{project}/tasks", ready="true", limit=1000, offset=0)),
        ("tasks/order", f"{project}/tasks/order"),
        ("metrics", f"{project}/metrics"),
    ]
    # a project of fewer than two pages has no cursor to follow: those rows are left out
    return [bench.measure(call, url) for call, url in calls if "cursor=None" not in url], chain


@dataclass
class Export:
    """The whole executions export, streamed: its lines and size, and the median of the times it took."""

    runs: int
    megabytes: float
    median_seconds: float
    runs_per_second: float
    megabytes_per_second: float


def measure_export(client: httpx.Client) -> Export:
    """Stream the whole executions export EXPORT_REPEAT times."""
    seconds, lines, size = [], 0, 0
    for _ in range(EXPORT_REPEAT):
        start = time.perf_counter()
        lines = size = 0
        with client.stream("GET", f"/api/projects/{PROJECT}/executions/export") as response:
            response.raise_for_status()
            for chunk in response.iter_bytes():
                size += len(chunk)
                lines += chunk.count(b"\n")
        seconds.append(time.perf_counter() - start)
    median = statistics.median(seconds)
    return Export(lines, size / 1e6, median, lines / median, size / 1e6 / median)


@dataclass
class View:
    """From navigation until a view shows what it is for, in ms: in the page, and seen from here."""

    in_page_median_ms: float
    in_page_max_ms: float
    wall_median_ms: float
    errors: list[str]


def measure_browser(url: str, touch: Callable[[], None], count: int) -> tuple[str, dict[str, View]]:
    """The chromium version; navigation to the runs view until 50 rows show, and to the stats view until its
    charts are drawn: in-page (performance.now() at the first animation frame that has them) and seen from here.
    """
    views: dict[str, View] = {}
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium_path(), headless=True)
        try:
            rows_shown = ROWS_SHOWN.format(rows=min(PAGE, count))
            for view, where, shown in (("runs", "", rows_shown), ("stats", "/stats", CHARTS_DRAWN)):
                in_page, wall, errors = [], [], []
                for _ in range(BROWSER_REPEAT):
                    touch()
                    seen, waited, logged = load(browser, f"{url}/#/p/{PROJECT}{where}", shown)
                    in_page.append(seen)
                    wall.append(waited)
                    errors += logged
                views[view] = View(statistics.median(in_page), max(in_page), statistics.median(wall), errors)
            return browser.version, views
        finally:
            browser.close()


def load(browser: Browser, url: str, shown: str) -> tuple[float, float, list[str]]:
    """Open url in a fresh context (nothing cached) and wait until ``shown`` (JavaScript) returns a time.

    Returns that time (ms since navigation, in the page), the ms it took seen from here, and the page's errors.
    """
    errors: list[str] = []
    context = browser.new_context(viewport={"width": 1360, "height": 860})
    try:
        page = context.new_page()
        page.on("pageerror", lambda error: errors.append(str(error)))
        start = time.perf_counter()
        page.goto(url, wait_until="commit")
        handle = page.wait_for_function(shown, polling="raf", timeout=60_000)
        waited = (time.perf_counter() - start) * 1000
        return float(handle.json_value()), waited, errors
    finally:
        context.close()


@dataclass
class Results:
    """Everything one run of the benchmark found (written as JSON by --json)."""

    executions: int
    machine: dict[str, object]
    build: dict[str, float] | None  # None: a kept project was reused
    calls: list[Figure]
    chain_pages: int
    chain_seconds: float
    export: Export
    chromium: str
    views: dict[str, View]
    index_megabytes: float


def machine() -> dict[str, object]:
    info = Path("/proc/cpuinfo")
    lines = info.read_text().splitlines() if info.exists() else []
    cpu = next((line.split(":", 1)[1].strip() for line in lines if line.startswith("model name")), platform.machine())
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "memory_gb": round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1),
        "system": platform.platform(),
        "python": platform.python_version(),
        "sqlite": sqlite3.sqlite_version,
        "load_average": [round(load, 2) for load in os.getloadavg()],  # others' work on this machine skews figures
    }


def report(results: Results) -> None:
    info = results.machine
    print(f"storehouse web benchmark, {results.executions:,} runs in one project")
    print(f"{info['cpu']}, {info['cores']} cores, {info['memory_gb']} GB; {info['system']}")
    print(f"load average before the measurements: {info['load_average']} (1, 5, 15 min)")
    print(f"Python {info['python']}, SQLite {info['sqlite']}, chromium {results.chromium}")
    built = results.build
    print(
        "build: a kept project, reused"
        if built is None
        else f"build (library, non-durable, {BUILD_THREADS} threads): {built['runs_seconds']:.1f} s for the runs "
        f"({built['runs_per_second']:,.0f}/s), {built['tasks_seconds']:.1f} s for {TASKS} tasks",
        f"; index {results.index_megabytes:.0f} MB",
        sep="",
    )
    print(f"\nGET, ms over {REPEAT} requests each (repeat: the same request again; written: after a PATCH)")
    width = max(len(f.call) for f in results.calls)
    print(f"{'call':<{width}}  {'repeat p50':>10} {'p95':>7}  {'written p50':>11} {'p95':>7}  {'KB':>6}  {'total':>7}")
    for f in results.calls:
        total = "" if f.total is None else f"{f.total:,}"
        slow = "  slow" if max(f.repeat_median_ms, f.written_median_ms) > SLOW_MS else ""
        print(
            f"{f.call:<{width}}  {f.repeat_median_ms:10.2f} {f.repeat_p95_ms:7.2f}  {f.written_median_ms:11.2f} "
            f"{f.written_p95_ms:7.2f}  {f.kilobytes:6.1f}  {total:>7}{slow}"
        )
    print(f"\ncursor chain to page {results.chain_pages:,}: {results.chain_seconds:.1f} s")
    export = results.export
    print(
        f"export (whole executions, streamed, median of {EXPORT_REPEAT}): {export.runs:,} runs, "
        f"{export.megabytes:.0f} MB in {export.median_seconds:.1f} s = {export.runs_per_second:,.0f} runs/s, "
        f"{export.megabytes_per_second:.1f} MB/s"
    )
    print(f"\nbrowser (headless; median of {BROWSER_REPEAT}, each in a fresh context after a write)")
    for name, what in (("runs", f"{min(PAGE, results.executions)} rows show"), ("stats", "the four charts are drawn")):
        view = results.views[name]
        errors = f"; page errors: {view.errors}" if view.errors else ""
        print(
            f"  {name:<5} view until {what:<25} in page {view.in_page_median_ms:7.1f} ms (max "
            f"{view.in_page_max_ms:.1f}), seen from Python {view.wall_median_ms:7.1f} ms{errors}"
        )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--executions", type=at_least_one, default=100_000)
    parser.add_argument("--json", type=Path)
    parser.add_argument("--data-dir", type=Path, help="build the project here and keep it (reused if present)")
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="storehouse-bench-web-"))
    data = args.data_dir or root / "data"
    index = data / "index.sqlite3"
    try:
        built = None
        if not index.exists():
            print(f"building {args.executions:,} runs and {TASKS} tasks in {data}", file=sys.stderr)
            built = build(data, args.executions)
        info = machine()
        server = Server(data)
        try:
            with httpx.Client(base_url=server.url, timeout=600) as client:
                bench = Bench(client)
                count = client.get(bench.runs, params={"limit": 1}).json()["total"]  # a kept project may differ
                calls, (pages, seconds) = measure_calls(bench, count)
                export = measure_export(client)
                chromium, views = measure_browser(server.url, bench.touch, count)
        finally:
            server.stop()
        size = sum(path.stat().st_size for path in data.glob("index.sqlite3*") if path.is_file()) / 1e6
        results = Results(count, info, built, calls, pages, seconds, export, chromium, views, size)
    finally:
        shutil.rmtree(root)
    report(results)
    if args.json:
        args.json.write_bytes(orjson.dumps(asdict(results), option=orjson.OPT_INDENT_2))


if __name__ == "__main__":
    main()
