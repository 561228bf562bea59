"""Retention of runs (``runTtlDays``, ``maxRuns``): reads never show a run past them, whenever the clean-up runs; the
clean-up by ``prune_runs``, ``storehouse prune`` and a server's background (issue #14, item 12)."""

from __future__ import annotations

import errno
import os
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import orjson
import pytest

from storehouse import Storehouse
from storehouse.backends import FileBackend
from storehouse.cli import main
from storehouse.errors import NotFound, StorageError
from storehouse.fsio import FileIO
from tests.conftest import Server


def ago(days: float) -> str:
    return (datetime.now(UTC) - timedelta(days=days)).strftime("%Y-%m-%dT%H:%M:%S.000Z")


def _files(data_dir: Path) -> list[str]:
    return sorted(name[:-5] for name in os.listdir(data_dir / "projects" / "demo" / "executions"))


def _fill_ages(store: Storehouse) -> None:
    """old1, old2 started 40 and 35 days ago (one failed), new1-new3 in the last days."""
    for name, days, status in (
        ("old1", 40, "failed"),
        ("old2", 35, "completed"),
        ("new1", 3, "failed"),
        ("new2", 2, "completed"),
        ("new3", 1, "completed"),
    ):
        store.create_execution("demo", id=name, status=status, startedAt=ago(days), costUSD=1.25, duration=1000)


def test_a_run_past_the_ttl_is_never_listed_got_or_counted_before_prune(store: Storehouse, data_dir: Path) -> None:
    _fill_ages(store)
    store.set_history_settings("demo", {"runTtlDays": 30})
    assert store.history_settings("demo")["runTtlDays"] == 30
    page = store.list_executions("demo")
    assert ([item["id"] for item in page.items], page.total) == (["new3", "new2", "new1"], 3)
    assert store.list_executions("demo", status="failed").total == 1
    assert store.list_executions("demo", sort="startedAt", limit=1).items[0]["id"] == "new1"
    with pytest.raises(NotFound):
        store.get_execution("demo", "old1")
    stats = store.execution_stats("demo")
    assert (stats["totalExecutions"], stats["failed"], stats["completed"]) == (3, 1, 2)
    assert stats["totalCostUSD"] == 3.75
    assert stats["totalDuration"] == 3000
    daily = store.daily_stats("demo", days=60)
    assert sum(day["runs"] for day in daily["days"]) == 3
    assert [(info.execution_count, info.cost_usd) for info in store.list_projects().items] == [(3, 3.75)]
    exported = [orjson.loads(line) for line in store.export("demo", "executions")]
    assert sorted(record["document"]["id"] for record in exported) == ["new1", "new2", "new3"]
    assert _files(data_dir) == ["new1", "new2", "new3", "old1", "old2"]  # still on disk: hidden, not yet removed
    assert store.prune_runs("demo") == 2
    assert _files(data_dir) == ["new1", "new2", "new3"]
    assert store.execution_stats("demo") == stats
    assert store.check().problems == []


def test_max_runs_keeps_the_newest_by_started_at_and_stats_stay_exact(store: Storehouse) -> None:
    _fill_ages(store)
    before = store.execution_stats("demo")
    store.set_history_settings("demo", {"maxRuns": 2})
    assert [item["id"] for item in store.list_executions("demo").items] == ["new3", "new2"]
    assert store.list_executions("demo", offset=1).items[0]["id"] == "new2"
    stats = store.execution_stats("demo")
    assert (stats["totalExecutions"], stats["completed"], stats["failed"]) == (2, 2, 0)
    assert stats["totalCostUSD"] == 2.5
    store.create_execution("demo", id="new4", status="failed", startedAt=ago(0.5), costUSD=1.25)
    assert [item["id"] for item in store.list_executions("demo").items] == ["new4", "new3"]
    assert store.list_executions("demo", status="failed").total == 1
    store.set_history_settings("demo", {"maxRuns": None})  # no limit: what the cap hid stays gone
    assert store.list_executions("demo").total == 2
    assert store.execution_stats("demo")["totalExecutions"] == 2
    assert before["totalExecutions"] == 5


def test_a_delete_does_not_bring_back_a_run_the_cap_hid(store: Storehouse) -> None:
    _fill_ages(store)
    store.set_history_settings("demo", {"maxRuns": 3})
    assert store.delete_executions("demo", status="failed") == 1  # new1; old1 is hidden and not counted
    assert [item["id"] for item in store.list_executions("demo").items] == ["new3", "new2"]
    store.delete_execution("demo", "new3")
    assert [item["id"] for item in store.list_executions("demo").items] == ["new2"]


def test_a_longer_ttl_does_not_bring_back_what_the_shorter_one_hid(store: Storehouse, data_dir: Path) -> None:
    _fill_ages(store)
    store.set_history_settings("demo", {"runTtlDays": 30})
    store.set_history_settings("demo", {"runTtlDays": 365})
    assert store.list_executions("demo").total == 3
    assert _files(data_dir) == ["new1", "new2", "new3"]
    assert orjson.loads((data_dir / "projects" / "demo" / "settings.json").read_bytes())["runTtlDays"] == 365


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


def test_a_clean_up_cut_short_loses_no_run_that_retention_keeps(data_dir: Path) -> None:
    with Storehouse(data_dir) as store:
        _fill_ages(store)
        kept = store.list_executions("demo").items
        store.set_history_settings("demo", {"maxRuns": 3})
    io = FailingUnlinkIO(allowed=1)
    with Storehouse(backend=FileBackend(data_dir, io=io)) as store:
        with pytest.raises(StorageError):
            store.prune_runs("demo")
        assert set(_files(data_dir)) >= {"new1", "new2", "new3"}
        assert len(_files(data_dir)) == 4
        assert store.list_executions("demo").items == kept[:3]
        assert store.check().problems == []
        io.allowed = 100
        assert store.prune_runs("demo") == 1
    assert _files(data_dir) == ["new1", "new2", "new3"]


def test_settings_refuse_bad_run_limits_and_change_nothing(store: Storehouse) -> None:
    _fill_ages(store)
    for bad in ({"runTtlDays": 0}, {"maxRuns": "10"}, {"maxRuns": True}, {"runTtlDays": 36_501}):
        with pytest.raises(Exception, match="must be null \\(keep every run\\) or a whole number"):
            store.set_history_settings("demo", bad)
    assert store.history_settings("demo") == {
        "historyTtlDays": 20,
        "historyMaxEntriesPerTask": 100,
        "runTtlDays": None,
        "maxRuns": None,
    }
    assert store.list_executions("demo").total == 5


def test_cli_prune_removes_the_runs_past_retention(data_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with Storehouse(data_dir) as store:
        _fill_ages(store)
        store.set_history_settings("demo", {"runTtlDays": 30})
    assert main(["prune", "--json", "--data-dir", str(data_dir)]) == 0
    body = orjson.loads(capsys.readouterr().out)
    assert (body["runs"], body["runsDeleted"]) == ({"demo": 2}, 2)
    assert _files(data_dir) == ["new1", "new2", "new3"]
    assert main(["prune", "demo", "--data-dir", str(data_dir)]) == 0
    assert "demo: removed 0 run(s) past its run retention" in capsys.readouterr().out


def test_a_server_removes_the_runs_past_retention_in_the_background(data_dir: Path) -> None:
    with Storehouse(data_dir) as store:
        _fill_ages(store)
    server = Server(data_dir, env={"STOREHOUSE_CLEANUP_INTERVAL": "1"})
    try:
        answer = httpx.put(f"{server.url}/api/projects/demo/settings", json={"maxRuns": 1})
        assert answer.json()["maxRuns"] == 1
        assert httpx.get(f"{server.url}/api/projects/demo/executions").json()["total"] == 1  # at once
        deadline = time.monotonic() + 30
        while _files(data_dir) != ["new3"] and time.monotonic() < deadline:
            time.sleep(0.1)
        assert _files(data_dir) == ["new3"]
    finally:
        server.stop()


def test_a_run_the_ttl_hides_is_gone_for_a_patch_and_a_delete_too(store: Storehouse, data_dir: Path) -> None:
    """A write names a run as a read does: one past the ttl answers NotFound (and changes nothing) before the
    clean-up has removed its file, as after."""
    _fill_ages(store)
    store.set_history_settings("demo", {"runTtlDays": 30})
    with pytest.raises(NotFound):
        store.patch_execution("demo", "old1", {"status": "completed"})
    with pytest.raises(NotFound):
        store.delete_execution("demo", "old1")
    assert "old1" in _files(data_dir)  # not cleaned up yet: still hidden, still unchanged
    assert (
        orjson.loads((data_dir / "projects" / "demo" / "executions" / "old1.json").read_bytes())["status"] == "failed"
    )
    store.patch_execution("demo", "new1", {"status": "completed"})  # a run it keeps takes writes as ever
    store.delete_execution("demo", "new2")
    assert [run["id"] for run in store.list_executions("demo").items] == ["new3", "new1"]
