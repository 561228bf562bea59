"""kill -9 loop: a writer killed at random instants loses no acknowledged write and leaves no partial file."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
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


@pytest.mark.slow
def test_kill9_loop_loses_no_acknowledged_write(data_dir: Path, trials: int | None) -> None:
    rng = random.Random(1234)
    count = trials or DEFAULT_TRIALS
    Storehouse(data_dir).close()
    directory = data_dir / "projects" / "crash" / "executions"
    acked = lost = 0
    for trial in range(count):
        acks = _run_and_kill(data_dir, f"t{trial}", rng)
        acked += len(acks)
        expected: dict[str, int] = {}
        for kind, item, version in acks:
            expected[item] = -1 if kind == "d" else max(version, expected.get(item, 0))
        for item, version in expected.items():
            path = directory / f"{item}.json"
            if version == -1:
                lost += path.exists()
            elif not path.exists() or orjson.loads(path.read_bytes())["version"] < version:
                lost += 1
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
    print(f"\ncrash-loop: {count} trials, {acked} acked, {lost} lost, check problems {len(report.problems)}")
    assert lost == 0
    assert report.problems == []
    assert acked > count  # the writer got real work done between kills
