"""Task history at one log size: a read, a count, a durable append and a project-wide read (issue #13 item 6).

    .venv/bin/python tests/benchmarks/bench_history.py [--entries 100000] [--json out.json]

Raises the project's cap to the entries asked for (``historyMaxEntriesPerTask``, at most 100,000), writes one
task's log of that many entries as the store writes them (a file written directly: appending 100,000 entries one by
one to the original design costs a read of the whole log each), plus a second task of 100, then measures medians:
a read with ``limit=1``, ``count``, a one-entry durable append, the project-wide read with ``limit=50``, and a small
read (of the second task) while six threads read the big task with ``limit=50`` (a browser page's worth). The
first access after the log was written is timed too: the index parses the log there, once. Not part of the test
suite. Run it on another checkout with ``PYTHONPATH=<checkout>`` to compare.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import tempfile
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson

import storehouse
from storehouse import Storehouse

TYPES = ["chat_message", "agent_turn", "execution_step", "log", "status_change"]


def timestamp(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def write_log(path: Path, task: str, entries: int) -> None:
    """A log of ``entries`` lines as the store writes them: ids 1..n, createdAt in id order over the last 5 days."""
    start = datetime.now(UTC) - timedelta(days=5)
    step = timedelta(days=5) / max(entries, 1)
    lines = []
    for n in range(1, entries + 1):
        created = start + step * n
        lines.append(
            orjson.dumps(
                {
                    "id": n,
                    "taskId": task,
                    "type": TYPES[n % len(TYPES)],
                    "executionId": f"run-{n // 1000}",
                    "workspaceId": "ws-1",
                    "sessionId": f"session-{n % 7}",
                    "role": "planner" if n % 2 else "coder",
                    "content": f"step {n}: " + "x" * 200,
                    "metadata": {"n": n},
                    "createdAt": timestamp(created),
                    "expiresAt": timestamp(created + timedelta(days=20)),
                }
            )
        )
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"\n".join(lines) + b"\n")


def median_ms(function: Callable[[], object], repeat: int, budget_s: float = 10.0) -> float:
    """The median of up to ``repeat`` runs (at least 3, and no more than ``budget_s`` seconds of them)."""
    samples: list[float] = []
    began = time.perf_counter()
    while len(samples) < repeat and (len(samples) < 3 or time.perf_counter() - began < budget_s):
        start = time.perf_counter()
        function()
        samples.append((time.perf_counter() - start) * 1000)
    return statistics.median(samples)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--entries", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=50)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="storehouse-bench-history-"))
    results: dict[str, float] = {}
    try:
        with Storehouse(root / "data") as store:
            store.set_history_settings("demo", {"historyMaxEntriesPerTask": min(max(args.entries, 100), 100_000)})
            history = root / "data" / "projects" / "demo" / "history"
            write_log(history / "T-big.jsonl", "T-big", args.entries)
            write_log(history / "T-small.jsonl", "T-small", 100)
            started = time.perf_counter()
            first = store.list_history("demo", "T-big", limit=1)
            results["first read after the log was written (ms)"] = (time.perf_counter() - started) * 1000
            assert first.total == args.entries, first.total
            store.list_history("demo", limit=1)  # the small task's first access too
            results["read limit=1 (ms)"] = median_ms(lambda: store.list_history("demo", "T-big", limit=1), args.repeat)
            results["count (ms)"] = median_ms(lambda: store.count_history("demo", "T-big"), args.repeat)
            results["append one entry, durable (ms)"] = median_ms(
                lambda: store.add_history("demo", "T-big", {"type": "log", "content": "one more"}), args.repeat
            )
            results["project-wide read limit=50 (ms)"] = median_ms(
                lambda: store.list_history("demo", limit=50), args.repeat
            )
            results["small read, alone (ms)"] = median_ms(
                lambda: store.list_history("demo", "T-small", limit=50), args.repeat
            )
            stop = threading.Event()

            def reader() -> None:
                while not stop.is_set():
                    store.list_history("demo", "T-big", limit=50)

            readers = [threading.Thread(target=reader) for _ in range(6)]
            for thread in readers:
                thread.start()
            try:
                results["small read, while 6 threads read the big log (ms)"] = median_ms(
                    lambda: store.list_history("demo", "T-small", limit=50), args.repeat
                )
                results["read limit=50 of the big log, 7 at once (ms)"] = median_ms(
                    lambda: store.list_history("demo", "T-big", limit=50), args.repeat
                )
            finally:
                stop.set()
                for thread in readers:
                    thread.join()
    finally:
        shutil.rmtree(root, ignore_errors=True)
    print(f"storehouse from {Path(storehouse.__file__).parent}, {args.entries:,} entries in one task")
    width = max(len(name) for name in results)
    for name, value in results.items():
        print(f"{name:<{width}}  {value:10.3f}")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
