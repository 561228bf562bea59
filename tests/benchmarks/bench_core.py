"""Core figures of storehouse at one project size: durable creates, list pages, stats, open and reindex.

    .venv/bin/python tests/benchmarks/bench_core.py [--executions 10000] [--json out.json]

Builds a project of realistic executions (~4 KB each, with steps) in a temp directory through the library,
then measures medians side by side in one run. Not part of the test suite. Issue #3 extends it with the
original design, raw SQLite, the durable-write floor and HTTP throughput.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import orjson

from storehouse import Storehouse

STATUSES = ["completed"] * 7 + ["failed"] * 2 + ["running"]


START = 1_767_225_600_000  # 2026-01-01T00:00:00Z in ms


def started_at(n: int, shuffled: bool = False) -> str:
    """When run n started: ~2.6 s after run n-1 with up to 5 s of jitter (a real history arrives roughly in
    time order), or, shuffled, spread over the year in an order unrelated to n (a history back-filled at random,
    the worst case for the index's locality)."""
    if shuffled:
        return f"2026-{1 + n % 12:02d}-{1 + n % 28:02d}T{n % 24:02d}:{n % 60:02d}:{n // 60 % 60:02d}.000Z"
    ms = START + n * 2600 + (n * 7919) % 5000
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ms // 1000)) + f".{ms % 1000:03d}Z"


def execution(n: int, shuffled: bool = False) -> dict[str, object]:
    steps = [
        {"id": f"s{k}", "name": f"step {k}", "agent": "planner" if k % 2 else "coder", "status": "completed",
         "tokenUsage": {"input": 300 + k, "output": 120}, "costUSD": 0.0004, "input": {"prompt": "x" * 250},
         "output": {"text": "y" * 250}}
        for k in range(5)
    ]  # fmt: skip
    return {
        "name": f"workflow-{n % 17}",
        "status": STATUSES[n % len(STATUSES)],
        "startedAt": started_at(n, shuffled),
        "tokenUsage": {"input": 1500 + n % 100, "output": 600},
        "costUSD": 0.002 + (n % 50) / 10000,
        "tags": ["nightly" if n % 2 else "adhoc"],
        "steps": steps,
        "input": {"task": "z" * 300},
    }


def at_least_one(text: str) -> int:
    """An argparse type: a whole number of at least 1 (a benchmark runs at any size, but not at none)."""
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def median_ms(function: Callable[[], object], repeat: int) -> float:
    samples = []
    for _ in range(repeat):
        start = time.perf_counter()
        function()
        samples.append((time.perf_counter() - start) * 1000)
    return statistics.median(samples)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--executions", type=at_least_one, default=10_000)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="storehouse-bench-"))
    results: dict[str, float] = {}
    try:
        data = root / "data"
        with Storehouse(data) as store:
            sizes = len(orjson.dumps(execution(1)))
            start = time.perf_counter()
            timings = []
            for n in range(args.executions):
                begin = time.perf_counter()
                store.create_execution("bench", execution(n))
                timings.append((time.perf_counter() - begin) * 1000)
            results["build_seconds"] = time.perf_counter() - start
            results["create_median_ms"] = statistics.median(timings)
            results["list_first_page_ms"] = median_ms(lambda: store.list_executions("bench", status="completed"), 200)
            results["list_offset_half_ms"] = median_ms(
                lambda: store.list_executions("bench", status="completed", offset=args.executions // 2), 50
            )
            cursor = store.list_executions("bench", status="completed", limit=1000).next_cursor
            results["list_by_cursor_ms"] = median_ms(
                lambda: store.list_executions("bench", status="completed", cursor=cursor), 200
            )
            results["stats_ms"] = median_ms(lambda: store.execution_stats("bench"), 200)
            results["get_one_ms"] = median_ms(lambda: store.get_execution("bench", store.list_executions("bench",
                                              limit=1).items[0]["id"]), 200)  # fmt: skip
        start = time.perf_counter()
        with Storehouse(data) as store:
            store.list_executions("bench", limit=1)
        results["open_current_index_ms"] = (time.perf_counter() - start) * 1000
        with Storehouse(data) as store:
            start = time.perf_counter()
            store.reindex("bench")
            results["reindex_seconds"] = time.perf_counter() - start
        results["executions"] = args.executions
        results["document_bytes"] = sizes
    finally:
        shutil.rmtree(root)
    width = max(map(len, results))
    print(f"storehouse core benchmark, {args.executions:,} executions, {os.cpu_count()} cores")
    for name, value in results.items():
        print(f"  {name:<{width}}  {value:,.3f}" if isinstance(value, float) else f"  {name:<{width}}  {value:,}")
    if args.json:
        args.json.write_bytes(orjson.dumps(results, option=orjson.OPT_INDENT_2))


if __name__ == "__main__":
    main()
