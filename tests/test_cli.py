"""The storehouse command, run in-process through cli.main()."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from storehouse import Storehouse
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
    printed = capsys.readouterr().out
    assert "3 of 3 executions" in printed
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
    assert "3 executions indexed" in capsys.readouterr().out
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
