"""History of a task id that has no task document, and back-filled entries that expired before they were added
(issue #14 item 13).

Decided: history is kept for any task id. The original system's tasks live elsewhere, so its front end writes
history for task ids storehouse never holds; and ``record(task_id=...)`` logs to the run's task whether or not
it was created here. Refusing would break both. ``check`` names such tasks in a note (not a problem: it still
says ok and exits 0), and deleting a task here deletes its history, so only ids never held as tasks show up.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from storehouse import Storehouse
from storehouse.cli import main
from storehouse.models import format_timestamp


def test_history_of_a_task_that_does_not_exist_is_kept_and_named_by_check(store: Storehouse) -> None:
    store.create_task("p", {"id": "T-1", "title": "real"})
    store.add_history("p", "T-1", {"type": "log", "content": "on a real task"})
    store.add_history("p", "T-7", {"type": "log", "content": "on a task kept elsewhere"})
    assert store.count_history("p", "T-7") == 1
    report = store.check()
    assert report.problems == []
    assert len(report.notes) == 1
    assert "T-7" in report.notes[0]
    assert "T-1" not in report.notes[0]
    assert "no task document" in report.notes[0]


def test_a_task_deleted_here_takes_its_history_and_leaves_no_note(store: Storehouse) -> None:
    store.create_task("p", {"id": "T-1", "title": "real"})
    store.add_history("p", "T-1", {"type": "log", "content": "x"})
    store.delete_task("p", "T-1")
    assert store.check().notes == []


def test_check_names_at_most_ten_orphans_and_counts_the_rest(store: Storehouse) -> None:
    for n in range(12):
        store.add_history("p", f"T-{n:02d}", {"type": "log", "content": "x"})
    (note,) = store.check().notes
    assert note.startswith("p: 12 task(s)")
    assert "and 2 more" in note


async def test_an_append_answer_counts_the_entries_that_expired_before_they_were_added(
    http: httpx.AsyncClient,
) -> None:
    old = format_timestamp(datetime.now(UTC) - timedelta(days=30))  # the default ttl is 20 days
    recent = format_timestamp(datetime.now(UTC) - timedelta(days=1))
    answer = await http.post(
        "/api/projects/p/tasks/T-1/history",
        json=[
            {"type": "log", "content": "old", "createdAt": old},
            {"type": "log", "content": "new", "createdAt": recent},
        ],
    )
    assert answer.status_code == 201
    body = answer.json()
    assert [entry["content"] for entry in body["entries"]] == ["old", "new"]
    assert body["expired"] == 1
    shown = (await http.get("/api/projects/p/tasks/T-1/history")).json()
    assert [entry["content"] for entry in shown["entries"]] == ["new"]


async def test_an_append_of_fresh_entries_counts_none_expired(http: httpx.AsyncClient) -> None:
    answer = await http.post("/api/projects/p/tasks/T-1/history", json={"type": "log", "content": "now"})
    assert answer.json()["expired"] == 0


def test_storehouse_check_prints_the_note_and_still_says_ok(data_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with Storehouse(data_dir) as store:
        store.add_history("p", "T-7", {"type": "log", "content": "x"})
    assert main(["check", "--data-dir", str(data_dir)]) == 0
    out = capsys.readouterr().out
    assert "note: p: 1 task(s) have history but no task document: T-7" in out
    assert out.rstrip().endswith(": ok")
