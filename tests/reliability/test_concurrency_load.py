"""Concurrency under load: four processes (one of them a real server driven over HTTP) make mixed writes to one
project at once, including If-Match increments of the same shared executions, and lose no update; and reads in
another process always see a write as soon as it is acknowledged (read-your-writes), library and HTTP alike.

Each harness checks real files written by real processes, records one scorecard line, and has a test that plants
the bug it exists to catch (in a worker process only) and shows it going red.
"""

from __future__ import annotations

import itertools
import multiprocessing
import sqlite3
import time
from collections.abc import Callable, Iterator
from contextlib import closing, contextmanager, suppress
from dataclasses import dataclass, field
from multiprocessing.process import BaseProcess
from multiprocessing.queues import Queue
from pathlib import Path
from queue import Empty
from typing import TypeVar

import pytest

from storehouse import InvalidBody, Storehouse
from storehouse.models import JSONObject, load_execution, summarize
from tests.conftest import Server, soak
from tests.reliability import workers
from tests.reliability.workers import LOAD_COUNTERS, LOAD_PROJECT, LOAD_RACES, STATUSES, LoadLog, ProbeLog

_FORKS = multiprocessing.get_context("forkserver")
_FORKS.set_forkserver_preload(["tests.reliability.workers"])

LOAD_WRITES = 500  # per process, in the fast tier
PROBES = 1000  # in the fast tier, split over the three paths
RESULT_TIMEOUT = 240  # seconds a worker may take before the harness gives up on it
T = TypeVar("T")


@contextmanager
def _running(processes: list[BaseProcess]) -> Iterator[None]:
    """Start processes and reap them after the block: joined when it succeeds, killed at once when it fails."""
    for process in processes:
        process.start()
    try:
        yield
    except BaseException:
        for process in processes:
            process.kill()
        raise
    finally:
        for process in processes:
            process.join(30)
            if process.exitcode is None:
                process.kill()
                process.join()


def _gather(queue: Queue[T], processes: list[BaseProcess], count: int, timeout: float) -> list[T]:
    """Take count items from a queue the processes fill, failing fast if one of them dies instead."""
    deadline = time.monotonic() + timeout
    items: list[T] = []
    while len(items) < count:
        try:
            items.append(queue.get(timeout=0.2))
        except Empty:
            dead = [f"{p.name} exited with {p.exitcode}" for p in processes if p.exitcode not in (None, 0)]
            assert not dead, f"a worker died: {dead}"
            assert time.monotonic() < deadline, f"{count - len(items)} of {count} workers did not report in {timeout} s"
    return items


# -- 4 processes x mixed writes -----------------------------------------------------------------------------
@dataclass
class Load:
    """What a mixed-load run saw."""

    processes: int
    writes: int  # per process
    seconds: float = 0.0
    acked: int = 0
    retries: int = 0
    refused: int = 0
    lost_updates: int = 0  # acknowledged writes whose effect the files do not hold
    lost: list[str] = field(default_factory=list)  # what each loss is
    double_acks: list[str] = field(default_factory=list)  # one version of a shared execution acknowledged twice
    unparsable: list[str] = field(default_factory=list)
    unexpected: list[str] = field(default_factory=list)  # files nobody acknowledged, and temp files left
    index_mismatches: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)  # from check()
    errors: list[str] = field(default_factory=list)  # from the writers

    @property
    def line(self) -> str:
        index = "index = scan" if not self.index_mismatches else f"{len(self.index_mismatches)} index mismatches"
        return (
            f"concurrency: {self.processes} processes x {self.writes:,} mixed writes (1 over HTTP), "
            f"{self.acked:,} acked, {self.retries:,} conditional retries, {self.lost_updates} lost updates, "
            f"{len(self.double_acks)} double acks, {index}, check problems {len(self.problems)} ({self.seconds:.1f} s)"
        )

    @property
    def clean(self) -> bool:
        return not (
            self.lost
            or self.double_acks
            or self.unparsable
            or self.unexpected
            or self.index_mismatches
            or self.problems
            or self.errors
        )


def load_run(data_dir: Path, writes: int, planted: str = "") -> Load:
    """Three library processes and a server (driven by a client process) each make ``writes`` mixed writes to
    one project, started together; then the files are checked against what was acknowledged and the index
    against the files. ``planted`` plants a bug in the three library writers."""
    with Storehouse(data_dir) as store:
        for counter in LOAD_COUNTERS:
            store.put_execution(LOAD_PROJECT, counter, {"status": "running", "metadata": {"count": 0}})
    server = Server(data_dir)
    try:
        ready, results = _FORKS.Queue(), _FORKS.Queue()
        start = _FORKS.Event()
        targets = {"lib-a": str(data_dir), "lib-b": str(data_dir), "lib-c": str(data_dir), "http": server.url}
        writers: list[BaseProcess] = [
            _FORKS.Process(
                target=workers.load_writer,
                args=(target, name, writes, seed, ready, start, results, "" if name == "http" else planted),
            )
            for seed, (name, target) in enumerate(targets.items())
        ]
        with _running(writers):
            _gather(ready, writers, len(writers), 60)
            began = time.monotonic()
            start.set()  # all four go at once
            logs: list[LoadLog] = _gather(results, writers, len(writers), RESULT_TIMEOUT)
            seconds = time.monotonic() - began
        seen = Load(processes=len(writers), writes=writes, seconds=seconds)
        seen.errors += [f"{writer.name} exited with {writer.exitcode}" for writer in writers if writer.exitcode]
        _check_index_over_http(server.url, data_dir, seen)
    finally:
        server.stop()
    directory = data_dir / "projects" / LOAD_PROJECT / "executions"
    files = _read_files(directory, seen)
    _check_acknowledged(logs, files, seen)
    with Storehouse(data_dir) as store:
        _check_index(store, data_dir, files, seen)
        seen.problems = store.check().problems
    return seen


def _read_files(directory: Path, seen: Load) -> dict[str, JSONObject]:
    """Every execution file, read directly (each must parse and validate); temp files left are unexpected."""
    files: dict[str, JSONObject] = {}
    for path in sorted(directory.iterdir()):
        if path.suffix != ".json":
            seen.unexpected.append(f"{path.name}: not an execution file (a temp file left?)")
            continue
        try:
            files[path.stem] = load_execution(path.read_bytes(), LOAD_PROJECT, path.stem)
        except InvalidBody as exc:
            seen.unparsable.append(f"{path.name}: {exc.message}")
    return files


def _check_acknowledged(logs: list[LoadLog], files: dict[str, JSONObject], seen: Load) -> None:
    """Every acknowledged write is in the files: own executions are at their last acknowledged version (or gone
    when the last acknowledged write deleted them); each shared counter's count equals the increments
    acknowledged, its version counts every write acknowledged on it (no version was acknowledged twice), and it
    keeps every writer's last touch; and each race id was won by exactly one writer, whose creation is stored."""
    expected: set[str] = set(LOAD_COUNTERS)
    for log in logs:
        seen.acked += sum(log.ops.values())
        seen.retries += log.retries
        seen.refused += log.refused
        seen.errors += [f"{log.name}: {error}" for error in log.errors]
        for item, state in log.own.items():
            stored = files.get(item)
            if state is None:
                if stored is not None:
                    _lose(seen, 1, f"{item}: deleted (acknowledged to {log.name}) but present")
                continue
            expected.add(item)
            version, status = state
            if stored is None:
                _lose(seen, 1, f"{item}: version {version} acknowledged to {log.name} but the file is gone")
            elif stored["version"] < version or (stored["version"] == version and stored["status"] != status):
                _lose(
                    seen, 1, f"{item}: {status} v{version} acknowledged, {stored['status']} v{stored['version']} kept"
                )
    for counter in LOAD_COUNTERS:
        versions = sorted(version for log in logs for version in log.versions.get(counter, []))
        document = files.get(counter)
        if document is None:
            _lose(seen, len(versions), f"{counter}: the file is gone")
            continue
        seen.double_acks += [f"{counter} v{a}" for a, b in itertools.pairwise(versions) if a == b]
        missing = 1 + len(versions) - document["version"]  # every acknowledged write made one version
        if missing:
            _lose(seen, missing, f"{counter}: {len(versions)} writes acknowledged after v1, at v{document['version']}")
        increments = sum(log.increments.get(counter, 0) for log in logs)
        if document["metadata"]["count"] != increments:
            _lose(seen, 0, f"{counter}: {increments} increments acknowledged, count {document['metadata']['count']}")
        for log in logs:
            if document["metadata"].get(f"touch-{log.name}", 0) != log.touches.get(counter, 0):
                _lose(seen, 0, f"{counter}: touch {log.touches.get(counter)} of {log.name} acknowledged, not kept")
    for race in LOAD_RACES:
        winners = [log.name for log in logs if race in log.races_won]
        if len(winners) != 1 or race not in files or files[race]["tags"] != winners:
            _lose(seen, 1, f"{race}: created by {winners} (acknowledged), stored {files.get(race, {}).get('tags')}")
        expected.add(race)
    seen.unexpected += [f"{item}: stored, but no writer acknowledged it" for item in sorted(set(files) - expected)]


def _lose(seen: Load, updates: int, what: str) -> None:
    """Note a loss: ``updates`` acknowledged writes it undid (0 when another line of the same loss counts them)."""
    seen.lost_updates += max(updates, 0)
    seen.lost.append(what)


def _scan(page: Callable[[str | None], tuple[list[JSONObject], str | None]]) -> dict[str, JSONObject]:
    """Every summary of a listing, page by page through the cursor."""
    listed: dict[str, JSONObject] = {}
    cursor: str | None = None
    while True:
        items, cursor = page(cursor)
        for summary in items:
            assert summary["id"] not in listed, f"{summary['id']} listed twice while paging"
            listed[summary["id"]] = summary
        if cursor is None:
            return listed


def _expected_stats(files: dict[str, JSONObject]) -> JSONObject:
    documents = list(files.values())
    return {
        "totalExecutions": len(documents),
        **{status: sum(d["status"] == status for d in documents) for status in STATUSES},
        "totalCostUSD": sum(round(d["costUSD"] * 1e9) for d in documents) / 1e9,
        "inputTokens": sum(d["tokenUsage"]["input"] for d in documents),
        "outputTokens": sum(d["tokenUsage"]["output"] for d in documents),
        "totalTokens": sum(d["tokenUsage"]["total"] for d in documents),
        "totalDuration": sum(d["duration"] or 0 for d in documents),
    }


def _compare(where: str, listed: dict[str, JSONObject], stats: JSONObject, files: dict[str, JSONObject]) -> list[str]:
    """How a listing and stats differ from the files: ids, each summary (status and all), counts and sums."""
    found = [f"{where}: {item} listed, no file" for item in sorted(set(listed) - set(files))]
    found += [f"{where}: {item} has a file, not listed" for item in sorted(set(files) - set(listed))]
    for item in sorted(set(listed) & set(files)):
        if listed[item] != summarize(files[item]):
            found.append(f"{where}: {item} listed as {listed[item]}, file {summarize(files[item])}")
    for name, value in _expected_stats(files).items():
        if stats[name] != pytest.approx(value, abs=1e-9):
            found.append(f"{where}: stats {name} = {stats[name]}, the files say {value}")
    return found


def _check_index(store: Storehouse, data_dir: Path, files: dict[str, JSONObject], seen: Load) -> None:
    """The index equals a scan of the files: a listing paged by cursor, stats, and the versions it holds."""
    listed = _scan(
        lambda cursor: (
            (found := store.list_executions(LOAD_PROJECT, limit=97, cursor=cursor)).items,
            found.next_cursor,
        )
    )
    seen.index_mismatches += _compare("library", listed, store.execution_stats(LOAD_PROJECT), files)
    with closing(sqlite3.connect(f"file:{data_dir / 'index.sqlite3'}?mode=ro", uri=True)) as index:
        rows = index.execute(
            "SELECT e.id, e.version, e.status FROM executions e JOIN projects p ON p.p = e.p WHERE p.name = ?",
            (LOAD_PROJECT,),
        ).fetchall()
    indexed = {item: (version, status) for item, version, status in rows}
    on_disk = {item: (document["version"], document["status"]) for item, document in files.items()}
    seen.index_mismatches += [
        f"index: {item} at {indexed.get(item)}, file at {on_disk.get(item)}"
        for item in sorted(set(indexed) | set(on_disk))
        if indexed.get(item) != on_disk.get(item)
    ]


def _check_index_over_http(url: str, data_dir: Path, seen: Load) -> None:
    """The server, which wrote a quarter of the load, lists and counts what the files hold."""
    client = workers.HttpTarget(url)
    try:
        listed = _scan(lambda cursor: client.page(LOAD_PROJECT, limit=89, cursor=cursor))
        stats = client.stats(LOAD_PROJECT)
    finally:
        client.close()
    files = {}
    for path in (data_dir / "projects" / LOAD_PROJECT / "executions").glob("*.json"):
        with suppress(InvalidBody):  # counted by _read_files
            files[path.stem] = load_execution(path.read_bytes(), LOAD_PROJECT, path.stem)
    seen.index_mismatches += _compare("http", listed, stats, files)


@pytest.mark.slow
def test_four_processes_of_mixed_writes_lose_no_update(data_dir: Path, scorecard: Callable[[str], None]) -> None:
    seen = load_run(data_dir, soak(LOAD_WRITES))
    scorecard(seen.line)
    assert seen.errors == []
    assert seen.lost == []
    assert seen.double_acks == []
    assert (seen.unparsable, seen.unexpected) == ([], [])
    assert seen.index_mismatches == []
    assert seen.problems == []
    assert seen.acked == seen.processes * seen.writes
    assert seen.retries > 0  # the conditional increments really did collide
    assert seen.refused > 0  # and stale If-Match writes were refused


def test_the_load_harness_goes_red_without_the_document_lock(data_dir: Path) -> None:
    # the bug it exists to catch: LockTable.document holds nothing in the three library writers, so two of them
    # can read version n of a counter, both pass the If-Match check, and both write n + 1
    seen = load_run(data_dir, 150, planted="no-document-lock")
    assert not seen.clean
    assert seen.lost_updates > 0  # acknowledged writes missing from the counters
    assert seen.double_acks  # one version acknowledged to two writers


# -- read-your-writes ---------------------------------------------------------------------------------------
PATHS = ("lib->lib", "http->lib", "lib->http")  # the writer's way in -> the reader's
_WRITE_KINDS = (("create", "creates"), ("patch", "patches"), ("delete", "deletes"))


@dataclass
class Probes:
    """What a read-your-writes run saw."""

    paths: tuple[str, ...]
    probes: int = 0
    writes: dict[str, int] = field(default_factory=dict)  # writes probed by kind: create, patch, delete
    stale: dict[str, int] = field(default_factory=dict)  # stale reads by kind: get, list, stats
    examples: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def stale_reads(self) -> int:
        return sum(self.stale.values())

    @property
    def line(self) -> str:
        writes = ", ".join(f"{self.writes.get(kind, 0):,} {plural}" for kind, plural in _WRITE_KINDS)
        kinds = ", ".join(f"{kind} {n}" for kind, n in sorted(self.stale.items()))
        return (
            f"read-your-writes: {self.probes:,} probes across processes ({', '.join(self.paths)}; {writes}), "
            f"{self.stale_reads} stale of {3 * self.probes:,} reads{f' ({kinds})' if kinds else ''} "
            f"({self.seconds:.1f} s)"
        )


def ryw_run(data_dir: Path, probes: int, paths: tuple[str, ...] = PATHS, planted: tuple[str, str] = ("", "")) -> Probes:
    """For each path, a writer process and a reader process (its store opened before the first write) on a
    project of their own, all paths at once: each acknowledged write is read back by the reader at once.
    ``planted`` plants a bug in the library writers and in the library readers."""
    projects = {path: f"ryw-{n}" for n, path in enumerate(paths)}
    with Storehouse(data_dir) as store:
        for project in projects.values():  # the project exists (empty) before the readers open it
            store.delete_execution(project, store.create_execution(project)["id"])
    server = Server(data_dir) if any("http" in path for path in paths) else None
    try:
        ready, results = _FORKS.Queue(), _FORKS.Queue()
        start = _FORKS.Event()
        processes: list[BaseProcess] = []
        for n, (path, project) in enumerate(projects.items()):
            writer_way, reader_way = path.split("->")
            writer_at = server.url if writer_way == "http" and server else str(data_dir)
            reader_at = server.url if reader_way == "http" and server else str(data_dir)
            count = probes // len(paths) + (n < probes % len(paths))
            writer_bug, reader_bug = (
                bug if way == "lib" else "" for bug, way in zip(planted, (writer_way, reader_way), strict=True)
            )
            writer_end, reader_end = _FORKS.Pipe()
            processes += [
                _FORKS.Process(
                    target=workers.probe_writer,
                    args=(writer_at, project, count, n, writer_end, ready, start, writer_bug),
                ),
                _FORKS.Process(
                    target=workers.probe_reader, args=(reader_at, project, reader_end, ready, results, reader_bug)
                ),
            ]
        with _running(processes):
            _gather(ready, processes, len(processes), 60)
            began = time.monotonic()
            start.set()
            logs: list[ProbeLog] = _gather(results, processes, len(paths), RESULT_TIMEOUT)
            seconds = time.monotonic() - began
    finally:
        if server is not None:
            server.stop()
    seen = Probes(paths=paths, seconds=seconds)
    seen.errors += [f"{process.name} exited with {process.exitcode}" for process in processes if process.exitcode]
    for log in logs:
        seen.probes += log.probes
        for kind, n in log.writes.items():
            seen.writes[kind] = seen.writes.get(kind, 0) + n
        for kind, n in log.stale.items():
            seen.stale[kind] = seen.stale.get(kind, 0) + n
        seen.examples += log.examples
        seen.errors += [f"{log.project}: {error}" for error in log.errors]
    return seen


@pytest.mark.slow
def test_reads_in_another_process_see_every_acknowledged_write(
    data_dir: Path, scorecard: Callable[[str], None]
) -> None:
    seen = ryw_run(data_dir, soak(PROBES))
    scorecard(seen.line)
    assert seen.errors == []
    assert seen.probes == soak(PROBES)
    assert seen.stale == {}, seen.examples


@pytest.mark.parametrize(
    ("planted", "stale_kinds"),
    [
        pytest.param(("late-index", ""), {"list", "stats"}, id="writer-acks-before-its-index-commit"),
        pytest.param(("", "frozen-generation"), {"list"}, id="reader-serves-pages-cached-before-the-write"),
    ],
)
def test_the_read_your_writes_harness_goes_red_on_stale_reads(
    data_dir: Path, planted: tuple[str, str], stale_kinds: set[str]
) -> None:
    seen = ryw_run(data_dir, 120, paths=("lib->lib",), planted=planted)
    assert seen.errors == []
    assert seen.probes == 120
    assert set(seen.stale) == stale_kinds  # get reads the file itself, so it stays fresh
    assert seen.stale_reads > 0
