"""Storehouse and AsyncStorehouse through the library, on real files in a temp directory."""

from __future__ import annotations

import asyncio
import errno
import os
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
import pytest

from storehouse import AsyncStorehouse, Run, Storehouse
from storehouse.backends import FileBackend
from storehouse.errors import (
    Conflict,
    InvalidBody,
    InvalidId,
    InvalidParameter,
    NotFound,
    PreconditionFailed,
    StorageError,
    StorageFull,
)
from storehouse.fsio import FileIO
from storehouse.index import SORTS
from storehouse.models import MAX_TOKENS, MAX_VERSION


def at(second: int) -> str:
    """A canonical timestamp `second` seconds after a fixed start."""
    return f"2026-01-05T10:{second // 60:02d}:{second % 60:02d}.000Z"


def expected_stats(documents: list[dict[str, Any]]) -> dict[str, Any]:
    """The stats computed in Python over full documents, to compare with what the index answers."""
    counts = {status: 0 for status in ("pending", "running", "completed", "failed", "cancelled")}
    for document in documents:
        counts[document["status"]] += 1
    durations = [d["duration"] for d in documents if d["duration"] is not None]
    return {
        "totalExecutions": len(documents),
        **counts,
        "totalCostUSD": pytest.approx(sum(d["costUSD"] for d in documents)),
        "totalTokens": sum(d["tokenUsage"]["total"] for d in documents),
        "inputTokens": sum(d["tokenUsage"]["input"] for d in documents),
        "outputTokens": sum(d["tokenUsage"]["output"] for d in documents),
        "averageDuration": round(sum(durations) / len(durations)) if durations else None,
    }


def stats_subset(stats: dict[str, Any]) -> dict[str, Any]:
    keys = expected_stats([]).keys()
    return {key: stats[key] for key in keys}


def all_documents(store: Storehouse, project: str) -> list[dict[str, Any]]:
    page = store.list_executions(project, limit=1000)
    return [store.get_execution(project, item["id"]) for item in page.items]


SAMPLE_RUNS: list[dict[str, Any]] = [
    {"status": "completed", "costUSD": 0.25, "tokenUsage": {"input": 100, "output": 20}, "duration": 1200},
    {"status": "completed", "costUSD": 0.1, "tokenUsage": {"input": 7, "output": 3}, "duration": 801},
    {"status": "failed", "costUSD": 0.05, "tokenUsage": {"input": 50, "output": 0}, "duration": 40},
    {"status": "running", "costUSD": 0.0, "tokenUsage": {"input": 5, "output": 5}},
    {"status": "pending"},
    {"status": "cancelled", "costUSD": 1.5, "tokenUsage": {"input": 1, "output": 1, "total": 9}, "duration": 3},
]


# -- documents -----------------------------------------------------------------------------------------


def test_create_writes_an_indented_json_file_named_by_id(store: Storehouse, data_dir: Path) -> None:
    created = store.create_execution("demo", name="triage", status="running")
    path = data_dir / "projects" / "demo" / "executions" / f"{created['id']}.json"
    raw = path.read_bytes()
    assert raw.startswith(b'{\n  "id": ')
    assert raw.endswith(b"}\n")
    assert orjson.loads(raw) == created == store.get_execution("demo", created["id"])


def test_create_sets_managed_fields(store: Storehouse) -> None:
    created = store.create_execution("demo", {"name": "triage"})
    assert len(created["id"]) == 26
    assert (created["projectId"], created["version"], created["status"]) == ("demo", 1, "pending")
    assert created["createdAt"] == created["updatedAt"] == created["startedAt"]


def test_create_with_a_client_id_uses_it(store: Storehouse) -> None:
    assert store.create_execution("demo", id="run-1")["id"] == "run-1"
    assert store.get_execution("demo", "run-1")["id"] == "run-1"


def test_create_of_an_existing_id_is_conflict(store: Storehouse) -> None:
    store.create_execution("demo", id="run-1", name="first")
    with pytest.raises(Conflict):
        store.create_execution("demo", id="run-1", name="second")
    assert store.get_execution("demo", "run-1")["name"] == "first"


def test_invalid_body_writes_nothing(store: Storehouse, data_dir: Path) -> None:
    with pytest.raises(InvalidBody, match="status"):
        store.create_execution("demo", id="run-1", status="done")
    with pytest.raises(NotFound):
        store.get_execution("demo", "run-1")
    assert not (data_dir / "projects" / "demo" / "executions" / "run-1.json").exists()


@pytest.mark.parametrize(("project", "item"), [("..", "x"), ("demo", "../x"), ("a/b", "x"), ("demo", ".x")])
def test_bad_ids_are_refused_before_any_path_is_built(store: Storehouse, project: str, item: str) -> None:
    with pytest.raises(InvalidId):
        store.get_execution(project, item)
    with pytest.raises(InvalidId):
        store.put_execution(project, item, {})


def test_an_int_beyond_64_bits_in_metadata_is_invalid_body_and_writes_nothing(
    store: Storehouse, data_dir: Path
) -> None:
    with pytest.raises(InvalidBody):
        store.create_execution("demo", id="run-1", metadata={"big": 1 << 64})
    assert os.listdir(data_dir / "projects" / "demo" / "executions") == []


def test_a_cost_up_to_the_cap_is_counted_exactly_and_beyond_it_is_refused(store: Storehouse) -> None:
    store.create_execution("demo", status="completed", costUSD=1e9)
    store.create_execution("demo", status="completed", costUSD=1e-9)
    assert store.execution_stats("demo")["totalCostUSD"] == 1e9 + 1e-9
    with pytest.raises(InvalidBody, match="costUSD"):
        store.create_execution("demo", status="completed", costUSD=1e10)
    assert store.list_executions("demo").total == 2


def test_get_of_a_missing_execution_is_not_found(store: Storehouse) -> None:
    store.create_execution("demo", id="a")
    with pytest.raises(NotFound):
        store.get_execution("demo", "b")
    with pytest.raises(NotFound):
        store.get_execution("nowhere", "a")


def test_put_creates_then_replaces_with_version_incremented(store: Storehouse) -> None:
    created = store.put_execution("demo", "run-1", {"name": "a", "tags": ["x"], "startedAt": at(0)})
    replaced = store.put_execution("demo", "run-1", {"name": "b"})
    assert (created["version"], replaced["version"]) == (1, 2)
    assert replaced["name"] == "b"
    assert replaced["tags"] == []  # PUT replaces the whole document
    assert replaced["startedAt"] == at(0)
    assert replaced["createdAt"] == created["createdAt"]
    assert store.get_execution("demo", "run-1") == replaced


def test_every_write_increments_the_version(store: Storehouse) -> None:
    created = store.create_execution("demo", status="running")
    versions = [created["version"]]
    versions.append(store.patch_execution("demo", created["id"], {"output": 1})["version"])
    versions.append(store.put_execution("demo", created["id"], {"status": "running"})["version"])
    versions.append(store.patch_execution("demo", created["id"], {"status": "completed"})["version"])
    assert versions == [1, 2, 3, 4]
    assert store.get_execution("demo", created["id"])["version"] == 4


def test_patch_merges_and_completes_a_run(store: Storehouse) -> None:
    created = store.create_execution("demo", status="running", metadata={"a": 1, "b": 2}, startedAt=at(0))
    patched = store.patch_execution("demo", created["id"], {"status": "completed", "metadata": {"a": None, "c": 3}})
    assert patched["status"] == "completed"
    assert patched["metadata"] == {"b": 2, "c": 3}
    assert patched["completedAt"] is not None
    assert patched["duration"] is not None
    assert store.get_execution("demo", created["id"]) == patched


def test_patch_of_a_missing_execution_is_not_found(store: Storehouse) -> None:
    with pytest.raises(NotFound):
        store.patch_execution("demo", "nope", {"status": "completed"})


def test_stale_if_match_is_precondition_failed_and_changes_nothing(store: Storehouse) -> None:
    created = store.create_execution("demo", name="a")
    store.patch_execution("demo", created["id"], {"name": "b"}, if_match=1)
    with pytest.raises(PreconditionFailed, match="version 2"):
        store.patch_execution("demo", created["id"], {"name": "c"}, if_match=1)
    with pytest.raises(PreconditionFailed):
        store.put_execution("demo", created["id"], {"name": "c"}, if_match=1)
    with pytest.raises(PreconditionFailed):
        store.delete_execution("demo", created["id"], if_match=1)
    stored = store.get_execution("demo", created["id"])
    assert (stored["name"], stored["version"]) == ("b", 2)


def test_current_if_match_lets_the_write_through(store: Storehouse) -> None:
    created = store.create_execution("demo", name="a")
    assert store.put_execution("demo", created["id"], {"name": "b"}, if_match=1)["version"] == 2
    store.delete_execution("demo", created["id"], if_match=2)
    with pytest.raises(NotFound):
        store.get_execution("demo", created["id"])


def test_if_match_on_a_missing_execution_is_precondition_failed(store: Storehouse) -> None:
    with pytest.raises(PreconditionFailed):
        store.put_execution("demo", "nope", {"name": "a"}, if_match=1)


def test_delete_removes_the_file_and_the_row(store: Storehouse, data_dir: Path) -> None:
    created = store.create_execution("demo", status="completed", duration=5)
    store.delete_execution("demo", created["id"])
    assert not (data_dir / "projects" / "demo" / "executions" / f"{created['id']}.json").exists()
    with pytest.raises(NotFound):
        store.get_execution("demo", created["id"])
    assert store.list_executions("demo").total == 0
    assert store.execution_stats("demo")["totalExecutions"] == 0


def test_delete_of_a_missing_execution_is_not_found(store: Storehouse) -> None:
    store.create_execution("demo", id="a")
    with pytest.raises(NotFound):
        store.delete_execution("demo", "b")
    with pytest.raises(NotFound):
        store.delete_execution("nowhere", "a")


def test_delete_executions_removes_every_run_of_the_project_only(store: Storehouse, data_dir: Path) -> None:
    for _ in range(3):
        store.create_execution("demo", status="completed")
    kept = store.create_execution("other")
    assert store.delete_executions("demo") == 3
    assert os.listdir(data_dir / "projects" / "demo" / "executions") == []
    assert store.list_executions("demo").total == 0
    assert store.execution_stats("demo")["totalExecutions"] == 0
    assert store.get_execution("other", kept["id"]) == kept
    assert store.delete_executions("demo") == 0
    assert store.delete_executions("nowhere") == 0


# -- lists ---------------------------------------------------------------------------------------------


def test_list_is_newest_first(store: Storehouse) -> None:
    ids = {second: store.create_execution("demo", startedAt=at(second))["id"] for second in (20, 0, 40, 10)}
    page = store.list_executions("demo")
    assert [item["id"] for item in page.items] == [ids[40], ids[20], ids[10], ids[0]]
    assert page.total == 4


def test_list_items_are_summaries(store: Storehouse) -> None:
    store.create_execution("demo", name="n", input={"big": "x" * 100}, metadata={"m": 1}, steps=[{"name": "s"}])
    item = store.list_executions("demo").items[0]
    assert set(item) == {
        "id",
        "projectId",
        "taskId",
        "name",
        "status",
        "startedAt",
        "completedAt",
        "duration",
        "tokenUsage",
        "costUSD",
        "error",
        "tags",
    }


def test_list_total_counts_every_match_not_the_page(store: Storehouse) -> None:
    for second in range(5):
        store.create_execution("demo", startedAt=at(second))
    page = store.list_executions("demo", limit=2, offset=1)
    assert len(page.items) == 2
    assert page.total == 5
    assert [item["startedAt"] for item in page.items] == [at(3), at(2)]


def test_list_filters_by_several_statuses(store: Storehouse) -> None:
    for status in ["completed", "failed", "running", "completed", "pending", "cancelled"]:
        store.create_execution("demo", status=status)
    for statuses in (["completed", "failed"], "completed,failed"):
        page = store.list_executions("demo", status=statuses)
        assert sorted(item["status"] for item in page.items) == ["completed", "completed", "failed"]
        assert page.total == 3
    assert store.list_executions("demo", status="running").total == 1


def test_list_filters_by_task_tag_and_started_range(store: Storehouse) -> None:
    a = store.create_execution("demo", taskId="t1", tags=["x", "y"], startedAt=at(10))
    b = store.create_execution("demo", taskId="t2", tags=["y"], startedAt=at(20))
    store.create_execution("demo", taskId="t1", startedAt=at(30))
    assert [i["id"] for i in store.list_executions("demo", tag="y").items] == [b["id"], a["id"]]
    assert store.list_executions("demo", task_id="t1").total == 2
    page = store.list_executions("demo", started_after=at(10), started_before=at(30))
    assert [i["id"] for i in page.items] == [b["id"], a["id"]]
    assert page.total == 2


def test_list_sorts_by_cost_either_way(store: Storehouse) -> None:
    for cost in (0.5, 0.1, 0.9):
        store.create_execution("demo", costUSD=cost)
    assert [i["costUSD"] for i in store.list_executions("demo", sort="costUSD").items] == [0.1, 0.5, 0.9]
    assert [i["costUSD"] for i in store.list_executions("demo", sort="-costUSD").items] == [0.9, 0.5, 0.1]


def test_cursor_paging_walks_every_item_exactly_once(store: Storehouse) -> None:
    for n in range(25):
        store.create_execution("demo", startedAt=at(n // 3))  # ties on startedAt, broken by id
    everything = [item["id"] for item in store.list_executions("demo", limit=1000).items]
    seen: list[str] = []
    page = store.list_executions("demo", limit=7)
    seen += [item["id"] for item in page.items]
    while page.next_cursor is not None:
        page = store.list_executions("demo", limit=7, cursor=page.next_cursor)
        assert page.total == 25
        seen += [item["id"] for item in page.items]
    assert seen == everything
    assert len(set(seen)) == 25


@pytest.mark.parametrize("sort", list(SORTS))
@pytest.mark.parametrize("status", [None, "completed"])
def test_cursor_and_offset_paging_agree_with_one_big_page_for_every_sort(
    store: Storehouse, sort: str, status: str | None
) -> None:
    for n in range(40):  # ties on every sort key, missing durations, two statuses
        store.create_execution(
            "demo",
            status="completed" if n % 3 else "failed",
            startedAt=at(n // 4),
            costUSD=(n % 3) / 10,
            duration=None if n % 5 == 0 else 10 * (n % 4),
        )
    everything = [item["id"] for item in store.list_executions("demo", status=status, sort=sort, limit=1000).items]
    by_cursor: list[str] = []
    cursor = None
    while True:
        page = store.list_executions("demo", status=status, sort=sort, limit=6, cursor=cursor)
        by_cursor += [item["id"] for item in page.items]
        if page.next_cursor is None:
            break
        cursor = page.next_cursor
    by_offset = [
        item["id"]
        for offset in range(0, len(everything), 6)
        for item in store.list_executions("demo", status=status, sort=sort, limit=6, offset=offset).items
    ]
    assert by_cursor == everything
    assert by_offset == everything
    assert len(everything) == (40 if status is None else 26)


def test_cursor_paging_is_stable_when_newer_runs_arrive(store: Storehouse) -> None:
    old = [store.create_execution("demo", startedAt=at(n))["id"] for n in range(10)]
    page = store.list_executions("demo", limit=4)
    seen = [item["id"] for item in page.items]
    store.create_execution("demo", startedAt=at(59))
    while page.next_cursor is not None:
        page = store.list_executions("demo", limit=4, cursor=page.next_cursor)
        seen += [item["id"] for item in page.items]
    assert seen == old[::-1]


@pytest.mark.parametrize(
    ("query", "parameter"),
    [
        ({"limit": 0}, "limit"),
        ({"limit": 1001}, "limit"),
        ({"offset": -1}, "offset"),
        ({"status": "done"}, "status"),
        ({"status": "completed,bogus"}, "status"),
        ({"sort": "name"}, "sort"),
        ({"started_after": "yesterday"}, "startedAfter"),
        ({"started_before": "0001-01-01T00:00:00+01:00"}, "startedBefore"),
        ({"cursor": "!!!"}, "cursor"),
        ({"task_id": "../t"}, "taskId"),
    ],
)
def test_bad_list_parameter_is_invalid_parameter_naming_it(
    store: Storehouse, query: dict[str, Any], parameter: str
) -> None:
    with pytest.raises((InvalidParameter, InvalidId), match=parameter):
        store.list_executions("demo", **query)


def test_unknown_project_is_empty(store: Storehouse) -> None:
    page = store.list_executions("nowhere")
    assert (page.items, page.total, page.next_cursor) == ([], 0, None)
    stats = store.execution_stats("nowhere")
    assert (stats["totalExecutions"], stats["completed"], stats["totalCostUSD"], stats["totalTokens"]) == (0, 0, 0, 0)


# -- stats ---------------------------------------------------------------------------------------------


def test_stats_match_a_computation_over_what_was_created(store: Storehouse) -> None:
    created = [store.create_execution("demo", run) for run in SAMPLE_RUNS]
    stats = store.execution_stats("demo")
    assert stats_subset(stats) == expected_stats(created)
    assert stats["completed"] == 2
    assert stats["totalTokens"] == 120 + 10 + 50 + 10 + 0 + 9
    assert stats["averageDuration"] == round((1200 + 801 + 40 + 3) / 4)
    assert stats["successRate"] == pytest.approx(2 / 3)


def test_stats_stay_correct_after_status_changes_and_deletes(store: Storehouse) -> None:
    created = [store.create_execution("demo", run) for run in SAMPLE_RUNS]
    running, failed, pending = created[3], created[2], created[4]
    store.patch_execution("demo", running["id"], {"status": "completed", "duration": 500, "costUSD": 2.0})
    store.patch_execution("demo", pending["id"], {"status": "running", "tokenUsage": {"input": 30}})
    store.put_execution("demo", created[0]["id"], {"status": "failed", "duration": 10})
    store.delete_execution("demo", failed["id"])
    assert stats_subset(store.execution_stats("demo")) == expected_stats(all_documents(store, "demo"))
    assert store.execution_stats("demo")["totalExecutions"] == 5


def test_stats_of_a_project_count_only_that_project(store: Storehouse) -> None:
    store.create_execution("a", status="completed", costUSD=1.0)
    store.create_execution("b", status="failed", costUSD=2.0)
    stats = store.execution_stats("a")
    assert (stats["totalExecutions"], stats["completed"], stats["failed"], stats["totalCostUSD"]) == (1, 1, 0, 1.0)


def test_stats_of_runs_with_the_most_tokens_are_exact_past_64_bits_and_saturate_there(store: Storehouse) -> None:
    # issue #13 item 7: 1,025 runs at the per-run maximum add up past 2**63 - 1 (SQLite's sum() raises there)
    big = {"input": MAX_TOKENS, "output": 0, "total": MAX_TOKENS}
    store.create_execution("demo", status="completed", tokenUsage={"input": 5, "output": 2}, duration=7)
    runs = [store.create_execution("demo", status="failed", tokenUsage=big) for _ in range(3)]
    assert store.execution_stats("demo")["totalTokens"] == 3 * MAX_TOKENS + 7  # exact beyond a double's 2**53
    folder = store.settings.data_dir / "projects" / "demo" / "executions"
    for n in range(1025):  # many more, copied in by hand (1,025 writes through the store would take seconds)
        (folder / f"big-{n:04d}.json").write_bytes(orjson.dumps({"status": "completed", "tokenUsage": big}))
    with Storehouse(store.settings.data_dir) as reopened:
        stats = reopened.execution_stats("demo")
        assert (stats["totalTokens"], stats["inputTokens"]) == ((1 << 63) - 1, (1 << 63) - 1)  # saturated
        assert (stats["outputTokens"], stats["totalExecutions"]) == (2, 1029)
        for run in runs:
            reopened.delete_execution("demo", run["id"])
        for n in range(1024):
            reopened.delete_execution("demo", f"big-{n:04d}")
        stats = reopened.execution_stats("demo")
        assert (stats["totalTokens"], stats["inputTokens"]) == (MAX_TOKENS + 7, MAX_TOKENS + 5)  # exact again


def test_a_file_holding_2_63_minus_1_tokens_is_skipped_and_named_by_check(data_dir: Path) -> None:
    folder = data_dir / "projects" / "demo" / "executions"
    folder.mkdir(parents=True)
    for n in range(3):  # as an older storehouse (bounded at 2**63 - 1) could have written them
        (folder / f"old-{n}.json").write_bytes(orjson.dumps({"tokenUsage": {"input": (1 << 63) - 1}}))
    with Storehouse(data_dir) as store:
        assert store.execution_stats("demo")["totalTokens"] == 0
        assert store.list_executions("demo").total == 0
        with pytest.raises(NotFound, match=r"tokenUsage\.input"):
            store.get_execution("demo", "old-0")
        assert sum("old-0.json: tokenUsage.input" in problem for problem in store.check().problems) == 1


def test_a_write_past_the_highest_version_is_a_conflict_and_keeps_the_document(store: Storehouse) -> None:
    # issue #13 item 8: one write past the maximum used to store a version no reader (nor the index) accepts
    stamp = "2026-01-05T10:00:05.000Z"
    document = {"id": "r", "status": "running", "version": MAX_VERSION, "createdAt": stamp, "updatedAt": stamp}
    report = store.import_lines([orjson.dumps({"kind": "execution", "project": "demo", "document": document})])
    assert report.count("created") == 1
    writes: list[Callable[[], object]] = [
        lambda: store.patch_execution("demo", "r", {"status": "completed"}),
        lambda: store.put_execution("demo", "r", {"status": "completed"}, if_match=MAX_VERSION),
    ]
    for write in writes:
        with pytest.raises(Conflict, match=f"is at version {MAX_VERSION}, and {MAX_VERSION} is the highest"):
            write()
    stored = store.get_execution("demo", "r")
    assert (stored["version"], stored["status"]) == (MAX_VERSION, "running")
    assert store.list_executions("demo").items[0]["status"] == "running"
    assert store.check().problems == []
    store.delete_execution("demo", "r", if_match=MAX_VERSION)  # the way out: delete, and create again at 1
    assert store.create_execution("demo", id="r")["version"] == 1


# -- record() ------------------------------------------------------------------------------------------


def test_record_saves_running_then_completed_with_duration_and_tokens(store: Storehouse) -> None:
    with store.record("demo", "triage", tags=["t"]) as run:
        assert store.get_execution("demo", run.id)["status"] == "running"
        run.add_tokens(input=10, output=5)
        run.add_tokens(input=1)
        run.add_cost(0.25)
        run.output = {"answer": 42}
    stored = store.get_execution("demo", run.id)
    assert (stored["status"], stored["name"], stored["tags"]) == ("completed", "triage", ["t"])
    assert stored["tokenUsage"] == {"input": 11, "output": 5, "total": 16}
    assert stored["costUSD"] == 0.25
    assert stored["output"] == {"answer": 42}
    assert isinstance(stored["duration"], int)
    assert stored["duration"] >= 0
    assert stored["completedAt"] is not None
    assert stored["error"] is None


def test_record_marks_the_run_failed_and_reraises(store: Storehouse) -> None:
    def work(run: Run) -> None:
        run.add_tokens(input=3)
        raise ValueError("boom")

    with pytest.raises(ValueError, match="boom"), store.record("demo", "triage") as run:
        work(run)
    stored = store.get_execution("demo", run.id)
    assert (stored["status"], stored["error"]) == ("failed", "ValueError: boom")
    assert stored["tokenUsage"]["input"] == 3
    assert stored["completedAt"] is not None


def test_record_marks_the_run_cancelled_on_keyboard_interrupt(store: Storehouse) -> None:
    with pytest.raises(KeyboardInterrupt), store.record("demo", "triage") as run:
        raise KeyboardInterrupt
    stored = store.get_execution("demo", run.id)
    assert stored["status"] == "cancelled"
    assert stored["completedAt"] is not None


def test_record_saves_steps(store: Storehouse) -> None:
    with store.record("demo") as run:
        run.add_step("plan", agent="planner", status="completed", token_usage={"input": 1, "output": 2})
        run.add_step("act")
    steps = store.get_execution("demo", run.id)["steps"]
    assert [step["name"] for step in steps] == ["plan", "act"]
    assert steps[0]["tokenUsage"]["total"] == 3


# -- async ---------------------------------------------------------------------------------------------


async def test_async_store_does_the_same_operations(data_dir: Path) -> None:
    async with AsyncStorehouse(data_dir) as store:
        created = await store.create_execution("demo", name="a", status="running", startedAt=at(0))
        assert (await store.get_execution("demo", created["id"])) == created
        patched = await store.patch_execution("demo", created["id"], {"status": "completed"}, if_match=1)
        assert (patched["status"], patched["version"]) == ("completed", 2)
        put = await store.put_execution("demo", "b", {"status": "failed", "startedAt": at(5), "duration": 4})
        assert put["version"] == 1
        page = await store.list_executions("demo", status="completed,failed")
        assert [item["id"] for item in page.items] == ["b", created["id"]]
        stats = await store.execution_stats("demo")
        assert (stats["totalExecutions"], stats["completed"], stats["failed"]) == (2, 1, 1)
        with pytest.raises(PreconditionFailed):
            await store.delete_execution("demo", "b", if_match=9)
        await store.delete_execution("demo", "b")
        with pytest.raises(NotFound):
            await store.get_execution("demo", "b")
        assert await store.delete_executions("demo") == 1
        assert (await store.list_executions("demo")).total == 0


async def test_async_record_completes_or_fails_the_run(data_dir: Path) -> None:
    async with AsyncStorehouse(data_dir) as store:
        async with store.record("demo", "ok") as good:
            good.add_tokens(input=2, output=3)
        with pytest.raises(ValueError, match="boom"):
            async with store.record("demo", "bad") as bad:
                raise ValueError("boom")
        with pytest.raises(asyncio.CancelledError):
            async with store.record("demo", "stopped") as stopped:
                raise asyncio.CancelledError
        good_doc = await store.get_execution("demo", good.id)
        assert (good_doc["status"], good_doc["tokenUsage"]["total"]) == ("completed", 5)
        assert isinstance(good_doc["duration"], int)
        bad_doc = await store.get_execution("demo", bad.id)
        assert (bad_doc["status"], bad_doc["error"]) == ("failed", "ValueError: boom")
        assert (await store.get_execution("demo", stopped.id))["status"] == "cancelled"


async def test_async_store_wraps_an_open_store(store: Storehouse) -> None:
    created = store.create_execution("demo")
    wrapped = AsyncStorehouse(store=store)
    assert (await wrapped.get_execution("demo", created["id"])) == created
    assert [p.id for p in (await wrapped.list_projects()).items] == ["demo"]


# -- faults and sharing --------------------------------------------------------------------------------


class FailingFsyncIO(FileIO):
    """A FileIO whose fsync fails with ``error`` while ``failing`` is set."""

    def __init__(self, error: int) -> None:
        super().__init__()
        self.error = error
        self.failing = False

    def fsync(self, fd: int) -> None:
        if self.failing:
            raise OSError(self.error, os.strerror(self.error))
        super().fsync(fd)


@pytest.mark.parametrize(("error", "raised"), [(errno.EIO, StorageError), (errno.ENOSPC, StorageFull)])
def test_failed_fsync_fails_the_write_and_keeps_the_previous_document(
    data_dir: Path, error: int, raised: type[StorageError]
) -> None:
    io = FailingFsyncIO(error)
    with Storehouse(backend=FileBackend(data_dir, io=io)) as store:
        first = store.create_execution("demo", status="running", costUSD=0.5, startedAt=at(0))
        store.create_execution("demo", status="completed", duration=7, startedAt=at(1))
        listed, stats = store.list_executions("demo").items, store.execution_stats("demo")
        io.failing = True
        with pytest.raises(raised) as patched:
            store.patch_execution("demo", first["id"], {"status": "completed", "costUSD": 9.0})
        with pytest.raises(raised) as put:
            store.put_execution("demo", first["id"], {"status": "failed"})
        with pytest.raises(raised) as created:
            store.create_execution("demo", id="new", status="failed")
        assert {type(patched.value), type(put.value), type(created.value)} == {raised}
        assert store.get_execution("demo", first["id"]) == first
        with pytest.raises(NotFound):
            store.get_execution("demo", "new")
        assert store.list_executions("demo").items == listed
        assert store.execution_stats("demo") == stats
        assert sorted(os.listdir(data_dir / "projects" / "demo" / "executions")) == sorted(
            f"{item['id']}.json" for item in listed
        )
        io.failing = False
        assert store.patch_execution("demo", first["id"], {"status": "completed"})["version"] == 2
        assert store.check().problems == []


def test_a_second_store_on_the_same_directory_sees_the_first_ones_writes(store: Storehouse, data_dir: Path) -> None:
    before = store.create_execution("demo", status="completed", costUSD=1.0, startedAt=at(0))
    with Storehouse(data_dir) as second:
        assert second.get_execution("demo", before["id"]) == before
        after = store.create_execution("demo", status="failed", startedAt=at(1))
        patched = store.patch_execution("demo", before["id"], {"name": "renamed"})
        assert second.get_execution("demo", before["id"]) == patched
        assert [item["id"] for item in second.list_executions("demo").items] == [after["id"], before["id"]]
        assert second.execution_stats("demo") == store.execution_stats("demo")
        written_by_second = second.create_execution("demo", startedAt=at(2))
    assert store.get_execution("demo", written_by_second["id"]) == written_by_second
    assert store.list_executions("demo").total == 3


class GateIO(FileIO):
    """A FileIO whose next write, once armed, stops until released (the writer is then inside its lock)."""

    def __init__(self) -> None:
        super().__init__()
        self.armed = False
        self.entered = threading.Event()
        self.release = threading.Event()

    def write(self, fd: int, data: memoryview) -> int:
        if self.armed:
            self.armed = False
            self.entered.set()
            self.release.wait(10)
        return super().write(fd, data)


def test_two_stores_in_one_process_do_not_lose_each_others_updates(data_dir: Path) -> None:
    gate = GateIO()
    errors: list[BaseException] = []

    def patch_in_thread(store: Storehouse, changes: dict[str, Any]) -> threading.Thread:
        def target() -> None:
            try:
                store.patch_execution("demo", "x", changes)
            except BaseException as exc:
                errors.append(exc)

        thread = threading.Thread(target=target)
        thread.start()
        return thread

    with Storehouse(backend=FileBackend(data_dir, io=gate)) as first, Storehouse(data_dir) as second:
        first.create_execution("demo", id="x", metadata={})
        assert second.get_execution("demo", "x")["version"] == 1
        gate.armed = True
        writer = patch_in_thread(first, {"metadata": {"a": 1}})
        assert gate.entered.wait(10)
        other = patch_in_thread(second, {"metadata": {"b": 2}})
        other.join(1.0)  # a correct store holds `second` back here until `first` has written
        gate.release.set()
        writer.join(10)
        other.join(10)
        assert errors == []
        stored = first.get_execution("demo", "x")
        assert (stored["metadata"], stored["version"]) == ({"a": 1, "b": 2}, 3)


def test_record_adds_to_what_others_wrote_meanwhile_and_keeps_their_final_status(store: Storehouse) -> None:
    with store.record("demo", "agent") as run:
        run.add_tokens(input=10)
        run.add_cost(0.5)
        store.patch_execution(
            "demo", run.id, {"status": "cancelled", "tags": ["stopped"], "tokenUsage": {"input": 500}}
        )
    document = store.get_execution("demo", run.id)
    assert document["status"] == "cancelled"
    assert document["tags"] == ["stopped"]
    assert document["tokenUsage"]["input"] == 510
    assert document["costUSD"] == 0.5


def test_a_forked_child_can_use_an_inherited_store(store: Storehouse) -> None:
    created = store.create_execution("demo", status="running")
    pid = os.fork()
    if pid == 0:  # the child: its own lock descriptor and SQLite connections, so this must neither hang nor fail
        code = 1
        try:
            store.patch_execution("demo", created["id"], {"status": "completed"})
            code = 0 if store.list_executions("demo").items[0]["status"] == "completed" else 2
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert store.get_execution("demo", created["id"])["version"] == 2


def test_connections_of_finished_threads_are_closed(store: Storehouse) -> None:
    store.create_execution("demo")
    before = len(os.listdir("/proc/self/fd"))
    for _ in range(40):
        thread = threading.Thread(target=store.list_executions, args=("demo",))
        thread.start()
        thread.join()
    assert len(os.listdir("/proc/self/fd")) < before + 10
