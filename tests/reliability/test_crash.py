"""kill -9 loop: a writer killed at random instants loses no acknowledged write and leaves no partial file."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest

from storehouse import Storehouse

DEFAULT_TRIALS = 100


def _run_and_kill(data_dir: Path, prefix: str, rng: random.Random) -> list[tuple[str, str, int]]:
    writer = subprocess.Popen(
        [sys.executable, "-m", "tests.reliability.workers", "crash", str(data_dir), prefix],
        stdout=subprocess.PIPE,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    assert writer.stdout is not None
    assert writer.stdout.readline() == b"ready\n"
    time.sleep(rng.uniform(0, 0.06))
    writer.send_signal(signal.SIGKILL)
    output = writer.stdout.read()
    writer.wait()
    writer.stdout.close()
    acks = []
    for line in output.decode().splitlines():
        parts = line.split()
        if len(parts) == 3:  # the last line may be cut by the kill: it was not acknowledged
            acks.append((parts[0], parts[1], int(parts[2])))
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
        n += 1


def _lost_writes(directory: Path, prefix: str, acks: list[tuple[str, str, int]]) -> list[str]:
    """Acknowledged writes that are not on disk. The one operation in flight at the kill may or may not
    have happened, so its effect (a newer version, a new file, a missing file) is allowed."""
    operations = _operations(prefix)
    expected: dict[str, int] = {}
    for kind, item, version in acks:
        assert next(operations) == (kind, item)
        expected[item] = -1 if kind == "d" else version
    in_flight = next(operations)
    lost = []
    for item, version in expected.items():
        path = directory / f"{item}.json"
        if version == -1:
            if path.exists():
                lost.append(f"{item}: deleted (acknowledged) but present")
        elif not path.exists():
            if in_flight != ("d", item):
                lost.append(f"{item}: version {version} acknowledged but the file is gone")
        elif (stored := orjson.loads(path.read_bytes())["version"]) < version:
            lost.append(f"{item}: version {version} acknowledged but {stored} is stored")
    return lost


@pytest.mark.slow
def test_kill9_loop_loses_no_acknowledged_write(data_dir: Path, trials: int | None) -> None:
    rng = random.Random(1234)
    count = trials or DEFAULT_TRIALS
    Storehouse(data_dir).close()
    directory = data_dir / "projects" / "crash" / "executions"
    acked = 0
    lost: list[str] = []
    for trial in range(count):
        acks = _run_and_kill(data_dir, f"t{trial}", rng)
        acked += len(acks)
        lost += _lost_writes(directory, f"t{trial}", acks)
        for path in directory.glob("*.json"):
            orjson.loads(path.read_bytes())  # every visible file parses: no partial write is ever visible
        with Storehouse(data_dir) as store:  # opening repairs the index: it must equal the files
            listed, cursor = set(), None
            while True:
                page = store.list_executions("crash", limit=1000, cursor=cursor)
                listed |= {item["id"] for item in page.items}
                if page.next_cursor is None:
                    break
                cursor = page.next_cursor
            assert listed == {path.stem for path in directory.glob("*.json")}
        assert not list(directory.glob(".*.tmp"))  # the open swept the killed writer's temp file
    with Storehouse(data_dir) as store:
        report = store.check()
    print(f"\ncrash-loop: {count} trials, {acked} acked, {len(lost)} lost, check problems {len(report.problems)}")
    assert lost == []
    assert report.problems == []
    assert acked > count  # the writer got real work done between kills
