"""The history index (issue #13 item 6): it answers as a scan of the file would, whoever changed the file and how."""

from __future__ import annotations

import multiprocessing
import os
import sqlite3
import tempfile
from datetime import timedelta
from pathlib import Path

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from storehouse import Storehouse
from storehouse.history import HistoryQuery, Retention, read_entries, shown, visible
from storehouse.history_index import HistoryIndex
from storehouse.models import JSONObject, format_timestamp, now_timestamp, parse_timestamp

PROJECT = "demo"


def log_of(data: Path, task: str = "T-1") -> Path:
    return data / "projects" / PROJECT / "history" / f"{task}.jsonl"


def scan(store: Storehouse, query: HistoryQuery, tasks: list[str]) -> tuple[list[JSONObject], int]:
    """What the original design answers: every line of every log read, filtered, sorted and sliced."""
    retention, now = store.retention(PROJECT), now_timestamp()
    matching = [
        entry
        for task in tasks
        for entry in visible(read_entries(log_of(store.settings.data_dir, task)), now, retention)
        if query.matches(entry)
    ]
    matching.sort(key=lambda entry: (entry["createdAt"], entry["taskId"], entry["id"]))
    ordered = matching if query.order == "asc" else matching[::-1]
    return [shown(entry, retention) for entry in ordered[query.offset : query.offset + query.limit]], len(matching)


def indexed(store: Storehouse, task: str | None, query: HistoryQuery) -> tuple[list[JSONObject], int]:
    page = store.list_history(
        PROJECT,
        task,
        type=list(query.types) or None,
        workspace_id=query.workspace_id,
        session_id=query.session_id,
        execution_id=query.execution_id,
        since=query.since,
        until=query.until,
        limit=query.limit,
        offset=query.offset,
        order=query.order,
    )
    return page.entries, page.total


def assert_agrees(store: Storehouse, task: str = "T-1") -> None:
    """Every read of the task (and the project) agrees with a scan of the file."""
    everything = HistoryQuery(limit=1000)
    assert indexed(store, task, everything) == scan(store, everything, [task])
    assert store.count_history(PROJECT, task) == scan(store, everything, [task])[1]
    assert indexed(store, None, everything) == scan(store, everything, store.history_tasks(PROJECT))
    entries = scan(store, everything, [task])[0]
    assert store.oldest_history(PROJECT, task) == (min(e["createdAt"] for e in entries) if entries else None)
    ids = [int(entry["id"]) for entry in read_entries(log_of(store.settings.data_dir, task))]
    assert store.history_last_id(PROJECT, task) == max(ids, default=0)


def _append_many(data: str, n: int) -> None:
    with Storehouse(data) as store:
        for i in range(n):
            store.add_history(PROJECT, "T-1", {"type": "log", "content": f"{os.getpid()} {i}"})


def test_two_processes_appending_to_one_task_leave_the_index_equal_to_the_file(tmp_path: Path) -> None:
    data = tmp_path / "data"
    with Storehouse(data) as store:
        store.add_history(PROJECT, "T-1", {"type": "log"})
        context = multiprocessing.get_context("spawn")
        workers = [context.Process(target=_append_many, args=(str(data), 40)) for _ in range(2)]
        for worker in workers:
            worker.start()
        for i in range(40):
            store.add_history(PROJECT, "T-1", {"type": "log", "content": f"parent {i}"})
            store.count_history(PROJECT, "T-1")  # read while the others append
        for worker in workers:
            worker.join()
            assert worker.exitcode == 0
        assert [e["id"] for e in read_entries(log_of(data))][-100:] == list(range(22, 122))
        assert store.count_history(PROJECT, "T-1") == 100  # the cap
        assert_agrees(store)


def test_a_line_appended_by_hand_is_read_and_the_next_id_follows_it(tmp_path: Path) -> None:
    with Storehouse(tmp_path / "data") as store:
        first = store.add_history(PROJECT, "T-1", [{"type": "log"}, {"type": "log"}])[0]
        assert store.count_history(PROJECT, "T-1") == 2
        by_hand = {**first, "id": 3, "content": "by hand"}
        with log_of(store.settings.data_dir).open("ab") as handle:
            handle.write(orjson.dumps(by_hand) + b"\n")
        assert store.count_history(PROJECT, "T-1") == 3
        assert store.add_history(PROJECT, "T-1", {"type": "log"})[0]["id"] == 4
        assert_agrees(store)


@pytest.mark.parametrize("how", ["truncated", "replaced", "rewritten in place"])
def test_a_log_truncated_or_rewritten_by_hand_is_read_again(tmp_path: Path, how: str) -> None:
    with Storehouse(tmp_path / "data") as store:
        store.add_history(PROJECT, "T-1", [{"type": "log", "content": f"{n:03d}"} for n in range(10)])
        assert store.count_history(PROJECT, "T-1") == 10
        path = log_of(store.settings.data_dir)
        lines = path.read_bytes().splitlines(keepends=True)
        if how == "truncated":
            os.truncate(path, sum(len(line) for line in lines[:6]))
        elif how == "replaced":
            (path.parent / "new").write_bytes(b"".join(lines[5:]))
            os.replace(path.parent / "new", path)
        else:  # same inode, same size: only the mtime says it changed
            with path.open("r+b") as handle:
                handle.write(lines[0].replace(b'"000"', b'"abc"'))
            os.utime(path, ns=(1, 1))
        assert_agrees(store)
        assert store.add_history(PROJECT, "T-1", {"type": "log"})[0]["id"] == (7 if how == "truncated" else 11)
        assert_agrees(store)


def test_deleting_the_index_loses_nothing(tmp_path: Path) -> None:
    data = tmp_path / "data"
    with Storehouse(data) as store:
        store.add_history(PROJECT, "T-1", [{"type": "log"} for _ in range(5)])
        store.add_history(PROJECT, "T-2", {"type": "error"})
    for suffix in ("", "-wal", "-shm"):
        Path(f"{data / 'index.sqlite3'}{suffix}").unlink(missing_ok=True)
    with Storehouse(data) as store:
        assert store.count_history(PROJECT, "T-1") == 5
        assert store.add_history(PROJECT, "T-1", {"type": "log"})[0]["id"] == 6
        assert_agrees(store)
        assert_agrees(store, "T-2")


def test_a_torn_tail_is_skipped_and_cut_by_the_next_append(tmp_path: Path) -> None:
    with Storehouse(tmp_path / "data") as store:
        store.add_history(PROJECT, "T-1", [{"type": "log"}, {"type": "log"}])
        path = log_of(store.settings.data_dir)
        with path.open("ab") as handle:
            handle.write(b'{"id": 3, "type": "lo')  # a crash in the middle of an append
        assert store.count_history(PROJECT, "T-1") == 2
        assert_agrees(store)
        assert store.add_history(PROJECT, "T-1", {"type": "log"})[0]["id"] == 3
        assert path.read_bytes().endswith(b"\n")
        assert len(read_entries(path)) == 3
        assert_agrees(store)


def test_an_append_whose_index_update_was_lost_is_caught_up_from_the_tail(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with Storehouse(tmp_path / "data") as store:
        store.add_history(PROJECT, "T-1", [{"type": "log"} for _ in range(50)])

        def crashed(*_: object) -> bool:
            raise sqlite3.OperationalError("disk I/O error")  # as if the process died after the fsync

        monkeypatch.setattr(HistoryIndex, "appended", crashed)
        assert store.add_history(PROJECT, "T-1", {"type": "log", "content": "durable"})[0]["id"] == 51
        monkeypatch.undo()
        parsed = count_parsed_lines(monkeypatch)
        assert store.count_history(PROJECT, "T-1") == 51
        assert parsed == [1]  # the new line only, not the 50 before it
        assert_agrees(store)


def count_parsed_lines(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """A one-item list that counts the log lines the index parses (it grows as they are parsed)."""
    import storehouse.history as rules

    counter = [0]
    parse = rules._parse_line

    def counting(line: bytes) -> JSONObject | None:
        counter[0] += 1
        return parse(line)

    monkeypatch.setattr("storehouse.history_index._parse_line", counting)
    return counter


def test_compaction_prune_and_delete_leave_the_index_equal_to_the_file(tmp_path: Path) -> None:
    with Storehouse(tmp_path / "data") as store:
        store.set_history_settings(PROJECT, {"historyMaxEntriesPerTask": 5})
        for n in range(11):  # the 11th compacts the file (past twice the cap)
            store.add_history(PROJECT, "T-1", {"type": "log", "content": str(n)})
        assert len(read_entries(log_of(store.settings.data_dir))) == 5
        assert_agrees(store)
        long_ago = format_timestamp(parse_timestamp(now_timestamp()) - timedelta(days=30))
        store.add_history(PROJECT, "T-1", {"type": "log", "createdAt": long_ago})  # back-filled, already expired
        assert store.count_history(PROJECT, "T-1") == 4
        assert store.prune_history(PROJECT) == 2  # the expired one, and the one the cap drops
        assert_agrees(store)
        assert store.delete_history(PROJECT, "T-1") == 4
        assert store.count_history(PROJECT, "T-1") == 0
        assert store.add_history(PROJECT, "T-1", {"type": "log"})[0]["id"] == 13
        assert_agrees(store)


def test_a_lower_ttl_hides_entries_at_once_and_the_count_follows(tmp_path: Path) -> None:
    with Storehouse(tmp_path / "data") as store:
        days_ago = format_timestamp(parse_timestamp(now_timestamp()) - timedelta(days=5))
        store.add_history(PROJECT, "T-1", [{"type": "log", "createdAt": days_ago}, {"type": "log"}])
        assert store.count_history(PROJECT, "T-1") == 2
        store.set_history_settings(PROJECT, {"historyTtlDays": 2})
        assert store.count_history(PROJECT, "T-1") == 1
        assert_agrees(store)


# -- reads with every filter agree with a scan of the file (hypothesis) ----------------------------------------
NOW = parse_timestamp(now_timestamp())
ENTRY = st.fixed_dictionaries(
    {
        "type": st.sampled_from(["log", "error", "chat_message"]),
        "workspaceId": st.sampled_from([None, "w1", "w2"]),
        "sessionId": st.sampled_from([None, "s1", "s2"]),
        "executionId": st.sampled_from([None, "e1"]),
        "createdAt": st.one_of(
            st.none(), st.integers(0, 40 * 24).map(lambda hours: format_timestamp(NOW - timedelta(hours=hours)))
        ),
    }
)
MOMENT = st.one_of(st.none(), st.integers(0, 40 * 24).map(lambda hours: format_timestamp(NOW - timedelta(hours=hours))))
QUERY = st.builds(
    HistoryQuery,
    types=st.lists(st.sampled_from(["log", "error", "chat_message"]), max_size=2, unique=True).map(tuple),
    workspace_id=st.sampled_from([None, "w1"]),
    session_id=st.sampled_from([None, "s2"]),
    execution_id=st.sampled_from([None, "e1"]),
    since=MOMENT,
    until=MOMENT,
    limit=st.integers(1, 30),
    offset=st.integers(0, 30),
    order=st.sampled_from(["asc", "desc"]),
)


# Up to 40 examples of up to 4 batches of 12 entries in two tasks: every filter, both orders, paging, a cap that
# drops entries and compacts, back-filled entries (some expired), and the ttl lowered or not.
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    batches=st.lists(st.tuples(st.sampled_from(["T-1", "T-2"]), st.lists(ENTRY, min_size=1, max_size=12)), max_size=4),
    cap=st.integers(1, 15),
    ttl=st.sampled_from([None, 10, 30]),
    queries=st.lists(QUERY, min_size=1, max_size=5),
)
def test_every_filtered_read_agrees_with_a_scan_of_the_file(
    batches: list[tuple[str, list[JSONObject]]], cap: int, ttl: int | None, queries: list[HistoryQuery]
) -> None:
    with tempfile.TemporaryDirectory() as root, Storehouse(Path(root) / "data") as store:
        store.set_history_settings(PROJECT, {"historyMaxEntriesPerTask": cap})
        for task, entries in batches:
            store.add_history(PROJECT, task, [{k: v for k, v in e.items() if v is not None} for e in entries])
        if ttl is not None:
            store.set_history_settings(PROJECT, {"historyTtlDays": ttl})
        tasks = store.history_tasks(PROJECT)
        for query in queries:
            for task in tasks:
                assert indexed(store, task, query) == scan(store, query, [task])
            assert indexed(store, None, query) == scan(store, query, tasks)
        for task in tasks:
            assert_agrees(store, task)


def test_a_store_without_the_file_engine_reads_the_files(tmp_path: Path) -> None:
    from storehouse.fsio import FileIO
    from storehouse.history import HistoryStore
    from storehouse.locks import LockTable

    history = HistoryStore(tmp_path, FileIO(), LockTable.open(tmp_path / "locks"), lambda _: Retention())
    history.add(PROJECT, "T-1", [{"type": "log"}, {"type": "error"}], now_timestamp())
    assert history.count(PROJECT, "T-1", now_timestamp()) == 2
    assert history.read(PROJECT, "T-1", HistoryQuery(types=("error",)), now_timestamp())[1] == 1
    assert history.last_id(PROJECT, "T-1") == 2
