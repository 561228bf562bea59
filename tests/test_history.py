"""History files (issue #5, storage): durable appends, increasing ids, exact retention, torn tails, full disks."""

from __future__ import annotations

import errno
import multiprocessing
from pathlib import Path

import orjson
import pytest

from storehouse.errors import InvalidBody, StorageFull
from storehouse.fsio import FileIO
from storehouse.history import Retention, append, read_entries, validate_entry, visible
from storehouse.locks import LockTable

NOW = "2026-03-01T12:00:00.000Z"
LATER = "2026-03-01T12:00:01.000Z"
RETENTION = Retention()


def entry(n: int = 0, **fields: object) -> dict[str, object]:
    return validate_entry({"type": "log", "content": f"line {n}", **fields}, "T-1", NOW, RETENTION)


def test_an_entry_gets_its_task_its_times_and_nothing_else() -> None:
    made = validate_entry({"type": "chat_message", "role": "planner", "content": "hi"}, "T-1", NOW, RETENTION)
    assert made["taskId"] == "T-1"
    assert (made["createdAt"], made["expiresAt"]) == (NOW, "2026-03-21T12:00:00.000Z")  # 20 days
    back = validate_entry({"type": "log", "createdAt": "2026-01-01T00:00:00Z"}, "T-1", NOW, Retention(ttl_days=1))
    assert (back["createdAt"], back["expiresAt"]) == ("2026-01-01T00:00:00.000Z", "2026-01-02T00:00:00.000Z")


@pytest.mark.parametrize(
    ("body", "named"),
    [
        ({"type": "gossip"}, "type"),
        ({}, "type"),
        ({"type": "log", "content": 3}, "content"),
        ({"type": "log", "workspaceId": "../x"}, "workspaceId"),
        ({"type": "log", "metadata": [1]}, "metadata"),
        ({"type": "log", "createdAt": "yesterday"}, "createdAt"),
        ({"type": "log", "taskId": "T-2"}, "taskId"),
        ({"type": "log", "colour": "red"}, "colour"),
        ([], "object"),
    ],
)
def test_a_bad_entry_is_refused_naming_the_field(body: object, named: str) -> None:
    with pytest.raises(InvalidBody, match=named):
        validate_entry(body, "T-1", NOW, RETENTION)


def test_ids_increase_per_task_across_appends(tmp_path: Path) -> None:
    path = tmp_path / "T-1.jsonl"
    first = append(FileIO(), path, [entry(0), entry(1)], NOW, RETENTION)
    second = append(FileIO(), path, [entry(2)], NOW, RETENTION)
    assert [e["id"] for e in first + second] == [1, 2, 3]
    assert read_entries(path) == first + second


@pytest.mark.parametrize("count", [99, 100, 101, 1000])
def test_a_read_never_returns_more_than_the_cap(tmp_path: Path, count: int) -> None:
    path = tmp_path / "T-1.jsonl"
    for n in range(0, count, 7):  # in batches, as agents write
        append(FileIO(durable=False), path, [entry(k) for k in range(n, min(n + 7, count))], NOW, RETENTION)
    shown = visible(read_entries(path), LATER, RETENTION)
    assert [e["content"] for e in shown] == [f"line {k}" for k in range(max(0, count - 100), count)]
    assert len(path.read_bytes().splitlines()) <= 2 * 100 + 7  # the file compacts itself


def test_expired_entries_are_never_shown_even_back_filled_ones(tmp_path: Path) -> None:
    path = tmp_path / "T-1.jsonl"
    old = entry(0, createdAt="2026-01-01T00:00:00Z")  # expired on arrival: accepted, never shown
    edge = entry(1, createdAt="2026-02-09T12:00:00.000Z")  # expires at NOW exactly: gone
    fresh = entry(2, createdAt="2026-02-09T12:00:00.001Z")
    append(FileIO(), path, [old, edge, fresh], NOW, RETENTION)
    assert [e["content"] for e in visible(read_entries(path), NOW, RETENTION)] == ["line 2"]


def test_ids_go_on_after_everything_expired_and_the_file_compacted(tmp_path: Path) -> None:
    path = tmp_path / "T-1.jsonl"
    small = Retention(max_entries=2)
    for n in range(6):
        append(FileIO(durable=False), path, [entry(n, createdAt="2026-01-01T00:00:00Z")], NOW, small)
    assert visible(read_entries(path), NOW, small) == []
    assert append(FileIO(), path, [entry(9)], NOW, small)[0]["id"] == 7


def test_a_torn_tail_cut_at_every_byte_is_skipped_then_repaired(tmp_path: Path) -> None:
    path = tmp_path / "T-1.jsonl"
    append(FileIO(durable=False), path, [entry(0), entry(1)], NOW, RETENTION)
    whole = path.read_bytes()
    last_start = whole.rstrip(b"\n").rfind(b"\n") + 1
    for cut in range(last_start, len(whole)):
        path.write_bytes(whole[:cut])
        assert [e["id"] for e in read_entries(path)] == [1]  # the cut last entry is never half-read
        added = append(FileIO(durable=False), path, [entry(5)], NOW, RETENTION)
        assert added[0]["id"] == 2
        lines = path.read_bytes().splitlines()
        assert [orjson.loads(line)["id"] for line in lines] == [1, 2]  # the torn bytes went, every line parses


class FullDisk(FileIO):
    """Writes half of what it is given, then the disk is full."""

    def write(self, fd: int, data: memoryview) -> int:
        if len(data) > 8:
            return super().write(fd, data[: len(data) // 2])
        raise OSError(errno.ENOSPC, "No space left on device")


def test_a_disk_full_append_leaves_the_file_as_it_was(tmp_path: Path) -> None:
    path = tmp_path / "T-1.jsonl"
    append(FileIO(), path, [entry(0)], NOW, RETENTION)
    before = path.read_bytes()
    with pytest.raises(StorageFull):
        append(FullDisk(), path, [entry(1), entry(2)], NOW, RETENTION)
    assert path.read_bytes() == before
    assert append(FileIO(), path, [entry(3)], NOW, RETENTION)[0]["id"] == 2


def _appender(directory: str, name: str, count: int) -> None:
    locks = LockTable.open(Path(directory) / "locks")
    path = Path(directory) / "T-1.jsonl"
    for n in range(count):
        made = validate_entry({"type": "log", "content": f"{name}-{n}"}, "T-1", NOW, RETENTION)
        with locks.document("demo", "history/T-1"):
            append(FileIO(), path, [made], NOW, RETENTION)
    locks.release()


def test_four_processes_appending_to_one_task_lose_nothing_and_interleave_nothing(tmp_path: Path) -> None:
    forks = multiprocessing.get_context("forkserver")
    writers = [forks.Process(target=_appender, args=(str(tmp_path), f"w{k}", 500)) for k in range(4)]
    for writer in writers:
        writer.start()
    for writer in writers:
        writer.join(120)
        assert writer.exitcode == 0
    lines = (tmp_path / "T-1.jsonl").read_bytes().splitlines()
    entries = [orjson.loads(line) for line in lines]  # every line parses: no two appends interleaved
    ids = [e["id"] for e in entries]
    assert ids == sorted(ids)
    assert len(set(ids)) == len(ids)
    assert ids[-1] == 2000  # every append got its own id
    shown = visible(entries, LATER, RETENTION)
    assert [e["id"] for e in shown] == list(range(1901, 2001))  # exactly the newest 100
    for name in ("w0", "w1", "w2", "w3"):  # each writer's own entries stay in its order
        mine = [int(str(e["content"]).split("-")[1]) for e in entries if str(e["content"]).startswith(name)]
        assert mine == sorted(mine)


@pytest.mark.parametrize("seed", range(20))
def test_random_garbage_tails_are_never_read_and_never_stop_appends(tmp_path: Path, seed: int) -> None:
    import random

    rng = random.Random(seed)
    path = tmp_path / "T-1.jsonl"
    append(FileIO(durable=False), path, [entry(0), entry(1)], NOW, RETENTION)
    garbage = bytes(rng.randrange(256) for _ in range(rng.randrange(1, 200)))
    path.write_bytes(path.read_bytes() + garbage)  # a crash mid-write on a machine that lost power, say
    assert [e["id"] for e in read_entries(path)][:2] == [1, 2]
    assert all(isinstance(e["id"], int) for e in read_entries(path))
    added = append(FileIO(durable=False), path, [entry(2)], NOW, RETENTION)
    assert added[0]["id"] > 2
    assert read_entries(path)[-1] == added[0]  # the new entry is whole and last, whatever the garbage was
