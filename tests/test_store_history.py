"""Task history through the library (issue #5): add, read with filters and paging, count, delete, settings, prune."""

from __future__ import annotations

from pathlib import Path

import pytest

from storehouse import Storehouse
from storehouse.errors import InvalidBody, InvalidId, InvalidParameter

RUNS_KEPT = {"runTtlDays": None, "maxRuns": None}  # no run retention set: every run is kept


def test_entries_are_added_one_or_many_and_read_oldest_first(store: Storehouse) -> None:
    one = store.add_history("demo", "T-1", {"type": "agent_start", "role": "planner"})
    many = store.add_history("demo", "T-1", [{"type": "log", "content": "a"}, {"type": "log", "content": "b"}])
    assert [e["id"] for e in one + many] == [1, 2, 3]
    page = store.list_history("demo", "T-1")
    assert page.total == 3
    assert [e["id"] for e in page.entries] == [1, 2, 3]
    assert [e["id"] for e in store.list_history("demo", "T-1", order="desc", limit=2).entries] == [3, 2]
    assert [e["id"] for e in store.list_history("demo", "T-1", offset=1, limit=1).entries] == [2]


def test_one_bad_entry_in_a_list_adds_nothing(store: Storehouse, data_dir: Path) -> None:
    store.add_history("demo", "T-1", {"type": "log"})
    with pytest.raises(InvalidBody, match="type"):
        store.add_history("demo", "T-1", [{"type": "log"}, {"type": "gossip"}])
    with pytest.raises(InvalidBody):
        store.add_history("demo", "T-1", [])
    assert store.count_history("demo", "T-1") == 1
    assert len((data_dir / "projects" / "demo" / "history" / "T-1.jsonl").read_bytes().splitlines()) == 1


def test_filters_by_type_workspace_session_execution_and_time(store: Storehouse) -> None:
    store.add_history(
        "demo",
        "T-1",
        [
            {"type": "chat_message", "workspaceId": "w1", "sessionId": "s1", "createdAt": "2099-01-01T00:00:01Z"},
            {"type": "log", "workspaceId": "w2", "executionId": "run-9", "createdAt": "2099-01-01T00:00:02Z"},
            {"type": "error", "workspaceId": "w1", "sessionId": "s2", "createdAt": "2099-01-01T00:00:03Z"},
        ],
    )

    def ids(**query: object) -> list[object]:
        return [e["id"] for e in store.list_history("demo", "T-1", **query).entries]  # type: ignore[arg-type]

    assert ids(type="chat_message,error") == [1, 3]
    assert ids(workspace_id="w1") == [1, 3]
    assert ids(session_id="s2") == [3]
    assert ids(execution_id="run-9") == [2]
    assert ids(since="2099-01-01T00:00:02Z") == [2, 3]
    assert ids(until="2099-01-01T00:00:02Z") == [1]


def test_the_history_of_a_project_spans_its_tasks(store: Storehouse) -> None:
    store.add_history("demo", "T-1", {"type": "log", "workspaceId": "w", "createdAt": "2099-01-01T00:00:02Z"})
    store.add_history("demo", "T-2", {"type": "log", "workspaceId": "w", "createdAt": "2099-01-01T00:00:01Z"})
    store.add_history("demo", "T-3", {"type": "log", "workspaceId": "x", "createdAt": "2099-01-01T00:00:03Z"})
    page = store.list_history("demo", workspace_id="w")
    assert ([e["taskId"] for e in page.entries], page.total) == (["T-2", "T-1"], 2)


def test_count_oldest_and_delete(store: Storehouse) -> None:
    assert (store.count_history("demo", "T-1"), store.oldest_history("demo", "T-1")) == (0, None)
    store.add_history("demo", "T-1", [{"type": "log", "createdAt": "2099-01-01T00:00:05Z"}, {"type": "log"}])
    assert store.count_history("demo", "T-1") == 2
    assert store.oldest_history("demo", "T-1") is not None
    assert store.delete_history("demo", "T-1") == 2
    assert store.list_history("demo", "T-1").total == 0
    assert store.add_history("demo", "T-1", {"type": "log"})[0]["id"] == 3  # ids go on after a delete


def test_settings_change_what_reads_return(store: Storehouse) -> None:
    assert store.history_settings("demo") == {"historyTtlDays": 20, "historyMaxEntriesPerTask": 100, **RUNS_KEPT}
    store.add_history("demo", "T-1", [{"type": "log", "content": str(n)} for n in range(5)])
    assert store.set_history_settings("demo", {"historyMaxEntriesPerTask": 3})["historyMaxEntriesPerTask"] == 3
    assert [e["content"] for e in store.list_history("demo", "T-1").entries] == ["2", "3", "4"]
    store.add_history("demo", "T-1", {"type": "log", "createdAt": "2020-01-01T00:00:00Z"})  # expired on arrival
    # it is never shown, but it is the newest of the three the cap keeps (FIFO by arrival): "2" goes
    assert [e["content"] for e in store.list_history("demo", "T-1").entries] == ["3", "4"]


@pytest.mark.parametrize(
    "settings",
    [{"historyTtlDays": 0}, {"historyMaxEntriesPerTask": "5"}, {"historyTtlDays": True}, {"colour": 1}, []],
)
def test_bad_settings_are_refused_and_change_nothing(store: Storehouse, settings: object) -> None:
    with pytest.raises(InvalidBody):
        store.set_history_settings("demo", settings)  # type: ignore[arg-type]
    assert store.history_settings("demo") == {"historyTtlDays": 20, "historyMaxEntriesPerTask": 100, **RUNS_KEPT}


def test_prune_removes_what_no_read_shows_and_ids_go_on(store: Storehouse, data_dir: Path) -> None:
    store.add_history("demo", "T-1", [{"type": "log", "createdAt": "2020-01-01T00:00:00Z"} for _ in range(4)])
    store.add_history("demo", "T-1", {"type": "log", "content": "live"})
    store.add_history("demo", "T-2", {"type": "log", "createdAt": "2020-01-01T00:00:00Z"})
    assert store.prune_history("demo") == 5
    assert [e["content"] for e in store.list_history("demo", "T-1").entries] == ["live"]
    assert len((data_dir / "projects" / "demo" / "history" / "T-1.jsonl").read_bytes().splitlines()) == 1
    # T-2's only entry became a tombstone of its id, so that its ids go on
    assert (data_dir / "projects" / "demo" / "history" / "T-2.jsonl").read_bytes() == b'{"id":1}\n'
    assert store.add_history("demo", "T-2", {"type": "log"})[0]["id"] == 2
    assert store.prune_history("demo") == 0  # the tombstone is no entry: it goes silently


@pytest.mark.parametrize(
    ("call", "error"),
    [
        (lambda s: s.add_history("demo", "../x", {"type": "log"}), InvalidId),
        (lambda s: s.list_history("..", "T-1"), InvalidId),
        (lambda s: s.list_history("demo", "T-1", order="sideways"), InvalidParameter),
        (lambda s: s.list_history("demo", "T-1", type="gossip"), InvalidParameter),
        (lambda s: s.list_history("demo", "T-1", since="yesterday"), InvalidParameter),
        (lambda s: s.list_history("demo", "T-1", limit=0), InvalidParameter),
        (lambda s: s.list_history("demo", "T-1", workspace_id="a/b"), InvalidId),
    ],
)
def test_bad_input_is_refused_naming_it(store: Storehouse, call: object, error: type[Exception]) -> None:
    with pytest.raises(error):
        call(store)  # type: ignore[operator]


def test_the_async_store_has_every_public_method_of_the_sync_one() -> None:
    from storehouse import AsyncStorehouse

    public = {name for name in dir(Storehouse) if not name.startswith("_")}
    assert public - {"finish", "settings", "backend"} <= set(dir(AsyncStorehouse))


async def test_history_through_the_async_store(data_dir: Path) -> None:
    from storehouse import AsyncStorehouse

    async with AsyncStorehouse(data_dir) as store:
        added = await store.add_history("demo", "T-1", [{"type": "log"}, {"type": "result", "content": "ok"}])
        assert [e["id"] for e in added] == [1, 2]
        assert (await store.list_history("demo", "T-1", type="result")).total == 1
        assert await store.count_history("demo", "T-1") == 2
        assert await store.oldest_history("demo", "T-1") == added[0]["createdAt"]
        assert (await store.set_history_settings("demo", {"historyTtlDays": 5}))["historyTtlDays"] == 5
        assert (await store.history_settings("demo"))["historyTtlDays"] == 5
        assert await store.prune_history("demo") == 0
        assert await store.delete_history("demo", "T-1") == 2


def test_check_names_damaged_settings(store: Storehouse, data_dir: Path) -> None:
    store.add_history("demo", "T-1", {"type": "log"})
    assert store.check().problems == []
    (data_dir / "projects" / "demo" / "settings.json").write_text('{"historyTtlDays": "soon"}')
    assert store.check().problems == [
        "demo/settings.json: not valid settings; the defaults apply until they are set again"
    ]


def test_a_backup_keeps_every_history_and_the_settings(store: Storehouse, tmp_path: Path) -> None:
    store.add_history("demo", "T-1", [{"type": "log", "content": str(n)} for n in range(5)])
    store.add_history("only-history", "T-9", {"type": "agent_turn", "content": "no runs in this project"})
    store.set_history_settings("demo", {"historyMaxEntriesPerTask": 3})
    store.create_execution("demo", status="completed")
    report = store.backup(tmp_path / "copy")
    assert report.projects == 2
    with Storehouse(tmp_path / "copy") as copy:
        for project, task in (("demo", "T-1"), ("only-history", "T-9")):
            assert copy.list_history(project, task) == store.list_history(project, task)
        assert copy.history_settings("demo") == {"historyTtlDays": 20, "historyMaxEntriesPerTask": 3, **RUNS_KEPT}
        assert copy.list_executions("demo").total == 1
        assert copy.check().problems == []
