"""Bounds every way in shares (issue #13): summaries stay small whatever a document holds (item 4), one depth rule
for HTTP, the library, import and files on disk (item 9), and the index is rebuilt only when it is damaged."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import orjson
import pytest

from storehouse import Storehouse
from storehouse.errors import InvalidBody
from storehouse.models import MAX_DEPTH, MAX_SUMMARY_TAG, MAX_SUMMARY_TAGS, MAX_SUMMARY_TEXT


def nest(levels: int) -> object:
    """A value ``levels`` deep (the value itself is level 1)."""
    value: object = {}
    for _ in range(levels - 1):
        value = {"a": value}
    return value


# -- summaries (item 4) ---------------------------------------------------------------------------------------
def test_a_summary_cuts_long_fields_and_names_them_while_the_document_keeps_everything(store: Storehouse) -> None:
    long_tag = "t" * 500
    tags = [long_tag, *(f"tag-{n}" for n in range(99))]
    created = store.create_execution("p", name="n" * 5000, status="failed", error="e" * 100_000, tags=tags, id="big")
    assert created["error"] == "e" * 100_000  # the write answers the whole document

    (summary,) = store.list_executions("p").items
    assert summary["name"] == "n" * MAX_SUMMARY_TEXT["name"]
    assert summary["error"] == "e" * MAX_SUMMARY_TEXT["error"]
    assert summary["tags"] == [long_tag[:MAX_SUMMARY_TAG], *tags[1:MAX_SUMMARY_TAGS]]
    assert summary["truncated"] == ["name", "error", "tags"]
    assert len(orjson.dumps(summary)) < 20_000

    document = store.get_execution("p", "big")
    assert (document["name"], document["error"], document["tags"]) == ("n" * 5000, "e" * 100_000, tags)
    assert [s["id"] for s in store.list_executions("p", tag=long_tag).items] == ["big"]  # whole tags match
    assert [s["id"] for s in store.list_executions("p", tag="tag-98").items] == ["big"]
    assert [s["id"] for s in store.list_executions("p", q="nnnn").items] == ["big"]


def test_a_summary_with_nothing_cut_has_no_truncated_field(store: Storehouse) -> None:
    store.create_execution("p", name="n" * MAX_SUMMARY_TEXT["name"], error="short", tags=["a"] * 3, id="fits")
    (summary,) = store.list_executions("p").items
    assert "truncated" not in summary


def test_a_patch_of_a_run_with_a_huge_error_logs_a_small_change(store: Storehouse) -> None:
    store.create_execution("p", status="failed", error="x" * 3_000_000, id="r")
    head = store.change_head()
    store.patch_execution("p", "r", {"tags": ["seen"]})
    batch = store.changes("p", head)
    (change,) = batch.events
    assert len(change.raw) < 5_000  # was the whole 3 MB error in every event of the run
    assert change.data["execution"]["truncated"] == ["error"]


def test_a_task_summary_is_bounded_too(store: Storehouse) -> None:
    store.create_task("p", id="t", title="T" * 1000, resultSummary="r" * 50_000, tags=[f"x{n}" for n in range(80)])
    (summary,) = store.list_tasks("p").items
    assert len(summary["title"]) == 256
    assert len(summary["resultSummary"]) == 2000
    assert len(summary["tags"]) == MAX_SUMMARY_TAGS
    assert summary["truncated"] == ["title", "resultSummary", "tags"]
    assert store.get_task("p", "t")["resultSummary"] == "r" * 50_000


# -- the index is rebuilt on damage only -----------------------------------------------------------------------
def test_a_value_too_big_for_sqlite_does_not_rebuild_the_index(store: Storehouse) -> None:
    for n in range(5):
        store.create_execution("p", id=f"r{n}", name="x" * 200)
    head = store.change_head()
    index = store.backend._index  # type: ignore[attr-defined]
    # SQLite's real limit on a value is 1e9 bytes; lowered on this connection, a page reaches it at once
    index._connect().setlimit(sqlite3.SQLITE_LIMIT_LENGTH, 500)
    with pytest.raises(sqlite3.DataError):
        store.list_executions("p", limit=5)
    index._connect().setlimit(sqlite3.SQLITE_LIMIT_LENGTH, 1_000_000_000)
    assert store.change_head() == head  # same epoch: followers keep their place (a rebuild starts a new one)
    assert store.list_executions("p").total == 5


def test_a_damaged_index_is_still_rebuilt(store: Storehouse, data_dir: Path) -> None:
    store.create_execution("p", id="r1")
    store.close()
    (data_dir / "index.sqlite3").write_bytes(b"this is not a database" * 100)
    for suffix in ("-wal", "-shm"):
        (data_dir / f"index.sqlite3{suffix}").unlink(missing_ok=True)
    with Storehouse(data_dir) as reopened:
        assert [s["id"] for s in reopened.list_executions("p").items] == ["r1"]


# -- one depth rule (item 9) -----------------------------------------------------------------------------------
@pytest.mark.parametrize("levels", [65, 250, 300])
def test_the_library_refuses_a_run_deeper_than_the_limit_and_stores_nothing(
    store: Storehouse, data_dir: Path, levels: int
) -> None:
    with pytest.raises(InvalidBody, match="nested more than 64 levels"):
        store.create_execution("p", id="deep", input=nest(levels - 1))  # the run itself is level 1
    with pytest.raises(InvalidBody, match="nested more than 64 levels"):
        store.put_task("p", "t", {"title": "t", "metadata": nest(levels - 1)})
    with pytest.raises(InvalidBody, match="nested more than"):
        store.add_history("p", "t", {"type": "log", "metadata": nest(levels - 1)})
    assert not (data_dir / "projects" / "p" / "executions" / "deep.json").exists()
    assert store.list_executions("p").total == 0


def test_a_run_at_the_limit_is_stored_and_served(store: Storehouse) -> None:
    store.create_execution("p", id="ok", input=nest(63))
    store.patch_execution("p", "ok", {"output": nest(63)})
    assert store.get_execution("p", "ok")["output"] == nest(63)
    lines = list(store.export("p"))
    assert any(b'"ok"' in line for line in lines)


def test_a_patch_cannot_make_a_run_deeper_than_the_limit(store: Storehouse) -> None:
    store.create_execution("p", id="r", input=nest(63))
    with pytest.raises(InvalidBody, match="nested more than 64"):
        store.patch_execution("p", "r", {"input": {"a": nest(63)}})
    assert store.get_execution("p", "r")["version"] == 1


def test_import_reports_a_line_nested_too_deep_and_goes_on(store: Storehouse) -> None:
    deep = {"id": "deep", "status": "running", "version": 1, "input": nest(299)}
    lines: list[str | bytes] = [
        json.dumps({"kind": "execution", "project": "p", "document": deep}),  # orjson stops at 254 levels
        orjson.dumps({"kind": "execution", "project": "p", "document": {"id": "fine", "version": 1}}),
        orjson.dumps({"kind": "history", "project": "p", "taskId": "t", "document": {
            "id": 1, "type": "log", "createdAt": "2026-01-01T00:00:00.000Z", "metadata": nest(100)}}),
    ]  # fmt: skip
    report = store.import_lines(lines)
    outcomes = [(o.line, o.result) for o in report.outcomes]
    assert outcomes == [(1, "rejected"), (2, "created"), (3, "rejected")]
    assert "nested more than 64 levels" in (report.outcomes[0].reason or "")
    assert [s["id"] for s in store.list_executions("p").items] == ["fine"]


def test_a_file_nested_past_what_can_be_served_is_named_by_check_and_skipped(store: Storehouse, data_dir: Path) -> None:
    store.create_execution("p", id="fine")
    folder = data_dir / "projects" / "p" / "executions"
    (folder / "deep.json").write_bytes(orjson.dumps({"status": "running", "input": nest(MAX_DEPTH)}))
    (folder / "deep-ok.json").write_bytes(orjson.dumps({"status": "running", "input": nest(MAX_DEPTH - 1)}))
    store.reindex("p")
    assert sorted(s["id"] for s in store.list_executions("p").items) == ["deep-ok", "fine"]
    assert any("deep.json" in problem and "nested" in problem for problem in store.check().problems)
    assert store.get_execution("p", "deep-ok")["input"] == nest(MAX_DEPTH - 1)
    assert list(store.export("p"))  # every line encodes
