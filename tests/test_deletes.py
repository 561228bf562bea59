"""Deletes by filter and of a whole project: the library, the HTTP API, the client and the CLI (issue #14, item 11)."""

from __future__ import annotations

import errno
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import orjson
import pytest

from storehouse import Storehouse
from storehouse.backends import FileBackend
from storehouse.cli import main
from storehouse.client import Client
from storehouse.errors import InvalidParameter, StorageError
from storehouse.fsio import FileIO
from tests.conftest import Server


def at(day: int) -> str:
    return f"2026-03-{day:02d}T10:00:00Z"


def _fill(store: Storehouse) -> dict[str, str]:
    """Six runs of demo (id -> status), days 1-6; one run of other."""
    statuses = ["completed", "failed", "cancelled", "failed", "completed", "failed"]
    runs = {}
    for day, status in enumerate(statuses, 1):
        document = store.create_execution("demo", id=f"r{day}", status=status, startedAt=at(day), costUSD=1.0)
        runs[document["id"]] = status
    store.create_execution("other", id="o1", status="failed", startedAt=at(1))
    return runs


def _ids(store: Storehouse, project: str = "demo") -> list[str]:
    return sorted(item["id"] for item in store.list_executions(project, limit=1000).items)


def test_delete_executions_by_filter_deletes_only_the_matches(store: Storehouse, data_dir: Path) -> None:
    _fill(store)
    assert store.delete_executions("demo", status="failed", started_before=at(6)) == 2
    assert _ids(store) == ["r1", "r3", "r5", "r6"]
    assert sorted(os.listdir(data_dir / "projects" / "demo" / "executions")) == [f"{i}.json" for i in _ids(store)]
    assert store.execution_stats("demo")["totalExecutions"] == 4
    assert _ids(store, "other") == ["o1"]
    assert store.check().problems == []


def test_a_list_of_statuses_deletes_their_union(store: Storehouse) -> None:
    _fill(store)
    assert store.delete_executions("demo", status=["failed", "cancelled"]) == 4
    assert _ids(store) == ["r1", "r5"]


def test_delete_executions_without_a_filter_deletes_every_run(store: Storehouse) -> None:
    _fill(store)
    assert store.delete_executions("demo") == 6
    assert _ids(store) == []


def test_a_bad_filter_deletes_nothing(store: Storehouse) -> None:
    _fill(store)
    with pytest.raises(InvalidParameter, match="status must be one or more of"):
        store.delete_executions("demo", status="failed,bogus")
    with pytest.raises(InvalidParameter, match="startedBefore must be an RFC 3339 timestamp"):
        store.delete_executions("demo", started_before="yesterday")
    assert len(_ids(store)) == 6


class FailingUnlinkIO(FileIO):
    """A FileIO whose unlink fails with EIO after ``allowed`` unlinks."""

    def __init__(self, allowed: int) -> None:
        super().__init__()
        self.allowed = allowed

    def unlink(self, path: str, dir_fd: int | None = None) -> None:
        if self.allowed <= 0:
            raise OSError(errno.EIO, os.strerror(errno.EIO))
        self.allowed -= 1
        super().unlink(path, dir_fd)


def test_a_delete_by_filter_cut_short_leaves_each_run_there_or_gone_and_the_index_with_the_files(
    data_dir: Path,
) -> None:
    with Storehouse(data_dir) as store:
        _fill(store)
    io = FailingUnlinkIO(allowed=1)
    with Storehouse(backend=FileBackend(data_dir, io=io)) as store:
        with pytest.raises(StorageError, match="retry to delete the rest"):
            store.delete_executions("demo", status="failed")
        left = _ids(store)
        assert len(left) == 5
        assert {"r1", "r3", "r5"} <= set(left)
        assert sorted(os.listdir(data_dir / "projects" / "demo" / "executions")) == [f"{i}.json" for i in left]
        assert store.check().problems == []
        io.allowed = 100
        assert store.delete_executions("demo", status="failed") == 2
        assert _ids(store) == ["r1", "r3", "r5"]


def test_a_run_changed_to_no_longer_match_is_kept(store: Storehouse, data_dir: Path) -> None:
    _fill(store)
    with Storehouse(data_dir) as other:
        # between the query and the delete, the run is checked again under its lock: as indexed now
        other.patch_execution("demo", "r2", {"status": "completed"})
    assert store.delete_executions("demo", status="failed") == 2
    assert "r2" in _ids(store)


def test_delete_project_removes_runs_tasks_history_and_settings(store: Storehouse, data_dir: Path) -> None:
    _fill(store)
    store.create_task("demo", id="T-1", title="one")
    store.create_task("demo", id="T-2", title="two")
    store.add_history("demo", "T-1", [{"type": "log", "content": "a"}, {"type": "log", "content": "b"}])
    store.set_history_settings("demo", {"historyTtlDays": 5})
    head = store.change_head()
    assert store.delete_project("demo") == {"executions": 6, "tasks": 2, "history": 2, "settings": 1}
    assert not (data_dir / "projects" / "demo").exists()
    assert [info.id for info in store.list_projects().items] == ["other"]
    assert store.list_executions("demo").total == 0
    assert store.list_tasks("demo").total == 0
    assert store.list_history("demo").total == 0
    assert store.history_settings("demo")["historyTtlDays"] == 20
    events = store.changes("demo", head).events
    assert [event.type for event in events] == ["project.deleted"]
    assert events[0].data == {
        "projectId": "demo",
        "executions": 6,
        "tasks": 2,
        "history": 2,
        "settings": 1,
    }
    assert store.check().problems == []
    again = store.create_execution("demo", status="running")  # a new project of the same name starts afresh
    assert _ids(store) == [again["id"]]


def test_delete_project_keeps_what_storehouse_did_not_make(store: Storehouse, data_dir: Path) -> None:
    store.create_execution("demo", id="r1", status="completed")
    stray = data_dir / "projects" / "demo" / "notes.txt"
    stray.write_text("mine")
    assert store.delete_project("demo")["executions"] == 1
    assert stray.read_text() == "mine"
    assert not (data_dir / "projects" / "demo" / "executions").exists()


async def test_http_delete_by_filter_and_of_a_project(store: Storehouse, http: httpx.AsyncClient) -> None:
    _fill(store)
    answer = await http.delete("/api/projects/demo/executions?status=failed&status=cancelled&startedBefore=" + at(4))
    assert answer.status_code == 200
    assert answer.json() == {"deleted": 2}
    assert _ids(store) == ["r1", "r4", "r5", "r6"]
    bad = await http.delete("/api/projects/demo/executions?limit=3")
    assert bad.status_code == 400
    assert "unknown query parameter 'limit'" in bad.json()["error"]["message"]
    bad = await http.delete("/api/projects/demo/executions?status=nope")
    assert bad.status_code == 400
    assert len(_ids(store)) == 4
    unconfirmed = await http.delete("/api/projects/demo")
    assert unconfirmed.status_code == 400
    assert "needs confirm=demo" in unconfirmed.json()["error"]["message"]
    assert (await http.delete("/api/projects/demo?confirm=other")).status_code == 400
    assert len(_ids(store)) == 4
    gone = await http.delete("/api/projects/demo?confirm=demo")
    assert gone.status_code == 200
    assert gone.json() == {"deleted": {"executions": 4, "tasks": 0, "history": 0, "settings": 0}}
    assert (await http.get("/api/projects")).json()["projects"][0]["id"] == "other"


def test_client_deletes_by_filter_and_a_project(server: Server, data_dir: Path) -> None:
    with Storehouse(data_dir) as store:
        _fill(store)
    with Client(server.url) as client:
        assert client.delete_executions("demo", status=["failed"], started_after=at(3)) == 2
        assert client.list_executions("demo").total == 4
        assert client.delete_project("demo") == {"executions": 4, "tasks": 0, "history": 0, "settings": 0}
        assert [info.id for info in client.list_projects().items] == ["other"]


@pytest.fixture
def no_terminal(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """stdin is not a terminal, as in CI or a pipe."""
    with open(os.devnull) as null:
        monkeypatch.setattr("sys.stdin", null)
        yield
        monkeypatch.undo()


def _cli(data_dir: Path, *args: str) -> int:
    return main([*args, "--data-dir", str(data_dir)])


def test_cli_rm_by_filter_refuses_without_yes_when_there_is_no_terminal(
    data_dir: Path, capsys: pytest.CaptureFixture[str], no_terminal: None
) -> None:
    with Storehouse(data_dir) as store:
        _fill(store)
    assert _cli(data_dir, "rm", "demo", "--status", "failed", "--status", "cancelled", "--dry-run") == 0
    assert capsys.readouterr().out.strip() == "would delete 4 execution(s) of demo"
    assert _cli(data_dir, "rm", "demo", "--status", "failed") == 1
    assert "pass --yes to confirm" in capsys.readouterr().err
    with Storehouse(data_dir) as store:
        assert len(_ids(store)) == 6
    assert _cli(data_dir, "rm", "demo", "--status", "failed", "--started-before", at(6), "--yes") == 0
    assert "deleted 2 execution(s) of demo" in capsys.readouterr().out
    assert _cli(data_dir, "rm", "demo", "--started-before", at(2)) == 0  # one run: no question
    with Storehouse(data_dir) as store:
        assert _ids(store) == ["r3", "r5", "r6"]
    assert _cli(data_dir, "rm", "demo", "r3", "--status", "failed") == 1
    assert "one of them" in capsys.readouterr().err


def test_cli_rm_asks_at_a_terminal(data_dir: Path) -> None:
    with Storehouse(data_dir) as store:
        _fill(store)
    command = [sys.executable, "-m", "storehouse", "rm", "demo", "--status", "failed", "--data-dir", str(data_dir)]
    for answer, left in ((b"n\n", 6), (b"y\n", 3)):
        primary, secondary = os.openpty()
        try:
            process = subprocess.Popen(command, stdin=secondary, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
            os.write(primary, answer)
            _out, err = process.communicate(timeout=60)
        finally:
            os.close(primary)
            os.close(secondary)
        assert b"delete 3 execution(s) of demo? [y/N]" in err
        assert process.returncode == (1 if left == 6 else 0), err
        with Storehouse(data_dir) as store:
            assert len(_ids(store)) == left


def test_cli_projects_lists_counts_and_cost_and_rm_deletes_one(
    data_dir: Path, capsys: pytest.CaptureFixture[str], no_terminal: None
) -> None:
    with Storehouse(data_dir) as store:
        _fill(store)
        store.create_task("demo", id="T-1", title="one")
    assert _cli(data_dir, "projects", "--json") == 0
    listed = orjson.loads(capsys.readouterr().out)
    assert listed["projects"][0] == {
        "id": "demo",
        "executionCount": 6,
        "lastStartedAt": "2026-03-06T10:00:00.000Z",
        "costUSD": 6.0,
        "taskCount": 1,
    }
    assert _cli(data_dir, "projects", "ls") == 0
    table = capsys.readouterr().out
    assert "demo" in table
    assert "6.0000" in table
    assert "other" in table
    assert _cli(data_dir, "projects", "rm", "demo", "--dry-run") == 0
    assert "would delete project demo: 6 execution(s), 1 task(s), 0 history entries" in capsys.readouterr().out
    assert _cli(data_dir, "projects", "rm", "demo") == 1
    assert "pass --yes" in capsys.readouterr().err
    assert _cli(data_dir, "projects", "rm", "demo", "--yes") == 0
    with Storehouse(data_dir) as store:
        assert [info.id for info in store.list_projects().items] == ["other"]
    assert _cli(data_dir, "projects", "rm", "demo", "--yes") == 1
    assert "nothing to delete" in capsys.readouterr().err
