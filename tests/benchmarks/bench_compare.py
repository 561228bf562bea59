"""storehouse beside its neighbours and its limits, measured side by side in one run (issue #3).

    .venv/bin/python tests/benchmarks/bench_compare.py --executions 100000 [--json out.json]

Builds one project of realistic executions (~3.8 KB, 5 steps each) through the library, then measures:
- storehouse through the library: open, a status-filtered page, a deep offset page (first time, and again),
  a page deep by cursor, stats, a full reindex;
- the original design on the same files: load every JSON file, filter, sort, slice;
- SQLite queried directly, with a good index, on the same summaries;
- the physical floor: the raw durable-write loop (temp, fsync, rename, directory fsync), serial, serial with one
  SQLite row committed per write, and 8 writers; storehouse's durable creates through the library beside them;
- HTTP: a real `storehouse serve` on 127.0.0.1 and a bare Starlette endpoint returning a pre-encoded body of the
  same size on the same server stack (the ceiling), both driven by wrk with 32 connections (``apt-get install
  wrk``; without it a Python asyncio httpx generator, which is itself the bottleneck and understates both);
  creates over HTTP with 8 concurrent clients; the server's RSS after listing and stats.
Prints a table of medians and ratios and the targets of issue #3, and writes the same as JSON. Not part of the
test suite. ``--executions 1000000 --no-reindex`` checks the 1,000,000-run target (about half an hour).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx
import orjson

from storehouse import Settings, Storehouse

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # run as a script from anywhere
from tests.benchmarks.bench_core import at_least_one, execution, median_ms

HERE = Path(__file__).resolve().parent


def original_design_page(directory: Path, status: str, limit: int = 50) -> list[dict[str, object]]:
    """What the replaced system does for one listing: read every file, filter, sort, slice."""
    documents = [orjson.loads(path.read_bytes()) for path in directory.glob("*.json")]
    matching = [d for d in documents if d["status"] == status]
    matching.sort(key=lambda d: d["startedAt"], reverse=True)
    return matching[:limit]


def raw_sqlite(directory: Path, target: Path) -> sqlite3.Connection:
    """The same summaries in a plain SQLite table with the index a careful engineer would add."""
    connection = sqlite3.connect(target)
    connection.execute("CREATE TABLE s(id TEXT PRIMARY KEY, status TEXT, started_at TEXT, summary BLOB)")
    connection.execute("CREATE INDEX s_status ON s(status, started_at)")
    rows = []
    for path in directory.glob("*.json"):
        document = orjson.loads(path.read_bytes())
        rows.append((document["id"], document["status"], document["startedAt"], orjson.dumps(document)[:600]))
    connection.executemany("INSERT INTO s VALUES (?, ?, ?, ?)", rows)
    connection.commit()
    return connection


def durable_floor(directory: Path, writes: int, writers: int, index: Path | None = None) -> float:
    """Durable writes per second of the bare sequence (temp, fsync, rename, fsync dir), 4 KB each.

    With ``index``, each write also commits one row to a small SQLite table in WAL mode (what any design
    that answers lists from an index must add to the floor).
    """
    directory.mkdir(parents=True, exist_ok=True)
    payload = b"x" * 4096
    connection = None
    if index is not None:
        connection = sqlite3.connect(index, isolation_level=None, check_same_thread=False)
        connection.execute("PRAGMA journal_mode = WAL")
        connection.execute("PRAGMA synchronous = NORMAL")
        connection.execute("CREATE TABLE IF NOT EXISTS rows(id TEXT PRIMARY KEY, status TEXT, started INTEGER)")
        connection.execute("CREATE INDEX IF NOT EXISTS rows_status ON rows(status, started)")

    def work(writer: int) -> None:
        for n in range(writes // writers):
            final = directory / f"{writer}-{n}.json"
            temp = directory / f".{writer}-{n}.tmp"
            fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
            os.write(fd, payload)
            os.fsync(fd)
            os.close(fd)
            os.replace(temp, final)
            dir_fd = os.open(directory, os.O_RDONLY)
            os.fsync(dir_fd)
            os.close(dir_fd)
            if connection is not None:
                connection.execute("INSERT OR REPLACE INTO rows VALUES (?, ?, ?)", (final.name, "completed", n))

    start = time.perf_counter()
    threads = [threading.Thread(target=work, args=(w,)) for w in range(writers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - start
    if connection is not None:
        connection.close()
    return writes / elapsed


def cursor_deep_ms(store: Storehouse) -> float:
    """The median time of a page of 50 reached by cursor half way down the ``status=completed`` listing (at
    least one page, at most 300, however few runs there are)."""
    matching = store.list_executions("bench", status="completed", limit=1).total
    walked, cursor = 0, None
    while walked < matching // 2:  # walk half way by cursor, a page of up to 1,000 at a time
        step = min(1000, matching // 2 - walked)
        cursor = store.list_executions("bench", status="completed", limit=step, cursor=cursor).next_cursor
        walked += step
    samples: list[float] = []
    while len(samples) < 300:  # then every page a new one, until the listing ends
        begin = time.perf_counter()
        cursor = store.list_executions("bench", status="completed", cursor=cursor).next_cursor
        samples.append((time.perf_counter() - begin) * 1000)
        if cursor is None:
            break
    return statistics.median(samples)


def library_creates(store: Storehouse, project: str, writes: int, writers: int) -> float:
    """Durable creates per second through the library, from ``writers`` threads of one process."""

    def work(writer: int) -> None:
        for n in range(writes // writers):
            store.create_execution(project, execution(writer * writes + n))

    start = time.perf_counter()
    threads = [threading.Thread(target=work, args=(w,)) for w in range(writers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return writes / (time.perf_counter() - start)


async def load(url: str, requests: int, concurrency: int, method: str = "GET", body: bytes | None = None) -> float:
    """Requests per second of ``requests`` requests over ``concurrency`` connections (asyncio httpx)."""
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    headers = {"content-type": "application/json"}
    async with httpx.AsyncClient(limits=limits, timeout=60) as client:
        remaining = iter(range(requests))

        async def worker() -> None:
            for _ in remaining:
                answer = await client.request(method, url, content=body, headers=headers)
                assert answer.status_code < 300, answer.text

        start = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        return requests / (time.perf_counter() - start)


def wrk(
    url: str, seconds: int = 10, connections: int = 32, body: bytes | None = None, max_offset: int | None = None
) -> float | None:
    """Requests per second measured by wrk (``apt-get install wrk``), or None when it is not installed.

    wrk is a C load generator: unlike the Python one it is not itself the bottleneck on 2 cores. With a body,
    every request is a POST of it (``post.lua``); a non-2xx answer fails the benchmark. With ``max_offset``, every
    request asks for a random ``offset`` below it (``offsets.lua``), so that most pages are not cached.
    """
    if shutil.which("wrk") is None:
        return None
    command = ["wrk", "-t2", f"-c{connections}", f"-d{seconds}s", url]
    environment = dict(os.environ)
    if body is not None:
        with tempfile.NamedTemporaryFile(suffix=".json", delete=False) as handle:
            handle.write(body)
        environment["BODY_FILE"] = handle.name
        command[1:1] = ["-s", str(HERE / "post.lua")]
    if max_offset is not None:
        environment["MAX_OFFSET"] = str(max_offset)
        command[1:1] = ["-s", str(HERE / "offsets.lua")]
    try:
        output = subprocess.run(
            command, capture_output=True, text=True, check=True, timeout=seconds + 60, env=environment
        ).stdout
    finally:
        if body is not None:
            os.unlink(environment["BODY_FILE"])
    failed = [line for line in output.splitlines() if line.startswith(("Non-2xx", "  Non-2xx"))]
    if any(int(line.split()[-1]) for line in failed):
        raise RuntimeError(f"wrk saw failed requests:\n{output}")
    return float(next(line.split()[1] for line in output.splitlines() if line.startswith("Requests/sec")))


def start_server(command: list[str], port: int) -> subprocess.Popen[bytes]:
    process = subprocess.Popen(command, stderr=subprocess.DEVNULL)
    for _ in range(300):
        try:
            httpx.get(f"http://127.0.0.1:{port}/", timeout=1)
            return process
        except httpx.TransportError:
            time.sleep(0.1)
    process.kill()
    raise RuntimeError(f"server {command} did not start")


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


TARGETS = (  # (result or ratio, comparison, bound): issue #3, at 100,000 executions on a 2-core machine
    ("library_page_ms", "<=", 1.0),
    ("library_page_uncached_ms", "<=", 1.0),
    ("original_design / library page", ">=", 1000.0),
    ("offset half / first page", "<=", 2.0),
    ("cursor deep / first page", "<=", 2.0),
    ("http list / bare starlette", ">=", 0.25),
    ("library_stats_ms", "<=", 5.0),
    ("library create / serial floor", ">=", 0.8),
    ("http_create_8_clients_per_s", ">=", 3000.0),
    ("open_ms", "<=", 1000.0),
    ("reindex_s", "<=", 60.0),
    ("server_rss_mb", "<=", 150.0),
)
TARGETS_1M = (("library_page_ms", "<=", 5.0), ("library_page_uncached_ms", "<=", 5.0))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--executions", type=at_least_one, default=10_000)
    parser.add_argument("--requests", type=int, default=3_000, help="per HTTP figure, when wrk is not installed")
    parser.add_argument("--writes", type=int, default=2_000, help="per durable-write figure")
    parser.add_argument("--seconds", type=int, default=10, help="per HTTP figure measured by wrk")
    parser.add_argument("--no-reindex", action="store_true", help="skip the full reindex (long at 1,000,000)")
    parser.add_argument(
        "--shuffled", action="store_true", help="runs inserted in random time order (the index's worst case)"
    )
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="storehouse-compare-"))
    data = root / "data"
    results: dict[str, float] = {"executions": args.executions}
    try:
        start = time.perf_counter()
        with Storehouse(settings=Settings(data_dir=data, durable=False)) as store:  # building is setup, not measured
            for n in range(args.executions):
                store.create_execution("bench", execution(n, args.shuffled))
        results["build_s"] = time.perf_counter() - start
        directory = data / "projects" / "bench" / "executions"

        start = time.perf_counter()
        store = Storehouse(data)
        store.list_executions("bench", limit=1)
        results["open_ms"] = (time.perf_counter() - start) * 1000
        results["library_page_ms"] = median_ms(lambda: store.list_executions("bench", status="completed"), 300)
        offsets = iter(range(10**9))  # a new offset each time: never a page from the cache
        results["library_page_uncached_ms"] = median_ms(
            lambda: store.list_executions("bench", status="completed", offset=next(offsets) % 500), 300
        )
        half = args.executions // 2
        start = time.perf_counter()  # the first deep offset finds its anchors (and so after every change)
        store.list_executions("bench", status="completed", offset=half)
        results["library_offset_half_first_ms"] = (time.perf_counter() - start) * 1000
        deep = iter(range(half, 10**9))  # then a new deep offset each time: from the anchors, not the page cache
        results["library_offset_half_ms"] = median_ms(
            lambda: store.list_executions("bench", status="completed", offset=next(deep)), 300
        )
        results["library_cursor_deep_ms"] = cursor_deep_ms(store)
        results["library_stats_ms"] = median_ms(lambda: store.execution_stats("bench"), 300)
        repeats = 3 if args.executions <= 200_000 else 1
        results["original_design_page_ms"] = median_ms(lambda: original_design_page(directory, "completed"), repeats)
        raw = raw_sqlite(directory, root / "raw.sqlite3")
        query = "SELECT summary FROM s WHERE status = ? ORDER BY started_at DESC LIMIT 50"
        results["raw_sqlite_page_ms"] = median_ms(lambda: raw.execute(query, ("completed",)).fetchall(), 300)
        raw.close()

        results["floor_serial_per_s"] = durable_floor(root / "floor1", args.writes, 1)
        results["floor_serial_with_sqlite_row_per_s"] = durable_floor(
            root / "floor1i", args.writes, 1, root / "floor.sqlite3"
        )
        results["floor_8_writers_per_s"] = durable_floor(root / "floor8", args.writes, 8)
        results["library_create_per_s"] = library_creates(store, "writes", args.writes, 1)
        results["library_create_8_threads_per_s"] = library_creates(store, "writes8", args.writes, 8)
        if not args.no_reindex:
            start = time.perf_counter()
            store.reindex("bench")
            results["reindex_s"] = time.perf_counter() - start
        store.close()

        port = free_port()
        server = start_server([sys.executable, "-m", "storehouse", "serve", "--data-dir", str(data), "--port",
                               str(port), "--log-level", "warning"], port)  # fmt: skip
        bare: subprocess.Popen[bytes] | None = None
        try:
            base = f"http://127.0.0.1:{port}/api/projects/bench/executions"
            list_url = f"{base}?status=completed"
            asyncio.run(load(list_url, 200, 32))  # warm up: opens the project
            page_bytes = len(httpx.get(list_url).content)
            bare_port = free_port()
            bare_url = f"http://127.0.0.1:{bare_port}/"
            bare = start_server([sys.executable, str(HERE / "bare_starlette.py"), str(bare_port), str(page_bytes)],
                                bare_port)  # fmt: skip
            asyncio.run(load(bare_url, 200, 32))
            # the two servers up at once, measured in turns, so that a noisy neighbour hits both alike
            storehouse_runs, bare_runs = [], []
            for _ in range(3):
                storehouse_runs.append(wrk(list_url, args.seconds) or asyncio.run(load(list_url, args.requests, 32)))
                bare_runs.append(wrk(bare_url, args.seconds) or asyncio.run(load(bare_url, args.requests, 32)))
            results["http_list_per_s"] = statistics.median(storehouse_runs)
            results["bare_starlette_per_s"] = statistics.median(bare_runs)
            if shutil.which("wrk") is not None:  # pages the cache has not seen: the index answers every one
                results["http_list_random_pages_per_s"] = wrk(list_url, args.seconds, max_offset=5000) or 0.0
            results["load_generator_is_wrk"] = float(shutil.which("wrk") is not None)
            asyncio.run(load(f"{base}/stats", 200, 32))
            results["server_rss_mb"] = rss_mb(server.pid)
            body = orjson.dumps(execution(1))
            create_url = f"http://127.0.0.1:{port}/api/projects/http-writes/executions"
            asyncio.run(load(create_url, 50, 8, "POST", body))  # warm up: creates the project
            measured = wrk(create_url, args.seconds, 8, body)
            results["http_create_8_clients_per_s"] = measured or asyncio.run(
                load(create_url, args.writes, 8, "POST", body)
            )
        finally:
            for process in (server, bare):
                if process is not None:
                    process.terminate()
                    process.wait(30)
    finally:
        shutil.rmtree(root, ignore_errors=True)

    ratios = {
        "original_design / library page": results["original_design_page_ms"] / results["library_page_uncached_ms"],
        "library page / raw sqlite page": results["library_page_uncached_ms"] / results["raw_sqlite_page_ms"],
        "offset half / first page": results["library_offset_half_ms"] / results["library_page_uncached_ms"],
        "cursor deep / first page": results["library_cursor_deep_ms"] / results["library_page_uncached_ms"],
        "library create / serial floor": results["library_create_per_s"] / results["floor_serial_per_s"],
        "library create / floor with sqlite row": results["library_create_per_s"]
        / results["floor_serial_with_sqlite_row_per_s"],
        "library 8 threads / 8-writer floor": results["library_create_8_threads_per_s"]
        / results["floor_8_writers_per_s"],
        "http create 8 clients / 8-writer floor": results["http_create_8_clients_per_s"]
        / results["floor_8_writers_per_s"],
        "http list / bare starlette": results["http_list_per_s"] / results["bare_starlette_per_s"],
        "http list random pages / bare starlette": results.get("http_list_random_pages_per_s", 0.0)
        / results["bare_starlette_per_s"],
    }
    figures = {**results, **ratios}
    targets = TARGETS if args.executions < 1_000_000 else TARGETS_1M
    verdicts = {
        name: bool(figures[name] <= bound if op == "<=" else figures[name] >= bound)
        for name, op, bound in targets
        if name in figures
    }
    order = "inserted in random time order" if args.shuffled else "inserted in time order"
    print(f"storehouse compare, {args.executions:,} executions {order}, {os.cpu_count()} cores")
    width = max(map(len, figures))
    for name, value in results.items():
        print(f"  {name:<{width}}  {value:>12,.3f}")
    print("ratios (same run)")
    for name, value in ratios.items():
        print(f"  {name:<{width}}  {value:>12,.3f}")
    print("targets (issue #3)")
    for name, op, bound in targets:
        if name in verdicts:
            print(
                f"  {name:<{width}}  {figures[name]:>12,.3f} {op} {bound:<8,} {'met' if verdicts[name] else 'MISSED'}"
            )
    if args.json:
        args.json.write_bytes(
            orjson.dumps({"results": results, "ratios": ratios, "targets": verdicts}, option=orjson.OPT_INDENT_2)
        )


if __name__ == "__main__":
    main()
