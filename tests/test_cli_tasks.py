"""The tasks and context commands (issue #6 item 7), run in-process through cli.main()."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from storehouse import Storehouse
from storehouse.cli import main


def run(data_dir: Path, *args: str) -> int:
    return main([*args, "--data-dir", str(data_dir)])


def test_add_ls_and_show(data_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(data_dir, "tasks", "add", "demo", "--title", "Set up DB", "--id", "db", "--priority", "high") == 0
    second = ["--title", "Fix [b]login[/b]", "--id", "T-7", "--depends-on", "db:requires", "--complexity", "5"]
    assert run(data_dir, "tasks", "add", "demo", *second, "--tag", "auth", "--assigned-to", "coder") == 0
    assert capsys.readouterr().out == "created task db in demo\ncreated task T-7 in demo\n"
    assert run(data_dir, "tasks", "ls", "demo") == 0
    captured = capsys.readouterr()
    table = captured.out
    assert "2 of 2 tasks" in captured.err
    assert table.index("db") < table.index("T-7")  # high before medium
    assert "[b]login[/b]" in table  # never read as markup
    assert run(data_dir, "tasks", "ls", "demo", "--json", "--priority", "medium") == 0
    listed = json.loads(capsys.readouterr().out)
    assert [task["id"] for task in listed["tasks"]] == ["T-7"]
    assert listed["tasks"][0]["dependencies"] == [{"taskId": "db", "type": "requires"}]
    assert run(data_dir, "tasks", "show", "demo", "T-7") == 0
    shown = json.loads(capsys.readouterr().out)
    assert (shown["complexityScore"], shown["tags"], shown["assignedTo"]) == (5, ["auth"], "coder")


def test_description_from_stdin(data_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO("line one\nline two\n"))
    assert run(data_dir, "tasks", "add", "demo", "--title", "T", "--id", "t", "--description", "-") == 0
    with Storehouse(data_dir) as store:
        assert store.get_task("demo", "t")["description"] == "line one\nline two\n"


def test_move_follows_the_state_machine(data_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run(data_dir, "tasks", "add", "demo", "--title", "T", "--id", "t")
    capsys.readouterr()
    assert run(data_dir, "tasks", "move", "demo", "t", "running", "--actor", "bot", "--reason", "go") == 0
    assert capsys.readouterr().out == "demo/t: pending -> running\n"
    assert run(data_dir, "tasks", "move", "demo", "t", "pending") == 1
    assert "from running it can move to succeeded, failed, cancelled" in capsys.readouterr().err
    with Storehouse(data_dir) as store:
        (transition,) = store.task_transitions("demo", "t")
    assert (transition["actor"], transition["reason"]) == ("bot", "go")


def test_deps_add_remove_refuse_a_cycle_and_show_dependents(data_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    for task in ("a", "b", "c"):
        run(data_dir, "tasks", "add", "demo", "--title", task.upper(), "--id", task)
    capsys.readouterr()
    assert run(data_dir, "tasks", "deps", "demo", "a", "--add", "b", "--add", "c:related", "--json") == 0
    assert json.loads(capsys.readouterr().out)["dependencies"] == [
        {"taskId": "b", "type": "blocks", "task": _summary(data_dir, "b")},
        {"taskId": "c", "type": "related", "task": _summary(data_dir, "c")},
    ]
    assert run(data_dir, "tasks", "deps", "demo", "b", "--add", "a") == 1
    assert "would close the cycle b -> a -> b" in capsys.readouterr().err
    assert run(data_dir, "tasks", "deps", "demo", "b", "--dependents") == 0
    assert "what depends on it" in capsys.readouterr().err
    assert run(data_dir, "tasks", "deps", "demo", "a", "--remove", "b", "--json") == 0
    assert [edge["taskId"] for edge in json.loads(capsys.readouterr().out)["dependencies"]] == ["c"]
    assert run(data_dir, "tasks", "deps", "demo", "a", "--add", "b:soon") == 1
    assert "ID:blocks|requires|related" in capsys.readouterr().err


def _summary(data_dir: Path, task: str) -> dict[str, object]:
    with Storehouse(data_dir) as store:
        return next(item for item in store.list_tasks("demo").items if item["id"] == task)


def test_order_rm_and_context(data_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run(data_dir, "tasks", "add", "demo", "--title", "Later", "--id", "later", "--depends-on", "first")  # no first yet
    assert "not found" in capsys.readouterr().err
    run(data_dir, "tasks", "add", "demo", "--title", "First", "--id", "first", "--priority", "low")
    run(data_dir, "tasks", "add", "demo", "--title", "Later", "--id", "later", "--depends-on", "first")
    capsys.readouterr()
    assert run(data_dir, "tasks", "order", "demo", "--json") == 0
    assert [task["id"] for task in json.loads(capsys.readouterr().out)["tasks"]] == ["first", "later"]
    assert run(data_dir, "context", "demo", "later", "--max-chars", "500") == 0
    text = capsys.readouterr().out
    assert text.startswith("# Task later: Later\n")
    assert '- first (blocks) "First": pending' in text
    assert run(data_dir, "context", "demo", "later", "--format", "json") == 0
    assert json.loads(capsys.readouterr().out)["task"]["id"] == "later"
    assert run(data_dir, "tasks", "rm", "demo", "first") == 0
    capsys.readouterr()
    assert run(data_dir, "tasks", "show", "demo", "later") == 0
    assert json.loads(capsys.readouterr().out)["dependencies"] == []
    assert run(data_dir, "tasks", "show", "demo", "first") == 1
