"""kill -9 loop: a writer killed at random instants (creating, replacing, patching, deleting executions and appending
to its task's history) loses no acknowledged write and leaves no partial file."""

from __future__ import annotations

import multiprocessing
import random
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import orjson
import pytest

from storehouse import Storehouse
from storehouse.history import read_entries
from tests.conftest import soak
from tests.reliability import workers

DEFAULT_TRIALS = 500
_FORKS = multiprocessing.get_context("forkserver")
_FORKS.set_forkserver_preload(["tests.reliability.workers"])


def _run_and_kill(data_dir: Path, prefix: str, rng: random.Random, planted: str = "") -> list[tuple[str, str, int]]:
    """Start a writer (forked from a pre-imported server process: ~10 ms), let it work for a random instant
    of up to 60 ms, kill -9 it, and return what it acknowledged."""
    acks_file = data_dir.parent / f"{prefix}.acks"
    writer = _FORKS.Process(target=workers.crash_writer, args=(str(data_dir), prefix, str(acks_file), planted))
    writer.start()
    deadline = time.monotonic() + 30
    while not (acks_file.exists() and acks_file.read_bytes().startswith(b"ready\n")):
        assert time.monotonic() < deadline, "the writer did not start"
        time.sleep(0.001)
    time.sleep(rng.uniform(0, 0.06))
    writer.kill()
    writer.join()
    acks = []
    for line in acks_file.read_bytes().decode().splitlines()[1:]:
        parts = line.split()
        if len(parts) == 3 and parts[2].isdigit():  # a line cut by the kill was not acknowledged
            acks.append((parts[0], parts[1], int(parts[2])))
    acks_file.unlink()
    return acks


def _operations(prefix: str) -> Iterator[tuple[str, str]]:
    """The writer's sequence of operations (mirrors workers.crash_writer)."""
    n = 0
    while True:
        yield "c", f"{prefix}-{n}"
        if n >= 1:
            yield "u", f"{prefix}-{n - 1}"
        if n >= 2 and n % 3 == 0:
            yield "d", f"{prefix}-{n - 2}"
        yield "h", prefix
        n += 1


def _lost_writes(directory: Path, prefix: str, acks: list[tuple[str, str, int]]) -> list[str]:
    """Acknowledged writes that are not on disk. The one operation in flight at the kill may or may not
    have happened, so its effect (a newer version, a new file, a missing file) is allowed."""
    operations = _operations(prefix)
    expected: dict[str, int] = {}
    history: list[int] = []
    for kind, item, version in acks:
        assert next(operations) == (kind, item)
        if kind == "h":
            history.append(version)
        else:
            expected[item] = -1 if kind == "d" else version
    in_flight = next(operations)
    lost = []
    stored_ids = {entry["id"] for entry in read_entries(directory.parent / "history" / f"{prefix}.jsonl")}
    for entry_id in history:  # every acknowledged append is there (the cap of 100 may have dropped older ones)
        if entry_id not in stored_ids and entry_id > max(history) - 100:
            lost.append(f"history {prefix}: entry {entry_id} acknowledged but not in the file")
    for item, version in expected.items():
        path = directory / f"{item}.json"
        if version == -1:
            if path.exists():
                lost.append(f"{item}: deleted (acknowledged) but present")
        elif not path.exists():
            if in_flight != ("d", item):
                lost.append(f"{item}: version {version} acknowledged but the file is gone")
        elif (stored := _stored_version(path)) < version:
            lost.append(f"{item}: version {version} acknowledged but {stored} is stored")
    return lost


def _stored_version(path: Path) -> int:
    try:
        version: int = orjson.loads(path.read_bytes())["version"]
    except orjson.JSONDecodeError:
        return -1  # torn: whatever was acknowledged for it is lost
    return version


@dataclass
class CrashLoop:
    """What a crash loop saw."""

    trials: int = 0
    acked: int = 0
    lost: list[str] = field(default_factory=list)
    unreadable: list[str] = field(default_factory=list)
    index_mismatches: int = 0
    temp_files_left: int = 0
    problems: list[str] = field(default_factory=list)

    @property
    def line(self) -> str:
        return (
            f"crash-loop: {self.trials:,} trials, {self.acked:,} acked, {len(self.lost)} lost, "
            f"{len(self.unreadable)} unparsable files, {self.index_mismatches} index mismatches, "
            f"{self.temp_files_left} temp files left, check problems {len(self.problems)}"
        )

    @property
    def clean(self) -> bool:
        return not (self.lost or self.unreadable or self.index_mismatches or self.temp_files_left or self.problems)


def crash_loop(data_dir: Path, count: int, planted: str = "") -> CrashLoop:
    """Run ``count`` kill -9 trials of the writer (with a bug planted in it, for the harness's own test)."""
    rng = random.Random(1234)
    Storehouse(data_dir).close()
    directory = data_dir / "projects" / "crash" / "executions"
    seen = CrashLoop(trials=count)
    for trial in range(count):
        acks = _run_and_kill(data_dir, f"t{trial}", rng, planted)
        seen.acked += len(acks)
        seen.lost += _lost_writes(directory, f"t{trial}", acks)
        for path in (data_dir / "projects" / "crash" / "history").glob("*.jsonl"):  # every whole line parses
            for line in path.read_bytes().split(b"\n")[:-1]:
                try:
                    orjson.loads(line)
                except orjson.JSONDecodeError:
                    seen.unreadable.append(f"{path.name}: {line[:40]!r}")
        for path in directory.glob("*.json"):  # every visible file parses: no partial write is ever visible
            try:
                orjson.loads(path.read_bytes())
            except orjson.JSONDecodeError:
                seen.unreadable.append(path.name)
                path.unlink()  # counted; the next trials go on from a clean state
        with Storehouse(data_dir) as store:  # opening repairs the index: it must equal the files
            listed, cursor = set(), None
            while True:
                page = store.list_executions("crash", limit=1000, cursor=cursor)
                listed |= {item["id"] for item in page.items}
                if page.next_cursor is None:
                    break
                cursor = page.next_cursor
            seen.index_mismatches += len(listed ^ {path.stem for path in directory.glob("*.json")})
        seen.temp_files_left += len(list(directory.glob(".*.tmp")))  # the open sweeps a killed writer's temp
    with Storehouse(data_dir) as store:
        seen.problems = store.check().problems
    return seen


@pytest.mark.slow
def test_kill9_loop_loses_no_acknowledged_write(
    data_dir: Path, trials: int | None, scorecard: Callable[[str], None]
) -> None:
    seen = crash_loop(data_dir, trials or soak(DEFAULT_TRIALS))
    scorecard(seen.line)
    assert seen.lost == []
    assert seen.unreadable == []
    assert (seen.index_mismatches, seen.temp_files_left, seen.problems) == (0, 0, [])
    assert seen.acked > seen.trials  # the writer got real work done between kills


def test_the_crash_loop_goes_red_when_writes_are_made_in_place(data_dir: Path) -> None:
    seen = crash_loop(data_dir, 40, planted="in-place")  # the bug it exists to catch: no temp file and rename
    assert not seen.clean
    assert seen.unreadable
