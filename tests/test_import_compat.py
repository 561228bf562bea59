"""Import of documents from the original system and other tools, import under another project name, and the
duration derived for files that lack it (issue #14, item 14)."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from storehouse import Storehouse
from storehouse.cli import main


def _line(kind: str, project: str, document: dict[str, object], **more: str) -> bytes:
    return orjson.dumps({"kind": kind, "project": project, "document": document, **more})


def test_documents_without_version_or_timestamps_import_as_version_1_runs_and_tasks_alike(store: Storehouse) -> None:
    lines = [
        _line("execution", "old", {"id": "e1", "status": "completed", "startedAt": "2026-01-01T10:00:00Z"}),
        _line("execution", "old", {"id": "e2", "status": "running"}),
        _line("task", "old", {"id": "T-1", "title": "from the old tool"}),
        _line("task", "old", {"id": "T-2", "title": "with a time", "updatedAt": "2026-01-02T00:00:00Z"}),
    ]
    report = store.import_lines(lines)
    assert [outcome.result for outcome in report.outcomes] == ["created"] * 4
    run = store.get_execution("old", "e1")
    assert (run["version"], run["createdAt"], run["startedAt"]) == (1, run["startedAt"], "2026-01-01T10:00:00.000Z")
    undated = store.get_execution("old", "e2")
    task = store.get_task("old", "T-1")
    assert undated["version"] == task["version"] == 1
    assert (
        undated["createdAt"] == undated["startedAt"] == undated["updatedAt"] == task["createdAt"] == task["updatedAt"]
    )
    dated = store.get_task("old", "T-2")
    assert dated["createdAt"] == dated["updatedAt"] == "2026-01-02T00:00:00.000Z"
    assert store.import_lines(lines).count("skipped") == 4  # idempotent: version 1 is stored
    assert store.check().problems == []


def test_import_with_project_copies_everything_under_the_new_name(
    data_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with Storehouse(data_dir) as store:
        store.create_execution("demo", id="r1", status="completed", costUSD=0.5)
        store.create_task("demo", id="T-1", title="one")
        store.add_history("demo", "T-1", {"type": "log", "content": "hello"})
        store.set_history_settings("demo", {"historyTtlDays": 9})
    export = tmp_path / "demo.jsonl"
    assert main(["export", "demo", "--output", str(export), "--data-dir", str(data_dir)]) == 0
    assert main(["import", str(export), "--project", "copy", "--data-dir", str(data_dir)]) == 0
    assert "0 rejected" in capsys.readouterr().out
    with Storehouse(data_dir) as store:
        assert store.get_execution("copy", "r1")["projectId"] == "copy"
        assert store.get_task("copy", "T-1")["projectId"] == "copy"
        assert [entry["content"] for entry in store.list_history("copy", "T-1").entries] == ["hello"]
        assert store.history_settings("copy")["historyTtlDays"] == 9
        assert store.get_execution("demo", "r1")["projectId"] == "demo"  # the original stays as it was
        assert sorted(info.id for info in store.list_projects().items) == ["copy", "demo"]
    assert main(["import", str(export), "--project", "../x", "--data-dir", str(data_dir)]) == 1
    assert "project" in capsys.readouterr().err


def test_a_file_of_the_original_system_without_duration_is_served_with_it_derived(
    store: Storehouse, data_dir: Path
) -> None:
    store.create_execution("demo", id="seed", status="running")  # the project exists
    legacy = {
        "id": "legacy",
        "status": "completed",
        "startedAt": "2026-01-01T10:00:00Z",
        "completedAt": "2026-01-01T10:00:05Z",
    }
    (data_dir / "projects" / "demo" / "executions" / "legacy.json").write_bytes(orjson.dumps(legacy))
    with Storehouse(data_dir) as fresh:  # a new process reconciles the file into its index
        assert fresh.get_execution("demo", "legacy")["duration"] == 5000
        summary = next(item for item in fresh.list_executions("demo").items if item["id"] == "legacy")
        assert summary["duration"] == 5000
        assert fresh.execution_stats("demo")["totalDuration"] == 5000
        assert fresh.check().problems == []
