"""The change feed in the library (issue #5 item 4): every change in order, resumable by id, across processes."""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import orjson
import pytest

from storehouse import AsyncStorehouse, Storehouse
from storehouse import index as storehouse_index
from storehouse.changes import ChangeBatch, parse_event_id
from storehouse.errors import InvalidBody, InvalidParameter, PreconditionFailed


def kinds(batch: ChangeBatch) -> list[str]:
    return [event.type for event in batch.events]


def test_a_new_reader_starts_at_the_newest_change(store: Storehouse) -> None:
    store.create_execution("demo", status="running")
    batch = store.changes("demo")
    assert batch.events == []
    assert batch.reset is None
    assert batch.last_id == batch.head == store.change_head()
    assert parse_event_id(batch.last_id)[1] == 1


def test_every_kind_of_change_is_logged_in_order_with_its_data(store: Storehouse) -> None:
    start = store.change_head()
    created = store.create_execution("demo", status="running", name="triage")
    store.patch_execution("demo", created["id"], {"status": "completed"})
    store.add_history("demo", "T-1", [{"type": "log", "content": "a"}, {"type": "log", "content": "b"}])
    store.delete_execution("demo", created["id"])
    batch = store.changes("demo", start)
    assert kinds(batch) == ["execution.created", "execution.updated", "history.appended", "execution.deleted"]
    first, second, appended, deleted = (event.data for event in batch.events)
    assert first["executionId"] == created["id"]
    assert first["version"] == 1
    assert first["execution"]["name"] == "triage"
    assert first["execution"]["status"] == "running"
    assert second["version"] == 2
    assert second["execution"]["status"] == "completed"
    assert appended["taskId"] == "T-1"
    assert appended["ids"] == [1, 2]
    assert [entry["content"] for entry in appended["entries"]] == ["a", "b"]
    assert deleted == {"projectId": "demo", "executionId": created["id"]}
    seqs = [parse_event_id(event.id)[1] for event in batch.events]
    assert seqs == sorted(seqs)
    assert len(set(seqs)) == 4


def test_a_refused_write_logs_nothing(store: Storehouse) -> None:
    created = store.create_execution("demo", status="running")
    start = store.change_head()
    with pytest.raises(PreconditionFailed):
        store.patch_execution("demo", created["id"], {"status": "failed"}, if_match=7)
    with pytest.raises(InvalidBody):
        store.add_history("demo", "T-1", {"type": "gossip"})
    assert store.changes("demo", start).events == []


def test_changes_are_per_project(store: Storehouse) -> None:
    start = store.change_head()
    store.create_execution("a", status="running")
    store.create_execution("b", status="running")
    store.add_history("b", "T-1", {"type": "log"})
    assert kinds(store.changes("a", start)) == ["execution.created"]
    assert kinds(store.changes("b", start)) == ["execution.created", "history.appended"]
    assert store.changes("nobody", start).events == []


def test_resuming_from_any_id_gives_exactly_the_rest(store: Storehouse) -> None:
    start = store.change_head()
    for n in range(12):
        store.add_history("demo", f"T-{n % 3}", {"type": "log", "content": str(n)})
    everything = store.changes("demo", start).events
    assert len(everything) == 12
    for cut, event in enumerate(everything):
        rest = store.changes("demo", event.id).events
        assert [e.id for e in rest] == [e.id for e in everything[cut + 1 :]]


def test_a_limited_batch_goes_on_from_its_last_event(store: Storehouse) -> None:
    start = store.change_head()
    for n in range(7):
        store.add_history("demo", "T-1", {"type": "log", "content": str(n)})
    seen, position = [], start
    for _ in range(5):
        batch = store.changes("demo", position, limit=3)
        seen += [event.data["entries"][0]["content"] for event in batch.events]
        position = batch.last_id
    assert seen == [str(n) for n in range(7)]


def test_delete_all_logs_one_deletion_per_execution(store: Storehouse) -> None:
    made = {store.create_execution("demo", status="completed")["id"] for _ in range(3)}
    start = store.change_head()
    assert store.delete_executions("demo") == 3
    batch = store.changes("demo", start)
    assert kinds(batch) == ["execution.deleted"] * 3
    assert {event.data["executionId"] for event in batch.events} == made


def test_a_large_history_append_leaves_the_entries_out_of_its_event(store: Storehouse) -> None:
    start = store.change_head()
    store.add_history("demo", "T-1", {"type": "log", "content": "x" * 100_000})
    (event,) = store.changes("demo", start).events
    assert event.data["ids"] == [1]
    assert event.data["entries"] is None


@pytest.mark.parametrize("bad", ["", "nonsense", "abc", "zz-1", "abc-", "abc-1-2", "abc-99999999999999999999"])
def test_a_malformed_event_id_is_refused(store: Storehouse, bad: str) -> None:
    with pytest.raises(InvalidParameter, match="event id"):
        store.changes("demo", bad)


def test_an_id_of_another_index_or_from_the_future_resets(store: Storehouse, data_dir: Path) -> None:
    store.create_execution("demo", status="running")
    head = store.change_head()
    epoch, seq = parse_event_id(head)
    future = store.changes("demo", f"{epoch}-{seq + 5}")
    assert future.reset is not None
    assert future.last_id == head
    other = store.changes("demo", f"{'0' if epoch[0] != '0' else '1'}{epoch[1:]}-{seq}")
    assert other.reset is not None
    assert "another index" in other.reset
    assert other.events == []


def test_a_rebuilt_index_starts_a_new_epoch(data_dir: Path) -> None:
    with Storehouse(data_dir) as store:
        store.create_execution("demo", status="running")
        old = store.change_head()
    for suffix in ("", "-wal", "-shm"):
        Path(f"{data_dir / 'index.sqlite3'}{suffix}").unlink(missing_ok=True)
    with Storehouse(data_dir) as store:
        batch = store.changes("demo", old)
        assert batch.reset is not None
        assert parse_event_id(batch.last_id)[0] != parse_event_id(old)[0]


def test_an_id_older_than_the_log_keeps_resets(store: Storehouse, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(storehouse_index, "CHANGES_KEPT", 4)
    monkeypatch.setattr(storehouse_index, "PRUNE_CHANGES_EVERY", 2)
    start = store.change_head()
    for _ in range(10):
        store.add_history("demo", "T-1", {"type": "log"})
    batch = store.changes("demo", start)
    assert batch.reset is not None
    assert "no longer kept" in batch.reset
    recent = store.changes("demo", store.changes("demo", batch.last_id).last_id)
    assert recent.reset is None


def test_a_backup_has_its_own_epoch(store: Storehouse, tmp_path: Path) -> None:
    store.create_execution("demo", status="running")
    head = store.change_head()
    store.backup(tmp_path / "copy")
    with Storehouse(tmp_path / "copy") as copy:
        assert parse_event_id(copy.change_head())[0] != parse_event_id(head)[0]
        assert copy.changes("demo", head).reset is not None


def test_changes_of_another_process_are_in_the_log(store: Storehouse, data_dir: Path) -> None:
    start = store.change_head()
    script = (
        "import sys; from storehouse import Storehouse\n"
        "with Storehouse(sys.argv[1]) as s:\n"
        "    s.create_execution('demo', status='running'); s.add_history('demo', 'T-1', {'type': 'log'})\n"
    )
    subprocess.run([sys.executable, "-c", script, str(data_dir)], check=True, env={**os.environ})
    assert kinds(store.changes("demo", start)) == ["execution.created", "history.appended"]


async def test_watch_wakes_on_a_write_of_this_process_at_once(store: Storehouse) -> None:
    async_store = AsyncStorehouse(store=store)
    updates = async_store.watch("demo")
    first = await anext(updates)
    assert first.events == []
    waiting = asyncio.ensure_future(anext(updates))
    await asyncio.sleep(0.05)
    began = time.monotonic()
    await async_store.add_history("demo", "T-1", {"type": "log", "content": "now"})
    batch = await asyncio.wait_for(waiting, 5)
    assert time.monotonic() - began < 0.5  # poked at once, not left to the next poll
    assert [event.data["entries"][0]["content"] for event in batch.events] == ["now"]
    await updates.aclose()


async def test_watch_sees_another_process_within_a_second(store: Storehouse, data_dir: Path) -> None:
    async_store = AsyncStorehouse(store=store)
    updates = async_store.watch("demo")
    await anext(updates)
    waiting = asyncio.ensure_future(anext(updates))
    script = "import sys; from storehouse import Storehouse; Storehouse(sys.argv[1]).create_execution('demo')"
    process = await asyncio.create_subprocess_exec(sys.executable, "-c", script, str(data_dir))
    assert await process.wait() == 0
    written = time.monotonic()
    batch = await asyncio.wait_for(waiting, 5)
    assert time.monotonic() - written < 1.0
    assert kinds(batch) == ["execution.created"]
    await updates.aclose()


def _add_history(data_dir: str, name: str, count: int) -> None:
    with Storehouse(data_dir) as store:
        for n in range(count):
            store.add_history("demo", "T-1", {"type": "log", "content": f"{name}-{n}"})


def test_four_processes_appending_through_the_library_log_every_append_once(
    store: Storehouse, data_dir: Path, scorecard: Callable[[str], None]
) -> None:
    start = store.change_head()
    forks = multiprocessing.get_context("forkserver")
    writers = [forks.Process(target=_add_history, args=(str(data_dir), f"w{k}", 500)) for k in range(4)]
    began = time.monotonic()
    for writer in writers:
        writer.start()
    for writer in writers:
        writer.join(120)
        assert writer.exitcode == 0
    seconds = time.monotonic() - began
    page = store.list_history("demo", "T-1", limit=1000)
    assert [entry["id"] for entry in page.entries] == list(range(1901, 2001))  # exactly the newest 100
    lines = (data_dir / "projects" / "demo" / "history" / "T-1.jsonl").read_bytes().splitlines()
    assert all(orjson.loads(line)["id"] for line in lines)  # every line parses
    assert len(lines) <= 200  # the file compacted itself
    events = store.changes("demo", start, limit=1000).events
    events += store.changes("demo", events[-1].id, limit=1000).events
    events += store.changes("demo", events[-1].id, limit=1000).events
    assert [event.data["ids"] for event in events] == [[n] for n in range(1, 2001)]  # once each, in id order
    scorecard(
        f"history-concurrency: 4 processes x 500 durable appends to one task in {seconds:.1f} s "
        f"({2000 / seconds:,.0f}/s); the newest 100 shown, every line parses, 2,000 change events in order"
    )
