"""The storehouse command, run in-process through cli.main()."""

from __future__ import annotations

import io
import json
import re
from collections.abc import Callable
from pathlib import Path

import pytest
from rich.console import Console

from storehouse import Storehouse
from storehouse import terminal as terminal_module
from storehouse.cli import main


def _fill(data_dir: Path) -> list[str]:
    with Storehouse(data_dir) as store:
        return [
            store.create_execution("demo", name=f"run{n}", status=status, costUSD=0.5, tokenUsage={"input": 10})["id"]
            for n, status in enumerate(["completed", "failed", "running"])
        ]


def test_ls_prints_a_table_newest_first(data_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    ids = _fill(data_dir)
    assert main(["ls", "demo", "--data-dir", str(data_dir)]) == 0
    captured = capsys.readouterr()
    assert "3 of 3 executions" in captured.err  # piped: the title goes to stderr, the rows alone to stdout
    printed = captured.out
    assert printed.index(ids[2]) < printed.index(ids[1]) < printed.index(ids[0])


def test_ls_filters_by_status_and_prints_json(data_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _fill(data_dir)
    assert main(["ls", "demo", "--status", "failed,running", "--json", "--data-dir", str(data_dir)]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert sorted(item["status"] for item in listed["executions"]) == ["failed", "running"]
    assert listed["total"] == 2


def test_show_prints_the_document(data_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    first = _fill(data_dir)[0]
    assert main(["show", "demo", first, "--data-dir", str(data_dir)]) == 0
    assert json.loads(capsys.readouterr().out)["id"] == first


def test_stats_counts_every_status(data_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _fill(data_dir)
    assert main(["stats", "demo", "--json", "--data-dir", str(data_dir)]) == 0
    stats = json.loads(capsys.readouterr().out)
    assert (stats["totalExecutions"], stats["completed"], stats["failed"], stats["running"]) == (3, 1, 1, 1)
    assert stats["totalCostUSD"] == 1.5
    assert main(["stats", "demo", "--data-dir", str(data_dir)]) == 0
    assert "totalExecutions" in capsys.readouterr().out


def test_rm_deletes_one_or_all(data_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    ids = _fill(data_dir)
    assert main(["rm", "demo", ids[0], "--data-dir", str(data_dir)]) == 0
    assert main(["rm", "demo", "--all", "--yes", "--data-dir", str(data_dir)]) == 0
    assert "deleted 2 execution(s) of demo" in capsys.readouterr().out
    assert main(["rm", "demo", "--data-dir", str(data_dir)]) == 1
    assert "give an execution id, --all, or filters" in capsys.readouterr().err


def test_errors_go_to_stderr_with_exit_1(data_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data_dir.mkdir()
    assert main(["show", "demo", "missing", "--data-dir", str(data_dir)]) == 1
    assert "error: execution missing not found" in capsys.readouterr().err
    assert main(["ls", "demo", "--limit", "0", "--data-dir", str(data_dir)]) == 1
    assert "limit must be between 1 and 1000, got 0" in capsys.readouterr().err
    assert main(["ls", "../etc", "--data-dir", str(data_dir)]) == 1


def test_check_passes_then_names_a_damaged_file(data_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    first = _fill(data_dir)[0]
    assert main(["check", "--data-dir", str(data_dir)]) == 0
    assert "checked 3 files in 1 project(s): ok" in capsys.readouterr().out
    (data_dir / "projects" / "demo" / "executions" / f"{first}.json").write_text('{"status": ')
    assert main(["check", "--data-dir", str(data_dir)]) == 1
    assert f"demo/executions/{first}.json: not JSON" in capsys.readouterr().out


def test_reindex_rebuilds_a_deleted_index(data_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _fill(data_dir)
    for path in data_dir.glob("index.sqlite3*"):
        path.unlink()
    assert main(["reindex", "--data-dir", str(data_dir)]) == 0
    assert "3 runs, 0 tasks indexed" in capsys.readouterr().out
    assert main(["reindex", "demo", "--data-dir", str(data_dir)]) == 0


def test_data_dir_comes_from_the_environment(
    data_dir: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    _fill(data_dir)
    monkeypatch.setenv("STOREHOUSE_DATA_DIR", str(data_dir))
    assert main(["ls", "demo", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["total"] == 3


def test_no_command_prints_help_and_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([]) == 2
    assert "serve" in capsys.readouterr().out


def test_names_that_look_like_markup_or_emoji_codes_print_as_they_are(
    data_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with Storehouse(data_dir) as store:
        made = store.create_execution("demo", name=":smile: [/] [b]x", status="completed")["id"]
    assert main(["show", "demo", made, "--data-dir", str(data_dir)]) == 0
    assert json.loads(capsys.readouterr().out)["name"] == ":smile: [/] [b]x"
    assert main(["ls", "demo", "--json", "--data-dir", str(data_dir)]) == 0
    assert json.loads(capsys.readouterr().out)["executions"][0]["name"] == ":smile: [/] [b]x"
    assert main(["ls", "demo", "--data-dir", str(data_dir)]) == 0  # rich raised MarkupError on "[/]"
    table = capsys.readouterr().out
    assert "[/]" in table
    assert "[b]x" in table


# -- tables: piped, and on a terminal of 80 columns (issue #14) ----------------------------------------------------
LONG_NAME = "summarize every open ticket of the week and draft the replies"


def _fill_wide(data_dir: Path) -> str:
    with Storehouse(data_dir) as store:
        made = store.create_execution(
            "demo",
            name=LONG_NAME,
            status="completed",
            startedAt="2026-11-23T12:03:00.941Z",
            duration=147,
            tokenUsage={"input": 1200, "output": 340},
            costUSD=0.0123,
        )
        store.create_task("demo", {"id": "T-7", "title": LONG_NAME, "priority": "high", "complexityScore": 5})
        return str(made["id"])


class _Shown:
    """What a terminal shows, without the escape codes of bold and italic."""

    def __init__(self, buffer: io.StringIO) -> None:
        self.buffer = buffer

    def getvalue(self) -> str:
        return re.sub(r"\x1b\[[0-9;]*m", "", self.buffer.getvalue())


@pytest.fixture
def terminal(monkeypatch: pytest.MonkeyPatch) -> Callable[[int], _Shown]:
    """Make stdout a terminal of the given width (a real rich Console, as on a tty); returns what it shows."""

    def make(width: int) -> _Shown:
        shown = io.StringIO()
        console = Console(file=shown, width=width, force_terminal=True, no_color=True, highlight=False, soft_wrap=True)
        monkeypatch.setattr(terminal_module, "out", console)
        return _Shown(shown)

    return make


def test_ls_piped_prints_a_header_and_whole_rows_tab_separated(
    data_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    made = _fill_wide(data_dir)
    assert main(["ls", "demo", "--data-dir", str(data_dir)]) == 0
    captured = capsys.readouterr()
    assert captured.out.splitlines() == [
        "id\tname\tstatus\tstarted\tduration\ttokens\tcost USD",
        f"{made}\t{LONG_NAME}\tcompleted\t2026-11-23T12:03:00.941Z\t147 ms\t1,540\t0.0123",
    ]
    assert captured.err == "demo: 1 of 1 executions\n"


def test_ls_on_an_80_column_terminal_keeps_the_narrow_columns_whole(
    data_dir: Path, terminal: Callable[[int], _Shown]
) -> None:
    made = _fill_wide(data_dir)
    shown = terminal(80)
    assert main(["ls", "demo", "--data-dir", str(data_dir)]) == 0
    text = shown.getvalue()
    assert "…" not in text
    assert all(len(line) <= 80 for line in text.splitlines())
    for value in (made, "completed", "2026-11-23T12:03:00.941Z", "147 ms", "1,540", "0.0123", "cost USD"):
        assert value in text
    assert " ".join(text.split()).count(LONG_NAME) == 1  # the name is whole too, wrapped if need be


def test_ls_on_a_wide_terminal_is_one_table_row_a_run(data_dir: Path, terminal: Callable[[int], _Shown]) -> None:
    made = _fill_wide(data_dir)
    shown = terminal(200)
    assert main(["ls", "demo", "--data-dir", str(data_dir)]) == 0
    [row] = [line for line in shown.getvalue().splitlines() if made in line]
    assert LONG_NAME in row
    assert row.startswith("│")
    assert row.rstrip().endswith("0.0123 │")


def test_tasks_ls_on_an_80_column_terminal_shows_the_title(data_dir: Path, terminal: Callable[[int], _Shown]) -> None:
    _fill_wide(data_dir)
    shown = terminal(80)
    assert main(["tasks", "ls", "demo", "--data-dir", str(data_dir)]) == 0
    text = shown.getvalue()
    assert "…" not in text
    assert all(len(line) <= 80 for line in text.splitlines())
    words = " ".join(text.split())
    assert all(word in words for word in LONG_NAME.split())  # wrapped in its column, every word shown
    for value in ("T-7", "pending", "high", "5"):
        assert value in text


def test_tasks_ls_piped_prints_whole_rows(data_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _fill_wide(data_dir)
    assert main(["tasks", "ls", "demo", "--data-dir", str(data_dir)]) == 0
    assert capsys.readouterr().out.splitlines()[1].split("\t") == ["T-7", LONG_NAME, "pending", "high", "5", "", ""]


# -- filters: the same set as the API and export ---------------------------------------------------------------------
def _fill_costs(data_dir: Path) -> dict[str, str]:
    with Storehouse(data_dir) as store:
        return {
            status: store.create_execution(
                "demo", name=f"{status} run", status=status, costUSD=cost, startedAt=f"2026-01-0{day}T00:00:00Z"
            )["id"]
            for day, (status, cost) in enumerate([("completed", 0.3), ("failed", 0.1), ("cancelled", 0.2)], 1)
        }


def _listed(data_dir: Path, capsys: pytest.CaptureFixture[str], *flags: str) -> list[str]:
    assert main(["ls", "demo", "--json", *flags, "--data-dir", str(data_dir)]) == 0
    return [item["id"] for item in json.loads(capsys.readouterr().out)["executions"]]


def test_sort_takes_a_descending_key_as_its_own_word(data_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    ids = _fill_costs(data_dir)
    expensive_first = [ids["completed"], ids["cancelled"], ids["failed"]]
    assert _listed(data_dir, capsys, "--sort", "-costUSD") == expensive_first
    assert _listed(data_dir, capsys, "--sort=-costUSD") == expensive_first
    assert _listed(data_dir, capsys, "--sort", "costUSD") == expensive_first[::-1]
    with pytest.raises(SystemExit) as exited:
        main(["ls", "demo", "--sort", "-bogus", "--data-dir", str(data_dir)])
    assert exited.value.code == 2
    assert "invalid choice: '-bogus'" in capsys.readouterr().err


def test_a_repeated_status_keeps_the_union(data_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    ids = _fill_costs(data_dir)
    assert sorted(_listed(data_dir, capsys, "--status", "failed", "--status", "cancelled")) == sorted(
        [ids["failed"], ids["cancelled"]]
    )
    assert len(_listed(data_dir, capsys, "--status", "failed,completed", "--status", "cancelled")) == 3
    argv = ["export", "demo", "--kind", "executions", "--status", "failed", "--status", "cancelled"]
    assert main([*argv, "--data-dir", str(data_dir)]) == 0
    exported = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert sorted(line["document"]["status"] for line in exported) == ["cancelled", "failed"]


def test_tasks_ls_takes_repeated_statuses_and_priorities(data_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with Storehouse(data_dir) as store:
        for task, priority in (("a", "low"), ("b", "high"), ("c", "critical")):
            store.create_task("demo", {"id": task, "title": task, "priority": priority})
    argv = ["tasks", "ls", "demo", "--json", "--priority", "low", "--priority", "critical"]
    assert main([*argv, "--status", "pending", "--status", "running", "--data-dir", str(data_dir)]) == 0
    assert [task["id"] for task in json.loads(capsys.readouterr().out)["tasks"]] == ["c", "a"]


def test_ls_has_the_filters_of_the_api_and_export(data_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    ids = _fill_costs(data_dir)
    assert _listed(data_dir, capsys, "--q", "fail") == [ids["failed"]]
    assert _listed(data_dir, capsys, "--started-after", "2026-01-02T00:00:00Z") == [ids["cancelled"], ids["failed"]]
    assert _listed(data_dir, capsys, "--started-before", "2026-01-02T00:00:00Z") == [ids["completed"]]
    assert main(["ls", "demo", "--json", "--limit", "1", "--data-dir", str(data_dir)]) == 0
    cursor = json.loads(capsys.readouterr().out)["nextCursor"]
    assert _listed(data_dir, capsys, "--limit", "1", "--cursor", cursor) == [ids["failed"]]


# -- where there is no data directory, or no such project -----------------------------------------------------------
@pytest.mark.parametrize(
    "argv",
    [
        ["ls", "demo"],
        ["show", "demo", "01J0000000000000000000000A"],
        ["stats", "demo"],
        ["history", "ls", "demo"],
        ["history", "count", "demo", "T-1"],
        ["history", "settings", "demo"],
        ["tasks", "ls", "demo"],
        ["tasks", "order", "demo"],
        ["tasks", "show", "demo", "T-1"],
        ["check"],
        ["reindex"],
        ["prune"],
        ["export", "demo"],
        ["context", "demo", "T-1"],
        ["events", "demo", "--once"],
        ["backup", "copy"],
    ],
)
def test_a_read_where_there_is_no_data_directory_creates_nothing_and_says_so(
    argv: list[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("STOREHOUSE_DATA_DIR", raising=False)
    assert main(argv) == 1
    assert capsys.readouterr().err == (
        "error: data directory ./data does not exist (give the right one with --data-dir or STOREHOUSE_DATA_DIR)\n"
    )
    assert list(tmp_path.iterdir()) == []


def test_reindex_of_a_project_that_does_not_exist_is_an_error(
    data_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _fill(data_dir)
    assert main(["reindex", "nosuch", "--data-dir", str(data_dir)]) == 1
    assert capsys.readouterr().err == f"error: project nosuch not found in {data_dir}: there is nothing to reindex\n"
    assert not (data_dir / "projects" / "nosuch").exists()


def test_ls_and_stats_of_an_unknown_project_answer_empty_and_say_why_on_stderr(
    data_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _fill(data_dir)
    for argv in (["ls", "nosuch", "--json"], ["stats", "nosuch", "--json"], ["tasks", "ls", "nosuch", "--json"]):
        assert main([*argv, "--data-dir", str(data_dir)]) == 0
        captured = capsys.readouterr()
        assert json.loads(captured.out)  # the empty answer, as the API gives it
        assert captured.err == f"note: there is no project nosuch in {data_dir} yet; its projects: demo\n"
    assert main(["ls", "demo", "--status", "cancelled", "--data-dir", str(data_dir)]) == 0
    assert "note" not in capsys.readouterr().err  # a project that exists: nothing to say


# -- counts under their own names ---------------------------------------------------------------------------------
def test_reindex_and_backup_count_each_kind_under_its_name(
    data_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _fill(data_dir)
    with Storehouse(data_dir) as store:
        store.create_task("demo", {"id": "T-1", "title": "one"})
        store.create_task("demo", {"id": "T-2", "title": "two"})
        store.add_history("demo", "T-1", {"type": "log"})
        store.set_history_settings("demo", {"historyTtlDays": 5})
    assert main(["reindex", "--data-dir", str(data_dir)]) == 0
    assert capsys.readouterr().out == "reindexed 1 project(s): 3 runs, 2 tasks indexed, 0 invalid file(s) skipped\n"
    assert main(["backup", str(tmp_path / "copy"), "--data-dir", str(data_dir)]) == 0
    printed = capsys.readouterr().out
    assert ": 3 runs, 2 tasks, 1 history logs, 1 settings files (7 files, " in printed


# -- the common flags on either side of the command -------------------------------------------------------------------
def test_common_flags_go_before_or_after_the_command(
    data_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _fill(data_dir)
    with Storehouse(data_dir) as store:
        store.create_task("demo", {"id": "T-1", "title": "one"})
        store.add_history("demo", "T-1", {"type": "log"})
    given = str(data_dir)
    for argv in (
        ["--data-dir", given, "ls", "demo", "--json"],
        ["--data-dir", given, "--json", "ls", "demo"],
        ["--data-dir", str(tmp_path / "nowhere"), "ls", "demo", "--json", "--data-dir", given],  # after wins
    ):
        assert main(argv) == 0, argv
        assert json.loads(capsys.readouterr().out)["total"] == 3
    for argv in (
        ["--data-dir", given, "tasks", "ls", "demo", "--json"],
        ["tasks", "--data-dir", given, "ls", "demo", "--json"],
        ["--json", "tasks", "ls", "demo", "--data-dir", given],
    ):
        assert main(argv) == 0, argv
        assert json.loads(capsys.readouterr().out)["total"] == 1
    assert main(["--data-dir", given, "--json", "history", "ls", "demo"]) == 0
    assert json.loads(capsys.readouterr().out)["type"] == "log"
    assert main(["history", "--data-dir", given, "count", "demo", "T-1"]) == 0
    assert capsys.readouterr().out == "1\n"


def test_json_before_a_command_that_prints_none_is_a_usage_error(
    data_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _fill(data_dir)
    with pytest.raises(SystemExit) as exited:
        main(["--json", "check", "--data-dir", str(data_dir)])
    assert exited.value.code == 2
    assert "--json: this command prints no JSON" in capsys.readouterr().err


def test_help_shows_the_flags_that_go_before_the_command(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["--help"])
    printed = " ".join(capsys.readouterr().out.split())
    assert "[--data-dir DATA_DIR] [--json] COMMAND" in printed
    assert "storehouse --data-dir /srv/data ls demo" in printed
