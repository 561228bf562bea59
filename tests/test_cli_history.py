"""The history commands of the storehouse CLI (issue #5): history add/ls/count/rm/settings and prune."""

from __future__ import annotations

import io
import json
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from storehouse import Storehouse
from storehouse.cli import main
from storehouse.cli_history import describe_event
from storehouse.errors import InvalidBody

EXPIRED = "2020-01-01T00:00:00.000Z"  # long past any time-to-live


def _run(data_dir: Path, *argv: str) -> int:
    return main([*argv, "--data-dir", str(data_dir)])


def _stdin(monkeypatch: pytest.MonkeyPatch, data: str | bytes) -> None:
    raw = data.encode() if isinstance(data, str) else data
    monkeypatch.setattr("sys.stdin", io.TextIOWrapper(io.BytesIO(raw), encoding="utf-8"))


def _lines(printed: str) -> list[dict[str, object]]:
    return [json.loads(line) for line in printed.split("\n") if line]  # not splitlines(): U+2028 is in a string


def _history_file(data_dir: Path, project: str = "demo", task: str = "T-1") -> Path:
    return data_dir / "projects" / project / "history" / f"{task}.jsonl"


def test_add_one_entry_from_flags(data_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["history", "add", "demo", "T-1", "--type", "chat_message", "--content", "hi", "--role", "planner"]
    argv += ["--workspace-id", "w1", "--session-id", "s1", "--execution-id", "run-1", "--metadata", '{"n": 1}']
    assert _run(data_dir, *argv, "--created-at", "2099-01-02T03:04:05+01:00") == 0
    assert capsys.readouterr().out == "added 1 entry to demo/T-1: id 1\n"
    with Storehouse(data_dir) as store:
        [entry] = store.list_history("demo", "T-1").entries
    assert entry == {
        "id": 1,
        "taskId": "T-1",
        "type": "chat_message",
        "executionId": "run-1",
        "workspaceId": "w1",
        "sessionId": "s1",
        "role": "planner",
        "content": "hi",
        "metadata": {"n": 1},
        "createdAt": "2099-01-02T02:04:05.000Z",
        "expiresAt": "2099-01-22T02:04:05.000Z",
    }


def test_add_reads_content_from_stdin_and_prints_json_lines(
    data_dir: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    _stdin(monkeypatch, "line one\nline two: [bold]é[/] :smile:\n")
    assert _run(data_dir, "history", "add", "demo", "T-1", "--type", "log", "--content", "-", "--json") == 0
    [printed] = _lines(capsys.readouterr().out)
    assert printed["content"] == "line one\nline two: [bold]é[/] :smile:\n"  # as is: no markup, no emoji codes
    assert (printed["id"], printed["type"]) == (1, "log")


def test_ls_prints_a_table_and_a_footer(data_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with Storehouse(data_dir) as store:
        store.add_history("demo", "T-1", [{"type": "agent_start", "role": "planner", "content": "[red]plan[/]"}])
        store.add_history("demo", "T-1", [{"type": "log", "content": "x" * 500} for _ in range(3)])
    assert _run(data_dir, "history", "ls", "demo", "T-1", "--limit", "2") == 0
    captured = capsys.readouterr()
    printed = captured.out  # piped: a header line, then whole rows, tab-separated; title and footer on stderr
    assert captured.err.splitlines() == ["demo/T-1: history", "2 of 4 entries"]
    assert printed.splitlines()[0].split("\t") == ["id", "createdAt", "type", "role", "content"]
    assert printed.splitlines()[1].split("\t")[2:] == ["agent_start", "planner", "[red]plan[/]"]
    assert printed.splitlines()[2].split("\t")[2:] == ["log", "", "x" * 500]  # whole, not shortened


def test_ls_across_tasks_shows_the_task_of_each_entry(data_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with Storehouse(data_dir) as store:
        store.add_history("demo", "T-1", {"type": "log", "createdAt": "2099-01-01T00:00:02Z"})
        store.add_history("demo", "T-2", {"type": "error", "createdAt": "2099-01-01T00:00:01Z"})
    assert _run(data_dir, "history", "ls", "demo") == 0
    captured = capsys.readouterr()
    printed = captured.out
    assert "task" in printed.splitlines()[0].split("\t")
    assert printed.index("T-2") < printed.index("T-1")  # time order across tasks
    assert captured.err.splitlines()[-1] == "2 of 2 entries"
    assert _run(data_dir, "history", "ls", "demo", "--json") == 0
    assert [e["taskId"] for e in _lines(capsys.readouterr().out)] == ["T-2", "T-1"]


@pytest.mark.parametrize(
    ("flags", "ids"),
    [
        ([], [1, 2, 3, 4]),
        (["--type", "chat_message,error"], [1, 3]),
        (["--workspace-id", "w1"], [1, 3]),
        (["--session-id", "s2"], [3]),
        (["--execution-id", "run-9"], [2]),
        (["--since", "2099-01-01T00:00:02Z"], [2, 3, 4]),
        (["--until", "2099-01-01T00:00:02Z"], [1]),
        (["--limit", "2", "--offset", "1"], [2, 3]),
        (["--desc", "--limit", "3"], [4, 3, 2]),
    ],
)
def test_ls_filters_and_pages(
    flags: list[str], ids: list[int], data_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with Storehouse(data_dir) as store:
        store.add_history(
            "demo",
            "T-1",
            [
                {"type": "chat_message", "workspaceId": "w1", "sessionId": "s1", "createdAt": "2099-01-01T00:00:01Z"},
                {"type": "log", "workspaceId": "w2", "executionId": "run-9", "createdAt": "2099-01-01T00:00:02Z"},
                {"type": "error", "workspaceId": "w1", "sessionId": "s2", "createdAt": "2099-01-01T00:00:03Z"},
                {"type": "result", "createdAt": "2099-01-01T00:00:04Z"},
            ],
        )
    assert _run(data_dir, "history", "ls", "demo", "T-1", "--json", *flags) == 0
    assert [e["id"] for e in _lines(capsys.readouterr().out)] == ids


def test_ls_json_pipes_into_add_file_unchanged(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    source, copy = tmp_path / "source", tmp_path / "copy"
    with Storehouse(source) as store:
        store.add_history(
            "demo",
            "T-1",
            [
                {
                    "type": "agent_turn",
                    "role": "coder",
                    "content": "naïve [b]x[/] :smile: \u2028",
                    "metadata": {"k": [1]},
                },
                {"type": "execution_step", "executionId": "run-1", "workspaceId": "w", "sessionId": "s"},
                {"type": "log", "createdAt": "2099-05-06T07:08:09.123Z"},
            ],
        )
    assert _run(source, "history", "ls", "demo", "T-1", "--json") == 0
    exported = capsys.readouterr().out
    assert exported.count("\n") == 3
    _stdin(monkeypatch, exported)
    assert _run(copy, "history", "add", "demo", "T-1", "--file", "-") == 0
    assert capsys.readouterr().out == "added 3 entries to demo/T-1: ids 1-3\n"
    assert _run(copy, "history", "ls", "demo", "T-1", "--json") == 0
    assert capsys.readouterr().out == exported


def test_add_file_reads_a_path_and_skips_blank_lines(
    data_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    lines = tmp_path / "in.jsonl"
    lines.write_text('{"type": "log", "content": "a"}\n\n   \n{"type": "result", "content": "b"}')
    assert _run(data_dir, "history", "add", "demo", "T-1", "--file", str(lines), "--json") == 0
    assert [(e["id"], e["content"]) for e in _lines(capsys.readouterr().out)] == [(1, "a"), (2, "b")]


@pytest.mark.parametrize(
    ("bad_line", "message"),
    [
        ('{"type": "log", ', "line 3: not JSON"),
        ('{"type": "gossip"}', "line 3: type must be one of"),
        ('["log"]', "line 3: a history entry must be a JSON object, got"),
        ('{"type": "log", "metadata": [1]}', "line 3: metadata must be a JSON object or null"),
        ('{"type": "log", "createdAt": "yesterday"}', "line 3: createdAt must be an RFC 3339 timestamp"),
        ('{"type": "log", "sessionId": "a b"}', "line 3: sessionId must be 1-128 characters"),
        ('{"type": "log", "colour": "red"}', "line 3: unknown field 'colour'"),
    ],
)
def test_add_file_with_one_bad_line_adds_nothing_and_names_the_line(
    bad_line: str, message: str, data_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with Storehouse(data_dir) as store:
        store.add_history("demo", "T-1", {"type": "log", "content": "before"})
    before = _history_file(data_dir).read_bytes()
    lines = tmp_path / "in.jsonl"
    lines.write_text(f'{{"type": "log"}}\n{{"type": "result"}}\n{bad_line}\n{{"type": "log"}}\n')
    assert _run(data_dir, "history", "add", "demo", "T-1", "--file", str(lines)) == 1
    captured = capsys.readouterr()
    assert captured.err.startswith(f"error: {lines}, line 3: ")
    assert message in captured.err
    assert captured.out == ""
    assert _history_file(data_dir).read_bytes() == before


def test_add_file_from_stdin_names_stdin_in_errors(
    data_dir: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    _stdin(monkeypatch, b'{"type": "log"}\n\xff\n')
    assert _run(data_dir, "history", "add", "demo", "T-1", "--file", "-") == 1
    assert "error: stdin, line 2: not JSON" in capsys.readouterr().err
    assert not _history_file(data_dir).exists()


@pytest.mark.parametrize(
    ("contents", "message"),
    [(None, "No such file or directory"), ("", "holds no entries"), ("\n \n", "holds no entries")],
)
def test_add_file_missing_or_empty_is_an_error(
    contents: str | None, message: str, data_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    lines = tmp_path / "in.jsonl"
    if contents is not None:
        lines.write_text(contents)
    assert _run(data_dir, "history", "add", "demo", "T-1", "--file", str(lines)) == 1
    assert message in capsys.readouterr().err
    assert not _history_file(data_dir).exists()


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--type", "gossip"], "type must be one of"),
        (["--type", "log", "--metadata", "{"], "--metadata must be a JSON object, got text that is not JSON"),
        (["--type", "log", "--metadata", "[1]"], "metadata must be a JSON object or null, got"),
        (["--type", "log", "--created-at", "soon"], "createdAt must be an RFC 3339 timestamp"),
        (["--type", "log", "--workspace-id", "w 1"], "workspaceId must be 1-128 characters"),
    ],
)
def test_add_with_an_invalid_flag_changes_nothing(
    flags: list[str], message: str, data_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with Storehouse(data_dir) as store:
        store.add_history("demo", "T-1", {"type": "log"})
    before = _history_file(data_dir).read_bytes()
    assert _run(data_dir, "history", "add", "demo", "T-1", *flags) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: ")
    assert message in err
    assert _history_file(data_dir).read_bytes() == before


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["history"], "usage: storehouse history"),
        (["history", "add", "demo", "T-1"], "one of the arguments --type --file is required"),
        (["history", "add", "demo", "T-1", "--type", "log", "--file", "x"], "not allowed with argument"),
        (["history", "add", "demo", "T-1", "--file", "x", "--content", "hi"], "leave out --content"),
        (["history", "ls"], "required: project"),
        (["history", "count", "demo"], "required: task"),
        (["history", "ls", "demo", "--limit", "many"], "invalid int value"),
        (["history", "settings", "demo", "--ttl-days", "1.5"], "invalid int value"),
    ],
)
def test_bad_usage_exits_2(argv: list[str], message: str, data_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        _run(data_dir, *argv)
    assert exited.value.code == 2
    assert message in capsys.readouterr().err
    assert not (data_dir / "projects").exists()


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["history", "ls", "demo", "T-1", "--limit", "0"], "limit must be between 1 and 1000, got 0"),
        (["history", "ls", "demo", "--type", "log,gossip"], "got 'gossip'"),
        (["history", "ls", "demo", "--since", "soon"], "since must be an RFC 3339 timestamp"),
        (["history", "ls", "../etc"], "projectId"),
        (["history", "count", "demo", "../T"], "taskId"),
        (["history", "rm", "demo", "../T"], "taskId"),
        (["history", "add", "..", "T-1", "--type", "log"], "projectId"),
        (["prune", "../etc"], "projectId"),
    ],
)
def test_invalid_values_exit_1_with_the_message(
    argv: list[str], message: str, data_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data_dir.mkdir()
    assert _run(data_dir, *argv) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: ")
    assert message in err


def test_count_and_rm(data_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with Storehouse(data_dir) as store:
        store.add_history("demo", "T-1", [{"type": "log"}, {"type": "log"}, {"type": "log", "createdAt": EXPIRED}])
    assert _run(data_dir, "history", "count", "demo", "T-1") == 0
    assert capsys.readouterr().out == "2\n"  # the expired entry is not counted
    assert _run(data_dir, "history", "rm", "demo", "T-1") == 0
    assert capsys.readouterr().out == "deleted 2 entries of demo/T-1\n"
    assert _history_file(data_dir).read_bytes() == b'{"id":3}\n'  # a tombstone: ids go on from it
    assert _run(data_dir, "history", "count", "demo", "T-1") == 0
    assert _run(data_dir, "history", "rm", "demo", "T-1") == 0
    assert capsys.readouterr().out == "0\ndeleted 0 entries of demo/T-1\n"


def test_settings_show_then_change_and_ls_applies_the_cap(data_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with Storehouse(data_dir) as store:
        store.add_history("demo", "T-1", [{"type": "log", "content": f"c{n}"} for n in range(5)])
    assert _run(data_dir, "history", "settings", "demo") == 0
    assert capsys.readouterr().out == "historyTtlDays 20\nhistoryMaxEntriesPerTask 100\nrunTtlDays none\nmaxRuns none\n"
    assert _run(data_dir, "history", "settings", "demo", "--max-entries", "2", "--json") == 0
    assert json.loads(capsys.readouterr().out) == {
        "historyTtlDays": 20,
        "historyMaxEntriesPerTask": 2,
        "runTtlDays": None,
        "maxRuns": None,
    }
    assert _run(data_dir, "history", "settings", "demo", "--ttl-days", "7") == 0
    assert capsys.readouterr().out == "historyTtlDays 7\nhistoryMaxEntriesPerTask 2\nrunTtlDays none\nmaxRuns none\n"
    assert _run(data_dir, "history", "ls", "demo", "T-1", "--json") == 0
    assert [e["content"] for e in _lines(capsys.readouterr().out)] == ["c3", "c4"]
    assert _run(data_dir, "history", "ls", "demo", "T-1") == 0
    assert capsys.readouterr().err.splitlines()[-1] == "2 of 2 entries"
    assert _run(data_dir, "history", "count", "demo", "T-1") == 0
    assert capsys.readouterr().out == "2\n"


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--ttl-days", "0"], "historyTtlDays must be a whole number from 1 to 36500, got 0"),
        (["--max-entries", "-1"], "historyMaxEntriesPerTask must be a whole number from 1 to 100000, got -1"),
        (["--ttl-days", "5", "--max-entries", "100001"], "historyMaxEntriesPerTask must be a whole number"),
        (["--max-runs", "0"], "maxRuns must be null (keep every run) or a whole number from 1"),
        (["--run-ttl-days", "soon"], "runTtlDays must be a whole number or none"),
    ],
)
def test_settings_out_of_range_change_nothing(
    flags: list[str], message: str, data_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data_dir.mkdir(parents=True, exist_ok=True)  # a read of the settings below needs the data directory to exist
    assert _run(data_dir, "history", "settings", "demo", *flags) == 1
    assert message in capsys.readouterr().err
    assert _run(data_dir, "history", "settings", "demo", "--json") == 0
    assert json.loads(capsys.readouterr().out) == {
        "historyTtlDays": 20,
        "historyMaxEntriesPerTask": 100,
        "runTtlDays": None,
        "maxRuns": None,
    }


def test_prune_one_project_removes_back_filled_expired_entries(
    data_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with Storehouse(data_dir) as store:
        store.add_history("demo", "T-1", [*({"type": "log", "createdAt": EXPIRED} for _ in range(3)), {"type": "log"}])
        store.add_history("other", "T-1", {"type": "log", "createdAt": EXPIRED})
    assert len(_history_file(data_dir).read_bytes().splitlines()) == 4  # back-filled, kept on disk, never shown
    assert _run(data_dir, "prune", "demo") == 0
    assert capsys.readouterr().out == "demo: removed 3 entries\nremoved 3 entries in all from 1 project(s)\n"
    assert len(_history_file(data_dir).read_bytes().splitlines()) == 1
    assert len(_history_file(data_dir, "other").read_bytes().splitlines()) == 1  # another project is left alone
    assert _run(data_dir, "history", "count", "demo", "T-1") == 0
    assert capsys.readouterr().out == "1\n"
    assert _run(data_dir, "prune", "demo") == 0
    assert "demo: removed 0 entries" in capsys.readouterr().out


def test_prune_every_project_reports_each_and_the_total(data_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with Storehouse(data_dir) as store:
        store.create_execution("runs-only", name="no history here")
        store.add_history("alpha", "T-1", [{"type": "log", "createdAt": EXPIRED}, {"type": "log"}])
        store.add_history("alpha", "T-2", [{"type": "log", "createdAt": EXPIRED}, {"type": "log"}])
        store.add_history("beta", "T-1", [{"type": "log"} for _ in range(4)])
        store.set_history_settings("beta", {"historyMaxEntriesPerTask": 1})
        store.add_history("gamma", "T-1", {"type": "log"})
    assert _run(data_dir, "prune") == 0
    assert capsys.readouterr().out == (
        "alpha: removed 2 entries\nbeta: removed 3 entries\ngamma: removed 0 entries\n"
        "removed 5 entries in all from 3 project(s)\n"
    )
    assert len(_history_file(data_dir, "beta").read_bytes().splitlines()) == 1
    assert _run(data_dir, "prune", "--json") == 0
    assert json.loads(capsys.readouterr().out) == {
        "projects": {"alpha": 0, "beta": 0, "gamma": 0},
        "deleted": 0,
        "runs": {},
        "runsDeleted": 0,
    }


def test_settings_set_and_unset_the_run_limits(data_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert _run(data_dir, "history", "settings", "demo", "--max-runs", "50", "--run-ttl-days", "30", "--json") == 0
    assert json.loads(capsys.readouterr().out)["maxRuns"] == 50
    assert _run(data_dir, "history", "settings", "demo", "--max-runs", "none") == 0
    assert capsys.readouterr().out.splitlines()[-2:] == ["runTtlDays 30", "maxRuns none"]


def test_prune_with_no_data_reports_nothing(data_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data_dir.mkdir()
    assert _run(data_dir, "prune") == 0
    assert capsys.readouterr().out == "removed 0 entries in all from 0 project(s)\n"


def test_history_data_dir_comes_from_the_environment(
    data_dir: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("STOREHOUSE_DATA_DIR", str(data_dir))
    assert main(["history", "add", "demo", "T-1", "--type", "log"]) == 0
    assert main(["history", "count", "demo", "T-1"]) == 0
    assert capsys.readouterr().out.splitlines()[-1] == "1"
    assert _history_file(data_dir).exists()


# -- events --------------------------------------------------------------------------------------------------
def test_events_once_prints_the_changes_after_an_id(data_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with Storehouse(data_dir) as store:
        start = store.change_head()
        made = store.create_execution("demo", name="triage", status="running")
        store.add_history("demo", "T-1", {"type": "agent_turn", "content": "thinking hard"})
        store.delete_execution("demo", made["id"])
        ids = [event.id for event in store.changes("demo", start).events]
    assert _run(data_dir, "events", "demo", "--after", start, "--once") == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split()[:2] for line in lines] == [
        [ids[0], "execution.created"],
        [ids[1], "history.appended"],
        [ids[2], "execution.deleted"],
    ]
    assert lines[0].endswith(f"{made['id']} running triage")
    assert lines[1].endswith("T-1 #1 agent_turn: thinking hard")
    assert _run(data_dir, "events", "demo", "--after", ids[1], "--once", "--json") == 0
    (only,) = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert (only["id"], only["type"], only["data"]) == (
        ids[2],
        "execution.deleted",
        {
            "projectId": "demo",
            "executionId": made["id"],
        },
    )


def test_events_from_now_on_prints_nothing_with_once(data_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with Storehouse(data_dir) as store:
        store.create_execution("demo")
    assert _run(data_dir, "events", "demo", "--once") == 0
    assert capsys.readouterr().out == ""


def test_events_says_when_a_position_cannot_be_resumed(data_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data_dir.mkdir()
    assert _run(data_dir, "events", "demo", "--after", "0123456789ab-5", "--once") == 0
    assert "reset: " in capsys.readouterr().err
    assert _run(data_dir, "events", "demo", "--after", "nonsense", "--once") == 1
    assert "event id" in capsys.readouterr().err


def test_events_follows_another_process_until_stopped(data_dir: Path) -> None:
    with Storehouse(data_dir) as store:
        start = store.change_head()  # the follower goes on from here, however long it takes to start
    follower = subprocess.Popen(
        [sys.executable, "-m", "storehouse", "events", "demo", "--json", "--after", start, "--data-dir", str(data_dir)],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        with Storehouse(data_dir) as store:
            store.add_history("demo", "T-1", {"type": "log", "content": "hello"})
        assert follower.stdout is not None
        event = json.loads(follower.stdout.readline())
        assert (event["type"], event["data"]["entries"][0]["content"]) == ("history.appended", "hello")
    finally:
        follower.send_signal(signal.SIGINT)
        code = follower.wait(10)
        if follower.stdout is not None:
            follower.stdout.close()
    assert code == 130  # Ctrl-C ends it quietly


def test_a_batch_error_names_the_index_of_the_bad_entry_and_adds_nothing(data_dir: Path) -> None:
    with Storehouse(data_dir) as store:
        good = {"type": "log", "content": "fine"}
        with pytest.raises(InvalidBody, match=r"^entry 2: type must be one of .*; no entry was added$"):
            store.add_history("demo", "T-1", [good, good, {"type": "nope"}, good])
        assert store.count_history("demo", "T-1") == 0


def test_history_ls_json_piped_into_history_add_file_round_trips_into_another_task(data_dir: Path) -> None:
    with Storehouse(data_dir) as store:
        store.add_history(
            "demo",
            "T-1",
            [{"type": "chat_message", "role": "user", "content": "hi", "sessionId": "s-1"}, {"type": "log"}],
        )
        source = store.list_history("demo", "T-1").entries
    command = [sys.executable, "-m", "storehouse"]
    listed = subprocess.run(
        [*command, "history", "ls", "demo", "T-1", "--json", "--data-dir", str(data_dir)],
        capture_output=True,
        check=True,
    )
    added = subprocess.run(
        [*command, "history", "add", "demo", "T-2", "--file", "-", "--data-dir", str(data_dir)],
        input=listed.stdout,
        capture_output=True,
        check=False,
    )
    assert added.returncode == 0, added.stderr.decode()
    with Storehouse(data_dir) as store:
        copied = store.list_history("demo", "T-2").entries
    fields = ("type", "role", "content", "sessionId", "createdAt", "expiresAt", "metadata")
    assert [{name: entry[name] for name in fields} for entry in copied] == [
        {name: entry[name] for name in fields} for entry in source
    ]
    assert [entry["taskId"] for entry in copied] == ["T-2", "T-2"]


def test_events_prints_a_line_for_every_type_of_change(data_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with Storehouse(data_dir) as store:
        start = store.change_head()
        run = store.create_execution("demo", name="triage", status="running")
        store.patch_execution("demo", run["id"], {"status": "completed"})
        store.create_task("demo", {"id": "T-1", "title": "Fix login"})
        store.transition_task("demo", "T-1", "running")
        store.add_history("demo", "T-1", {"type": "log", "content": "step one"})
        store.delete_task("demo", "T-1")
        store.delete_execution("demo", run["id"])
    assert _run(data_dir, "events", "demo", "--after", start, "--once") == 0  # the text form died on task.*
    lines = [line.split(None, 2)[1:] for line in capsys.readouterr().out.splitlines()]
    assert lines == [
        ["execution.created", f"{run['id']} running triage"],
        ["execution.updated", f"{run['id']} completed triage"],
        ["task.created", "T-1 pending Fix login"],
        ["task.updated", "T-1 running Fix login"],
        ["history.appended", "T-1 #1 status_change: pending -> running"],  # a move is logged in the history
        ["history.appended", "T-1 #2 log: step one"],
        ["task.deleted", "T-1"],
        ["execution.deleted", run["id"]],
    ]


@pytest.mark.parametrize(
    ("kind", "data", "line"),
    [
        ("execution.deleted", {"projectId": "p", "executionId": "r1"}, "r1"),
        ("task.deleted", {"projectId": "p", "taskId": "T-1"}, "T-1"),
        ("history.appended", {"projectId": "p", "taskId": "T-1", "ids": [3, 4], "entries": None}, "T-1 #3,4"),
        ("executions.deleted", {"projectId": "p", "deleted": 12}, "deleted=12"),  # a type this version lacks
        ("project.deleted", {"projectId": "p"}, "(no data)"),
    ],
)
def test_every_event_reads_as_a_line_even_of_a_type_not_known_here(
    kind: str, data: dict[str, object], line: str
) -> None:
    assert describe_event(kind, data) == line
