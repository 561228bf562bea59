"""Tasks at the library level (issue #6, items 1-4 and 8): documents, the state machine, two-process races,
the dependency graph (with hypothesis properties), readiness and topological order.

Everything runs on a real data directory; the races use real processes started by ``forkserver``.
"""

from __future__ import annotations

import itertools
import multiprocessing
import os
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from multiprocessing.process import BaseProcess
from multiprocessing.queues import Queue
from multiprocessing.synchronize import Barrier
from pathlib import Path

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from storehouse import (
    Conflict,
    InvalidBody,
    InvalidId,
    InvalidParameter,
    NotFound,
    PreconditionFailed,
    Settings,
    Storehouse,
)
from storehouse.models import MAX_TOKENS, MAX_VERSION, JSONObject
from storehouse.tasks import PRIORITY_RANK, STATUSES, TRANSITIONS, find_cycle, topological_order
from tests.conftest import soak

P = "demo"
_FORKS = multiprocessing.get_context("forkserver")
RACE_ROUNDS = 20  # per race, in the fast tier (scaled by STOREHOUSE_SOAK)
RACE_TIMEOUT = 60.0  # seconds a barrier or a result may take before the harness gives up

# How to reach each status from a new (pending) task along allowed moves only.
PATHS: dict[str, tuple[str, ...]] = {
    "pending": (),
    "running": ("running",),
    "succeeded": ("running", "succeeded"),
    "failed": ("running", "failed"),
    "cancelled": ("cancelled",),
}
PAIRS = list(itertools.product(STATUSES, STATUSES))


def task_file(data_dir: Path, task_id: str, project: str = P) -> Path:
    return data_dir / "projects" / project / "tasks" / f"{task_id}.json"


def history_file(data_dir: Path, task_id: str, project: str = P) -> Path:
    return data_dir / "projects" / project / "history" / f"{task_id}.jsonl"


def status_changes(store: Storehouse, task_id: str, project: str = P) -> list[JSONObject]:
    entries = store.list_history(project, task_id, type="status_change", limit=1000).entries
    return list(entries)


def ids(items: list[JSONObject]) -> list[str]:
    return [str(item["id"]) for item in items]


def reach(store: Storehouse, task_id: str, status: str) -> JSONObject:
    """Walk a pending task to status along allowed transitions; return the task."""
    task = store.get_task(P, task_id)
    for step in PATHS[status]:
        task = store.transition_task(P, task_id, step, reason="setup")
    assert task["status"] == status
    return task


# -- 1. documents -------------------------------------------------------------------------------------------
def test_create_generates_an_id_and_fills_the_defaults(store: Storehouse) -> None:
    task = store.create_task(P, title="write the parser")
    assert len(task["id"]) == 26
    assert task["projectId"] == P
    assert (task["status"], task["priority"], task["version"]) == ("pending", "medium", 1)
    assert task["createdAt"] == task["updatedAt"]
    assert task["createdAt"].endswith("Z")
    assert (task["dependencies"], task["transitions"], task["tags"], task["metadata"]) == ([], [], [], {})
    assert task["complexityScore"] is None
    assert store.get_task(P, task["id"]) == task
    second = store.create_task(P, {"title": "second"})
    assert second["id"] != task["id"]


def test_create_with_a_given_id_uses_it_and_refuses_it_twice(store: Storehouse, data_dir: Path) -> None:
    store.create_task(P, id="T-1", title="first")
    before = task_file(data_dir, "T-1").read_bytes()
    with pytest.raises(Conflict, match="already exists"):
        store.create_task(P, id="T-1", title="again")
    assert task_file(data_dir, "T-1").read_bytes() == before


@pytest.mark.parametrize(
    ("body", "named"),
    [
        ({}, "title"),
        ({"title": ""}, "title"),
        ({"title": 7}, "title"),
        ({"title": "t", "priority": "urgent"}, "priority"),
        ({"title": "t", "priority": None}, "priority"),
        ({"title": "t", "status": "done"}, "status"),
        ({"title": "t", "complexityScore": 0}, "complexityScore"),
        ({"title": "t", "complexityScore": 11}, "complexityScore"),
        ({"title": "t", "complexityScore": "5"}, "complexityScore"),
        ({"title": "t", "complexityScore": 5.5}, "complexityScore"),
        ({"title": "t", "complexityScore": True}, "complexityScore"),
        ({"title": "t", "tags": "urgent"}, "tags"),
        ({"title": "t", "metadata": []}, "metadata"),
        ({"title": "t", "dependencies": [{"taskId": "../x"}]}, "dependencies"),
        ({"title": "t", "dependencies": [{"taskId": "x", "type": "soon"}]}, "dependencies"),
    ],
)
def test_an_invalid_task_names_the_field_and_writes_nothing(
    store: Storehouse, data_dir: Path, body: JSONObject, named: str
) -> None:
    with pytest.raises(InvalidBody, match=rf"^{named}\b"):
        store.create_task(P, {"id": "T-1", **body})
    assert not task_file(data_dir, "T-1").exists()
    assert store.list_tasks(P).total == 0


@pytest.mark.parametrize("complexity", [1, 5, 10])
def test_complexity_from_one_to_ten_is_kept(store: Storehouse, complexity: int) -> None:
    assert store.create_task(P, title="t", complexityScore=complexity)["complexityScore"] == complexity


@pytest.mark.parametrize("bad", ["bad id", ".hidden", "-dash", "a/b", "..", "x" * 129, ""])
def test_a_bad_task_id_is_refused_naming_task_id(store: Storehouse, data_dir: Path, bad: str) -> None:
    with pytest.raises(InvalidId, match="taskId"):
        store.put_task(P, bad, {"title": "t"})
    with pytest.raises(InvalidBody if bad == "" else InvalidId, match=r"^id must be" if bad == "" else "taskId"):
        store.create_task(P, id=bad, title="t")
    with pytest.raises(InvalidId, match="taskId"):
        store.get_task(P, bad)
    assert not (data_dir / "projects" / P / "tasks").exists() or not os.listdir(data_dir / "projects" / P / "tasks")


def test_a_bad_project_id_is_refused(store: Storehouse) -> None:
    with pytest.raises(InvalidId, match="projectId"):
        store.create_task("../up", title="t")
    with pytest.raises(InvalidId, match="projectId"):
        store.list_tasks("a b")


def test_the_reserved_id_order_is_refused(store: Storehouse, data_dir: Path) -> None:
    with pytest.raises(InvalidId, match="reserved"):
        store.create_task(P, id="order", title="t")
    with pytest.raises(InvalidId, match="reserved"):
        store.put_task(P, "order", {"title": "t"})
    assert not task_file(data_dir, "order").exists()
    assert store.list_tasks(P).total == 0


def test_the_task_file_is_indented_json_at_its_path(store: Storehouse, data_dir: Path) -> None:
    task = store.create_task(P, id="T-1", title="t", tags=["a"], metadata={"k": [1, 2]})
    raw = task_file(data_dir, "T-1").read_bytes()
    assert raw.startswith(b'{\n  "id": "T-1",\n')
    assert raw.endswith(b"}\n")
    assert orjson.loads(raw) == task
    assert raw == orjson.dumps(task, option=orjson.OPT_INDENT_2 | orjson.OPT_APPEND_NEWLINE)
    assert [name for name in os.listdir(task_file(data_dir, "T-1").parent)] == ["T-1.json"]  # no temp left


def test_put_creates_then_replaces_and_keeps_the_managed_fields(store: Storehouse) -> None:
    created = store.put_task(P, "T-1", {"title": "first", "tags": ["x"]})
    assert (created["version"], created["status"], created["title"]) == (1, "pending", "first")
    time.sleep(0.002)
    replaced = store.put_task(
        P, "T-1", {"title": "second", "priority": "high", "version": 99, "createdAt": "2000-01-01T00:00:00.000Z"}
    )
    assert (replaced["version"], replaced["title"], replaced["priority"], replaced["tags"]) == (2, "second", "high", [])
    assert replaced["createdAt"] == created["createdAt"]
    assert replaced["updatedAt"] > created["updatedAt"]


def test_patch_merges_the_changes(store: Storehouse) -> None:
    store.create_task(P, id="T-1", title="t", tags=["a"], metadata={"keep": 1, "drop": 2}, assignedTo="ann")
    patched = store.patch_task(P, "T-1", {"metadata": {"drop": None, "new": 3}, "assignedTo": None, "priority": "low"})
    assert patched["metadata"] == {"keep": 1, "new": 3}
    assert (patched["assignedTo"], patched["priority"], patched["tags"], patched["version"]) == (None, "low", ["a"], 2)


@pytest.mark.parametrize("method", ["put", "patch"])
def test_a_stale_if_match_is_refused_and_changes_nothing(store: Storehouse, data_dir: Path, method: str) -> None:
    store.create_task(P, id="T-1", title="t")
    store.patch_task(P, "T-1", {"title": "u"})
    before = task_file(data_dir, "T-1").read_bytes()
    write = store.put_task if method == "put" else store.patch_task
    with pytest.raises(PreconditionFailed):
        write(P, "T-1", {"title": "stale"}, if_match=1)
    with pytest.raises(PreconditionFailed):
        store.transition_task(P, "T-1", "running", if_match=1)
    assert task_file(data_dir, "T-1").read_bytes() == before
    assert status_changes(store, "T-1") == []
    assert write(P, "T-1", {"title": "fresh"}, if_match=2)["version"] == 3


def test_absent_tasks_are_not_found(store: Storehouse) -> None:
    store.create_task(P, id="T-1", title="t")
    for call in (
        lambda: store.get_task(P, "T-2"),
        lambda: store.delete_task(P, "T-2"),
        lambda: store.patch_task(P, "T-2", {"title": "x"}),
        lambda: store.transition_task(P, "T-2", "running"),
        lambda: store.task_transitions(P, "T-2"),
        lambda: store.get_task("elsewhere", "T-1"),
    ):
        with pytest.raises(NotFound):
            call()


@pytest.mark.parametrize(
    ("method", "field", "value"),
    [
        ("put", "dependencies", []),
        ("put", "dependencies", [{"taskId": "dep", "type": "related"}]),
        ("put", "dependencies", [{"taskId": "dep"}, {"taskId": "other"}]),
        ("put", "transitions", []),
        ("patch", "dependencies", []),
        ("patch", "dependencies", [{"taskId": "other", "type": "blocks"}]),
        ("patch", "transitions", [{"from": None, "to": "pending", "at": "2026-01-01T00:00:00.000Z"}]),
    ],
)
def test_dependencies_and_transitions_cannot_be_changed_by_put_or_patch(
    store: Storehouse, data_dir: Path, method: str, field: str, value: list[JSONObject]
) -> None:
    store.create_task(P, id="dep", title="dep")
    store.create_task(P, id="other", title="other")
    store.create_task(P, id="T-1", title="t")
    store.add_dependency(P, "T-1", "dep")
    store.transition_task(P, "T-1", "running")
    before = task_file(data_dir, "T-1").read_bytes()
    stored = store.get_task(P, "T-1")
    body = {**stored, field: value} if method == "put" else {field: value}
    write = store.put_task if method == "put" else store.patch_task
    with pytest.raises(InvalidBody, match=field):
        write(P, "T-1", body)
    assert task_file(data_dir, "T-1").read_bytes() == before


def test_dependencies_and_transitions_sent_back_unchanged_are_accepted(store: Storehouse) -> None:
    store.create_task(P, id="dep", title="dep")
    store.create_task(P, id="T-1", title="t")
    store.add_dependency(P, "T-1", "dep", "requires")
    store.transition_task(P, "T-1", "running", reason="go")
    stored = store.get_task(P, "T-1")
    replaced = store.put_task(P, "T-1", {**stored, "title": "renamed"})
    assert (replaced["title"], replaced["version"]) == ("renamed", stored["version"] + 1)
    assert (replaced["dependencies"], replaced["transitions"]) == (stored["dependencies"], stored["transitions"])
    patched = store.patch_task(P, "T-1", {"dependencies": stored["dependencies"], "transitions": stored["transitions"]})
    assert (patched["dependencies"], patched["transitions"]) == (stored["dependencies"], stored["transitions"])
    omitted = store.put_task(P, "T-1", {"title": "no lists", "status": "running"})
    assert (omitted["dependencies"], omitted["transitions"]) == (stored["dependencies"], stored["transitions"])


def test_a_new_task_may_bring_its_dependencies_if_they_exist(store: Storehouse, data_dir: Path) -> None:
    store.create_task(P, id="dep", title="dep")
    task = store.create_task(P, id="T-1", title="t", dependencies=[{"taskId": "dep", "type": "requires"}])
    assert task["dependencies"] == [{"taskId": "dep", "type": "requires"}]
    assert [edge["taskId"] for edge in store.task_dependents(P, "dep")] == ["T-1"]
    with pytest.raises(NotFound, match="ghost"):
        store.create_task(P, id="T-2", title="t", dependencies=[{"taskId": "ghost"}])
    assert not task_file(data_dir, "T-2").exists()


def test_a_task_lists_each_dependency_once(store: Storehouse, data_dir: Path) -> None:
    store.create_task(P, id="dep", title="dep")
    twice = [{"taskId": "dep", "type": "blocks"}, {"taskId": "dep", "type": "related"}]
    with pytest.raises(InvalidBody, match="dependencies"):
        store.create_task(P, id="T-1", title="t", dependencies=twice)
    with pytest.raises(InvalidBody, match="dependencies"):
        store.put_task(P, "T-1", {"title": "t", "dependencies": twice})
    assert not task_file(data_dir, "T-1").exists()
    assert store.task_dependents(P, "dep") == []


def _listing(store: Storehouse) -> None:
    """Eight tasks of every priority, status, tag and assignee, created in this order (1 ms apart)."""
    rows = [
        ("t1", "low", "pending", ["ui"], "ann"),
        ("t2", "critical", "running", ["api"], "bob"),
        ("t3", "medium", "pending", ["api", "ui"], None),
        ("t4", "critical", "pending", [], "ann"),
        ("t5", "high", "failed", ["api"], "bob"),
        ("t6", "medium", "succeeded", ["ui"], "ann"),
        ("t7", "high", "cancelled", [], None),
        ("t8", "low", "pending", ["api"], "bob"),
    ]
    for task_id, priority, status, tags, who in rows:
        store.create_task(P, id=task_id, title=task_id, priority=priority, status=status, tags=tags, assignedTo=who)
        time.sleep(0.002)
    store.add_dependency(P, "t3", "t6")  # succeeded: t3 stays ready
    store.add_dependency(P, "t8", "t2")  # running: t8 is held back
    store.add_dependency(P, "t1", "t5", "related")  # related never holds back


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ({}, ["t2", "t4", "t5", "t7", "t3", "t6", "t1", "t8"]),
        ({"status": "pending"}, ["t4", "t3", "t1", "t8"]),
        ({"status": "failed,cancelled"}, ["t5", "t7"]),
        ({"status": ["running", "succeeded"]}, ["t2", "t6"]),
        ({"priority": "critical"}, ["t2", "t4"]),
        ({"priority": "low,high"}, ["t5", "t7", "t1", "t8"]),
        ({"priority": ["medium"], "status": "pending"}, ["t3"]),
        ({"tag": "api"}, ["t2", "t5", "t3", "t8"]),
        ({"tag": "nothing"}, []),
        ({"assigned_to": "ann"}, ["t4", "t6", "t1"]),
        ({"assigned_to": "bob", "tag": "api", "status": "pending"}, ["t8"]),
        ({"ready": True}, ["t4", "t3", "t1"]),
        ({"ready": True, "priority": "low"}, ["t1"]),
    ],
)
def test_list_filters_and_orders_critical_first_then_oldest(
    store: Storehouse, query: dict[str, object], expected: list[str]
) -> None:
    _listing(store)
    page = store.list_tasks(P, **query)  # type: ignore[arg-type]
    assert (ids(page.items), page.total) == (expected, len(expected))


def test_list_pages_with_a_total_of_all_matches(store: Storehouse) -> None:
    _listing(store)
    whole = store.list_tasks(P, limit=1000)
    assert whole.total == 8
    pages = [store.list_tasks(P, limit=3, offset=offset) for offset in (0, 3, 6, 9)]
    assert [page.total for page in pages] == [8, 8, 8, 8]
    assert [len(page.items) for page in pages] == [3, 3, 2, 0]
    assert [item for page in pages for item in page.items] == whole.items
    filtered = store.list_tasks(P, status="pending", limit=2, offset=1)
    assert (ids(filtered.items), filtered.total) == (["t3", "t1"], 4)


def test_list_ties_are_broken_by_created_at_then_id(store: Storehouse) -> None:
    for n in range(12):  # created in the same millisecond often enough for the id to decide
        store.create_task(P, id=f"x{(n * 7) % 12:02d}", title="t", priority="high" if n % 3 else "critical")
    page = store.list_tasks(P, limit=100)
    full = [store.get_task(P, task_id) for task_id in ids(page.items)]
    keys = [(PRIORITY_RANK[task["priority"]], task["createdAt"], task["id"]) for task in full]
    assert keys == sorted(keys)
    assert page.items[0]["priority"] == "critical"


def test_the_summary_in_a_listing_matches_the_document(store: Storehouse) -> None:
    task = store.create_task(P, id="T-1", title="t", complexityScore=3, resultSummary="done", tags=["a"])
    [item] = store.list_tasks(P).items
    assert {key: task[key] for key in item} == item
    assert "description" not in item
    assert "transitions" not in item


def test_the_list_of_an_unknown_project_is_empty(store: Storehouse) -> None:
    store.create_task("other", title="t")
    for page in (store.list_tasks("nowhere"), store.list_tasks("nowhere", ready=True, status="pending")):
        assert (page.items, page.total) == ([], 0)
    assert store.task_order("nowhere") == []


@pytest.mark.parametrize(
    ("query", "named"),
    [
        ({"status": "done"}, "status"),
        ({"status": "pending,"}, "status"),
        ({"priority": "urgent"}, "priority"),
        ({"limit": 0}, "limit"),
        ({"limit": 1001}, "limit"),
        ({"limit": True}, "limit"),
        ({"offset": -1}, "offset"),
    ],
)
def test_list_parameters_are_checked(store: Storehouse, query: dict[str, object], named: str) -> None:
    with pytest.raises(InvalidParameter, match=rf"^{named}\b"):
        store.list_tasks(P, **query)  # type: ignore[arg-type]


def test_delete_removes_the_file_the_history_and_the_edges_to_it_but_keeps_executions(
    store: Storehouse, data_dir: Path
) -> None:
    store.create_task(P, id="gone", title="gone")
    store.create_task(P, id="dependent", title="d")
    store.create_task(P, id="other", title="o")
    store.add_dependency(P, "dependent", "gone")
    store.add_dependency(P, "dependent", "other", "related")
    store.add_dependency(P, "gone", "other")  # an edge from it: goes with its file
    store.transition_task(P, "gone", "running")
    store.add_history(P, "gone", {"type": "log", "content": "working"})
    run = store.create_execution(P, taskId="gone", name="attempt")
    version = store.get_task(P, "dependent")["version"]
    assert history_file(data_dir, "gone").exists()

    store.delete_task(P, "gone")

    assert not task_file(data_dir, "gone").exists()
    assert not history_file(data_dir, "gone").exists()
    with pytest.raises(NotFound):
        store.get_task(P, "gone")
    dependent = store.get_task(P, "dependent")
    assert dependent["dependencies"] == [{"taskId": "other", "type": "related"}]
    assert dependent["version"] == version + 1
    assert orjson.loads(task_file(data_dir, "dependent").read_bytes())["dependencies"] == dependent["dependencies"]
    assert [edge["taskId"] for edge in store.task_dependencies(P, "dependent")] == ["other"]
    assert [edge["taskId"] for edge in store.task_dependents(P, "other")] == ["dependent"]
    with pytest.raises(NotFound):
        store.task_dependents(P, "gone")
    assert store.get_execution(P, run["id"])["taskId"] == "gone"
    assert store.count_history(P, "gone") == 0
    assert ids(store.list_tasks(P).items) == ["dependent", "other"]


def test_delete_of_a_task_without_history_or_edges_works(store: Storehouse, data_dir: Path) -> None:
    store.create_task(P, id="T-1", title="t")
    store.delete_task(P, "T-1")
    assert not task_file(data_dir, "T-1").exists()
    assert store.create_task(P, id="T-1", title="again")["version"] == 1  # the id may start again


def test_delete_with_a_stale_if_match_changes_nothing(store: Storehouse, data_dir: Path) -> None:
    store.create_task(P, id="dep", title="dep")
    store.create_task(P, id="T-1", title="t")
    store.add_dependency(P, "T-1", "dep")
    before = task_file(data_dir, "T-1").read_bytes(), task_file(data_dir, "dep").read_bytes()
    with pytest.raises(PreconditionFailed):
        store.delete_task(P, "dep", if_match=7)
    assert (task_file(data_dir, "T-1").read_bytes(), task_file(data_dir, "dep").read_bytes()) == before
    store.delete_task(P, "dep", if_match=1)
    assert store.get_task(P, "T-1")["dependencies"] == []


# -- 2. the state machine -----------------------------------------------------------------------------------
def test_the_table_has_every_status_and_the_moves_the_issue_requires() -> None:
    assert set(TRANSITIONS) == set(STATUSES) == {"pending", "running", "succeeded", "failed", "cancelled"}
    required = [
        ("pending", "running"),
        ("running", "succeeded"),
        ("running", "failed"),
        ("pending", "cancelled"),
        ("running", "cancelled"),
        ("failed", "pending"),
    ]
    assert all(to in TRANSITIONS[start] for start, to in required)
    assert all(start not in TRANSITIONS[start] for start in STATUSES)  # no move stays in place
    assert all(set(TRANSITIONS[start]) <= set(STATUSES) for start in STATUSES)
    for start in STATUSES:  # the paths the tests below take are themselves allowed
        reached = "pending"
        for step in PATHS[start]:
            assert step in TRANSITIONS[reached]
            reached = step
        assert reached == start


@pytest.mark.parametrize(("start", "to"), PAIRS)
def test_every_pair_of_statuses_moves_as_the_table_says(store: Storehouse, data_dir: Path, start: str, to: str) -> None:
    store.create_task(P, id="T-1", title="t")
    task = reach(store, "T-1", start)
    before = task_file(data_dir, "T-1").read_bytes()
    history = status_changes(store, "T-1")
    if to in TRANSITIONS[start]:
        moved = store.transition_task(P, "T-1", to, reason="why", actor="agent-7")
        assert moved["status"] == to
        assert moved["version"] == task["version"] + 1
        *kept, record = moved["transitions"]
        assert kept == task["transitions"]
        assert record == {"from": start, "to": to, "at": record["at"], "reason": "why", "actor": "agent-7"}
        assert record["at"] == moved["updatedAt"]
        assert store.get_task(P, "T-1") == moved
        assert orjson.loads(task_file(data_dir, "T-1").read_bytes()) == moved
        *older, entry = status_changes(store, "T-1")
        assert older == history
        assert (entry["type"], entry["taskId"]) == ("status_change", "T-1")
        assert entry["metadata"] == {"from": start, "to": to, "at": record["at"], "reason": "why", "actor": "agent-7"}
        assert [item["id"] for item in store.list_tasks(P, status=to).items] == ["T-1"]
    else:
        with pytest.raises(Conflict) as caught:
            store.transition_task(P, "T-1", to, reason="why", actor="agent-7")
        assert caught.value.details["allowed"] == list(TRANSITIONS[start])
        assert (caught.value.details["from"], caught.value.details["to"]) == (start, to)
        assert task_file(data_dir, "T-1").read_bytes() == before
        assert status_changes(store, "T-1") == history
        assert store.list_tasks(P).items[0]["status"] == start


@pytest.mark.parametrize("method", ["patch", "put"])
@pytest.mark.parametrize(("start", "to"), PAIRS)
def test_a_status_change_by_patch_or_put_follows_the_same_table(
    store: Storehouse, data_dir: Path, method: str, start: str, to: str
) -> None:
    store.create_task(P, id="T-1", title="t")
    task = reach(store, "T-1", start)
    before = task_file(data_dir, "T-1").read_bytes()
    history = status_changes(store, "T-1")

    def write() -> JSONObject:
        if method == "patch":
            return store.patch_task(P, "T-1", {"status": to, "title": "changed"})
        return store.put_task(P, "T-1", {"title": "changed", "status": to})

    if to == start:  # not a move: nothing is added to the trail
        written = write()
        assert (written["status"], written["title"], written["transitions"]) == (start, "changed", task["transitions"])
        assert status_changes(store, "T-1") == history
    elif to in TRANSITIONS[start]:
        written = write()
        assert (written["status"], written["title"], written["version"]) == (to, "changed", task["version"] + 1)
        record = written["transitions"][-1]
        assert record == {"from": start, "to": to, "at": record["at"], "reason": None, "actor": None}
        assert written["transitions"][:-1] == task["transitions"]
        assert [entry["metadata"] for entry in status_changes(store, "T-1")] == [
            *(entry["metadata"] for entry in history),
            record,
        ]
    else:
        with pytest.raises(Conflict) as caught:
            write()
        assert caught.value.details["allowed"] == list(TRANSITIONS[start])
        assert task_file(data_dir, "T-1").read_bytes() == before
        assert status_changes(store, "T-1") == history


@pytest.mark.parametrize("status", STATUSES)
def test_creation_may_set_any_status_without_a_transition(store: Storehouse, status: str) -> None:
    task = store.create_task(P, id="T-1", title="t", status=status)
    assert (task["status"], task["transitions"]) == (status, [])
    assert status_changes(store, "T-1") == []
    assert store.put_task(P, "T-2", {"title": "t", "status": status})["status"] == status


def test_transitions_are_kept_oldest_first(store: Storehouse) -> None:
    store.create_task(P, id="T-1", title="t")
    moves = ["running", "failed", "pending", "running", "cancelled", "pending", "running", "succeeded"]
    for n, to in enumerate(moves):
        store.transition_task(P, "T-1", to, reason=f"step {n}", actor="a" if n % 2 else None)
    trail = store.task_transitions(P, "T-1")
    assert [(item["from"], item["to"]) for item in trail] == list(zip(["pending", *moves[:-1]], moves, strict=True))
    assert [item["reason"] for item in trail] == [f"step {n}" for n in range(len(moves))]
    assert [item["actor"] for item in trail] == [None, "a"] * 4
    assert [item["at"] for item in trail] == sorted(item["at"] for item in trail)
    assert [entry["metadata"] for entry in status_changes(store, "T-1")] == trail
    assert status_changes(store, "T-1")[0]["content"] == "pending -> running"
    assert store.get_task(P, "T-1")["version"] == 1 + len(moves)
    with pytest.raises(Conflict) as caught:
        store.transition_task(P, "T-1", "pending")
    assert caught.value.details["allowed"] == []  # succeeded is final


@pytest.mark.parametrize(
    ("to", "reason", "actor", "error"),
    [
        ("done", None, None, InvalidBody),
        ("", None, None, InvalidBody),
        ("running", 3, None, InvalidBody),
        ("running", None, ["me"], InvalidBody),
    ],
)
def test_a_malformed_transition_is_refused_and_changes_nothing(
    store: Storehouse, data_dir: Path, to: str, reason: object, actor: object, error: type[Exception]
) -> None:
    store.create_task(P, id="T-1", title="t")
    before = task_file(data_dir, "T-1").read_bytes()
    with pytest.raises(error):
        store.transition_task(P, "T-1", to, reason=reason, actor=actor)  # type: ignore[arg-type]
    assert task_file(data_dir, "T-1").read_bytes() == before


# -- 3. two processes at the same moment --------------------------------------------------------------------
RaceResult = tuple[int, str, str, float, float]  # round, worker, outcome, began, ended (monotonic, system-wide)


def _race_transitions(data_dir: str, name: str, rounds: int, barrier: Barrier, results: Queue[RaceResult]) -> None:
    with Storehouse(data_dir) as store:
        for n in range(rounds):
            barrier.wait(RACE_TIMEOUT)
            began = time.monotonic()
            try:
                store.transition_task(P, f"race-{n}", "running", actor=name)
                outcome = "ok"
            except Conflict as exc:
                outcome = f"conflict allowed={exc.details.get('allowed')}"
            except Exception as exc:  # reported, so the harness shows it rather than a hang
                outcome = f"error {type(exc).__name__}: {exc}"
            results.put((n, name, outcome, began, time.monotonic()))


def _race_edges(data_dir: str, name: str, rounds: int, barrier: Barrier, results: Queue[RaceResult]) -> None:
    mine, theirs = ("a", "b") if name == "a" else ("b", "a")
    with Storehouse(data_dir) as store:
        for n in range(rounds):
            barrier.wait(RACE_TIMEOUT)
            began = time.monotonic()
            try:
                store.add_dependency(P, f"{mine}{n}", f"{theirs}{n}")
                outcome = "ok"
            except Conflict as exc:
                outcome = f"conflict cycle={exc.details.get('cycle')}"
            except Exception as exc:
                outcome = f"error {type(exc).__name__}: {exc}"
            results.put((n, name, outcome, began, time.monotonic()))


@contextmanager
def _racing(
    target: Callable[[str, str, int, Barrier, Queue[RaceResult]], None], data_dir: Path, rounds: int
) -> Iterator[list[RaceResult]]:
    """Run target in two processes, in step (one barrier per round); yield every round's two results."""
    barrier = _FORKS.Barrier(2)
    results: Queue[RaceResult] = _FORKS.Queue()
    processes: list[BaseProcess] = [
        _FORKS.Process(target=target, args=(str(data_dir), name, rounds, barrier, results)) for name in ("a", "b")
    ]
    for process in processes:
        process.start()
    try:
        yield [results.get(timeout=RACE_TIMEOUT) for _ in range(2 * rounds)]
    finally:
        for process in processes:
            process.join(RACE_TIMEOUT)
            if process.exitcode is None:
                process.kill()
                process.join()
        results.close()
    assert [process.exitcode for process in processes] == [0, 0]


def _by_round(results: list[RaceResult]) -> dict[int, list[RaceResult]]:
    rounds: dict[int, list[RaceResult]] = {}
    for result in results:
        rounds.setdefault(result[0], []).append(result)
    return rounds


def _overlapped(pair: list[RaceResult]) -> bool:
    return max(result[3] for result in pair) < min(result[4] for result in pair)


def test_two_processes_moving_one_task_from_the_same_state_cannot_both_succeed(
    store: Storehouse, data_dir: Path, scorecard: Callable[[str], None]
) -> None:
    rounds = soak(RACE_ROUNDS)
    for n in range(rounds):
        store.create_task(P, id=f"race-{n}", title="t")
    with _racing(_race_transitions, data_dir, rounds) as results:
        pass
    by_round = _by_round(results)
    assert sorted(by_round) == list(range(rounds))
    for n, pair in by_round.items():
        outcomes = sorted(result[2] for result in pair)
        assert outcomes == ["conflict allowed=['succeeded', 'failed', 'cancelled']", "ok"], (n, outcomes)
        winner = next(result[1] for result in pair if result[2] == "ok")
        task = store.get_task(P, f"race-{n}")
        assert (task["status"], task["version"]) == ("running", 2)
        assert [(item["from"], item["to"], item["actor"]) for item in task["transitions"]] == [
            ("pending", "running", winner)
        ]
        assert [entry["metadata"]["actor"] for entry in status_changes(store, f"race-{n}")] == [winner]
    overlapped = sum(_overlapped(pair) for pair in by_round.values())
    wins = {name: sum(r[1] == name and r[2] == "ok" for r in results) for name in ("a", "b")}
    scorecard(
        f"task-transition-race: {rounds} rounds x 2 processes moving one task pending->running at once: "
        f"{rounds} won, {rounds} refused (409), 0 double moves; wins a/b {wins['a']}/{wins['b']}, "
        f"calls overlapped in {overlapped}/{rounds} rounds"
    )


def test_two_processes_adding_opposite_edges_at_once_leave_exactly_one(
    store: Storehouse, data_dir: Path, scorecard: Callable[[str], None]
) -> None:
    rounds = soak(RACE_ROUNDS)
    for n in range(rounds):
        store.create_task(P, id=f"a{n}", title="a")
        store.create_task(P, id=f"b{n}", title="b")
    with _racing(_race_edges, data_dir, rounds) as results:
        pass
    by_round = _by_round(results)
    assert sorted(by_round) == list(range(rounds))
    for n, pair in by_round.items():
        outcome = {result[1]: result[2] for result in pair}
        assert sorted(outcome.values())[1] == "ok", (n, outcome)
        loser = "a" if outcome["b"] == "ok" else "b"
        other = "b" if loser == "a" else "a"
        assert outcome[loser] == f"conflict cycle={[f'{loser}{n}', f'{other}{n}', f'{loser}{n}']}", (n, outcome)
        assert store.get_task(P, f"{other}{n}")["dependencies"] == [{"taskId": f"{loser}{n}", "type": "blocks"}]
        assert store.get_task(P, f"{loser}{n}")["dependencies"] == []
    order = ids(store.task_order(P))
    assert len(order) == 2 * rounds  # still acyclic: every task is placed
    overlapped = sum(_overlapped(pair) for pair in by_round.values())
    wins = {name: sum(r[1] == name and r[2] == "ok" for r in results) for name in ("a", "b")}
    scorecard(
        f"task-edge-race: {rounds} rounds x 2 processes adding a->b and b->a at once: {rounds} edges kept, "
        f"{rounds} refused as cycles (409), 0 cycles stored; wins a/b {wins['a']}/{wins['b']}, "
        f"calls overlapped in {overlapped}/{rounds} rounds"
    )


# -- 4. the dependency graph --------------------------------------------------------------------------------
def test_a_self_edge_is_a_cycle_of_one(store: Storehouse, data_dir: Path) -> None:
    store.create_task(P, id="a", title="a")
    before = task_file(data_dir, "a").read_bytes()
    with pytest.raises(Conflict) as caught:
        store.add_dependency(P, "a", "a")
    assert caught.value.details["cycle"] == ["a", "a"]
    assert task_file(data_dir, "a").read_bytes() == before


def test_an_edge_closing_a_cycle_is_refused_naming_the_cycle(store: Storehouse, data_dir: Path) -> None:
    for task_id in "abc":
        store.create_task(P, id=task_id, title=task_id)
    store.add_dependency(P, "a", "b")
    store.add_dependency(P, "b", "c")
    before = task_file(data_dir, "c").read_bytes()
    with pytest.raises(Conflict, match="c -> a -> b -> c") as caught:
        store.add_dependency(P, "c", "a", "related")  # even a related edge would close it
    assert caught.value.details["cycle"] == ["c", "a", "b", "c"]
    assert find_cycle([("a", "b"), ("b", "c")], "c", "a") == ["c", "a", "b", "c"]
    assert task_file(data_dir, "c").read_bytes() == before
    assert store.task_dependencies(P, "c") == []
    store.add_dependency(P, "a", "c")  # a shortcut along the same direction is fine
    assert ids(store.task_order(P)) == ["c", "b", "a"]


@pytest.mark.parametrize(("task", "depends_on"), [("ghost", "a"), ("a", "ghost"), ("ghost", "ghost")])
def test_an_edge_with_an_unknown_end_is_not_found(
    store: Storehouse, data_dir: Path, task: str, depends_on: str
) -> None:
    store.create_task(P, id="a", title="a")
    before = task_file(data_dir, "a").read_bytes()
    with pytest.raises(NotFound, match="ghost"):
        store.add_dependency(P, task, depends_on)
    assert task_file(data_dir, "a").read_bytes() == before
    assert not task_file(data_dir, "ghost").exists()


@pytest.mark.parametrize("method", ["create", "put"])
def test_a_new_task_depending_on_itself_is_a_cycle_of_one(store: Storehouse, data_dir: Path, method: str) -> None:
    body: JSONObject = {"title": "t", "dependencies": [{"taskId": "T-1"}]}
    with pytest.raises(Conflict) as caught:
        store.create_task(P, {"id": "T-1", **body}) if method == "create" else store.put_task(P, "T-1", body)
    assert caught.value.details["cycle"] == ["T-1", "T-1"]
    assert not task_file(data_dir, "T-1").exists()


def test_adding_an_existing_edge_is_not_a_creation(store: Storehouse, data_dir: Path) -> None:
    store.create_task(P, id="a", title="a")
    store.create_task(P, id="b", title="b")
    assert store.add_dependency(P, "a", "b", "requires") == ({"taskId": "b", "type": "requires"}, True)
    before = task_file(data_dir, "a").read_bytes()
    assert store.add_dependency(P, "a", "b", "requires") == ({"taskId": "b", "type": "requires"}, False)
    assert task_file(data_dir, "a").read_bytes() == before


def test_changing_the_type_of_an_edge_keeps_one_edge_of_the_new_type(store: Storehouse) -> None:
    store.create_task(P, id="a", title="a")
    store.create_task(P, id="b", title="b")
    store.add_dependency(P, "a", "b")
    assert store.add_dependency(P, "a", "b", "related") == ({"taskId": "b", "type": "related"}, False)
    assert store.get_task(P, "a")["dependencies"] == [{"taskId": "b", "type": "related"}]
    assert [(edge["taskId"], edge["type"]) for edge in store.task_dependencies(P, "a")] == [("b", "related")]
    assert [(edge["taskId"], edge["type"]) for edge in store.task_dependents(P, "b")] == [("a", "related")]


def test_a_new_edge_defaults_to_blocks_and_an_unknown_type_is_refused(store: Storehouse) -> None:
    store.create_task(P, id="a", title="a")
    store.create_task(P, id="b", title="b")
    with pytest.raises(InvalidBody, match="type"):
        store.add_dependency(P, "a", "b", "soon")
    assert store.get_task(P, "a")["dependencies"] == []
    assert store.add_dependency(P, "a", "b") == ({"taskId": "b", "type": "blocks"}, True)


def test_remove_dependency_removes_only_that_edge(store: Storehouse) -> None:
    for task_id in "abc":
        store.create_task(P, id=task_id, title=task_id)
    store.add_dependency(P, "a", "b")
    store.add_dependency(P, "a", "c", "related")
    version = store.get_task(P, "a")["version"]
    store.remove_dependency(P, "a", "b")
    task = store.get_task(P, "a")
    assert (task["dependencies"], task["version"]) == ([{"taskId": "c", "type": "related"}], version + 1)
    assert store.task_dependents(P, "b") == []
    with pytest.raises(NotFound):
        store.remove_dependency(P, "a", "b")
    with pytest.raises(NotFound):
        store.remove_dependency(P, "ghost", "b")
    store.add_dependency(P, "b", "a")  # with the edge gone, the other direction is no cycle
    assert ids(store.task_order(P)) == ["c", "a", "b"]


def test_dependencies_and_dependents_list_both_ends_with_their_summaries(store: Storehouse) -> None:
    for task_id in ("app", "db", "api", "docs"):
        store.create_task(P, id=task_id, title=task_id.upper())
    store.add_dependency(P, "app", "db", "requires")
    store.add_dependency(P, "app", "api")
    store.add_dependency(P, "api", "db")
    store.add_dependency(P, "docs", "app", "related")
    store.transition_task(P, "db", "running")
    deps = store.task_dependencies(P, "app")
    assert [(edge["taskId"], edge["type"]) for edge in deps] == [("api", "blocks"), ("db", "requires")]
    assert [(edge["task"]["title"], edge["task"]["status"]) for edge in deps] == [("API", "pending"), ("DB", "running")]
    assert [(edge["taskId"], edge["type"]) for edge in store.task_dependents(P, "db")] == [
        ("api", "blocks"),
        ("app", "requires"),
    ]
    assert [(edge["taskId"], edge["type"]) for edge in store.task_dependents(P, "app")] == [("docs", "related")]
    assert store.task_dependencies(P, "db") == []
    assert store.task_dependents(P, "docs") == []
    with pytest.raises(NotFound):
        store.task_dependencies(P, "ghost")


# -- 4. properties of the graph (hypothesis) ------------------------------------------------------------------
NODES = ("n0", "n1", "n2", "n3", "n4", "n5")
EDGE_TYPES = ("blocks", "requires", "related")


def _reaches(graph: dict[str, set[str]], start: str, goal: str) -> bool:
    """Whether goal can be reached from start following task -> depends_on edges (start itself counts)."""
    seen, stack = set(), [start]
    while stack:
        node = stack.pop()
        if node == goal:
            return True
        if node not in seen:
            seen.add(node)
            stack.extend(graph.get(node, ()))
    return False


def _has_cycle(graph: dict[str, set[str]]) -> bool:
    """Depth-first search with three colours: a grey node met again is a cycle."""
    colour: dict[str, int] = {}

    def visit(node: str) -> bool:
        colour[node] = 1
        for target in graph.get(node, ()):
            state = colour.get(target, 0)
            if state == 1 or (state == 0 and visit(target)):
                return True
        colour[node] = 2
        return False

    return any(colour.get(node, 0) == 0 and visit(node) for node in list(graph))


def _stored_graph(store: Storehouse) -> dict[str, dict[str, str]]:
    """The graph as the task documents hold it: task -> {depends_on: type}."""
    graph: dict[str, dict[str, str]] = {}
    for node in NODES:
        edges = store.get_task(P, node)["dependencies"]
        graph[node] = {edge["taskId"]: edge["type"] for edge in edges}
        assert len(graph[node]) == len(edges), f"{node} lists a dependency twice: {edges}"
    return graph


def test_the_oracles_of_the_property_tests_see_cycles_and_paths() -> None:
    assert _has_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}})
    assert _has_cycle({"a": {"a"}})
    assert not _has_cycle({"a": {"b", "c"}, "b": {"c"}, "c": set()})
    assert _reaches({"a": {"b"}, "b": {"c"}}, "a", "c")
    assert not _reaches({"a": {"b"}, "b": {"c"}}, "c", "a")


Operation = tuple[str, str, str, str]  # add|remove, task, depends_on, type
operations = st.lists(
    st.tuples(
        st.sampled_from(("add", "add", "add", "remove")),
        st.sampled_from(NODES),
        st.sampled_from(NODES),
        st.sampled_from(EDGE_TYPES),
    ),
    max_size=30,
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(steps=operations)
def test_random_edge_sequences_never_store_a_cycle_and_refuse_only_cycles(steps: list[Operation]) -> None:
    with (
        tempfile.TemporaryDirectory() as folder,
        Storehouse(settings=Settings(data_dir=Path(folder), durable=False)) as store,
    ):
        for node in NODES:
            store.create_task(P, id=node, title=node)
        for action, task, depends_on, kind in steps:
            before = _stored_graph(store)
            shape = {node: set(targets) for node, targets in before.items()}
            if action == "remove":
                if depends_on in before[task]:
                    store.remove_dependency(P, task, depends_on)
                    before[task].pop(depends_on)
                else:
                    with pytest.raises(NotFound):
                        store.remove_dependency(P, task, depends_on)
            elif _reaches(shape, depends_on, task):  # the edge would close a cycle (a self-edge too)
                with pytest.raises(Conflict) as caught:
                    store.add_dependency(P, task, depends_on, kind)
                cycle = caught.value.details["cycle"]
                assert isinstance(cycle, list)
                assert (cycle[0], cycle[1], cycle[-1]) == (task, depends_on, task)
                assert all(b in shape[a] for a, b in itertools.pairwise(cycle[1:])), (cycle, shape)
            else:
                edge, created = store.add_dependency(P, task, depends_on, kind)
                assert (edge, created) == ({"taskId": depends_on, "type": kind}, depends_on not in before[task])
                before[task][depends_on] = kind
            after = _stored_graph(store)
            assert after == before
            assert not _has_cycle({node: set(targets) for node, targets in after.items()})
            indexed = {
                node: {edge["taskId"]: edge["type"] for edge in store.task_dependencies(P, node)} for node in NODES
            }
            assert indexed == after
        assert len(store.task_order(P)) == len(NODES)


@st.composite
def dags(draw: st.DrawFn) -> tuple[dict[str, tuple[int, str]], list[tuple[str, str]]]:
    """A random DAG: node i may depend on node j only when j < i in a hidden order, under shuffled names;
    priorities and createdAt drawn from small sets so that ties are common."""
    size = draw(st.integers(1, 9))
    names = draw(st.permutations([f"t{n}" for n in range(size)]))
    keys = {
        name: (draw(st.integers(0, 3)), draw(st.sampled_from(["2026-01-01T00:00:00.000Z", "2026-01-01T00:00:00.001Z"])))
        for name in names
    }
    pairs = [(names[i], names[j]) for i in range(size) for j in range(i)]
    edges = draw(st.lists(st.sampled_from(pairs), unique=True)) if pairs else []
    return keys, edges


@settings(max_examples=200, deadline=None)
@given(graph=dags(), data=st.data())
def test_topological_order_respects_every_edge_and_breaks_ties_by_priority_created_id(
    graph: tuple[dict[str, tuple[int, str]], list[tuple[str, str]]], data: st.DataObject
) -> None:
    keys, edges = graph
    order = topological_order(keys, edges)
    assert sorted(order) == sorted(keys)
    position = {task: n for n, task in enumerate(order)}
    assert all(position[depends_on] < position[task] for task, depends_on in edges)
    placed: set[str] = set()  # at each step, the one taken is the smallest (rank, createdAt, id) of those free
    for task in order:
        free = [t for t in keys if t not in placed and all(d in placed for s, d in edges if s == t)]
        assert task == min(free, key=lambda t: (*keys[t], t))
        placed.add(task)
    shuffled = data.draw(st.permutations(edges))
    assert topological_order(dict(reversed(list(keys.items()))), shuffled) == order
    assert topological_order(keys, [*edges, ("t0", "unknown")]) == order  # edges to unknown tasks are ignored


@settings(max_examples=200, deadline=None)
@given(graph=dags(), data=st.data())
def test_find_cycle_finds_a_shortest_cycle_exactly_when_there_is_one(
    graph: tuple[dict[str, tuple[int, str]], list[tuple[str, str]]], data: st.DataObject
) -> None:
    keys, edges = graph
    task = data.draw(st.sampled_from(sorted(keys)))
    depends_on = data.draw(st.sampled_from(sorted(keys)))
    shape: dict[str, set[str]] = {}
    for source, target in edges:
        shape.setdefault(source, set()).add(target)
    cycle = find_cycle(edges, task, depends_on)
    if not _reaches(shape, depends_on, task):
        assert cycle is None
        return
    assert cycle is not None
    assert (cycle[0], cycle[1], cycle[-1]) == (task, depends_on, task)
    assert all(b in shape.get(a, set()) for a, b in itertools.pairwise(cycle[1:]))
    distance, frontier = 0, {depends_on}  # breadth first: the path back is a shortest one
    while task not in frontier:
        frontier = {target for node in frontier for target in shape.get(node, ())}
        distance += 1
    assert len(cycle) - 2 == distance
    assert find_cycle(list(reversed(edges)), task, depends_on) == cycle  # deterministic


# -- 5. readiness -------------------------------------------------------------------------------------------
@pytest.mark.parametrize("kind", EDGE_TYPES)
@pytest.mark.parametrize("dependency_status", STATUSES)
def test_ready_waits_for_blocks_and_requires_to_succeed_but_never_for_related(
    store: Storehouse, kind: str, dependency_status: str
) -> None:
    store.create_task(P, id="dep", title="dep", status=dependency_status)
    store.create_task(P, id="T-1", title="t")
    store.add_dependency(P, "T-1", "dep", kind)
    ready = kind == "related" or dependency_status == "succeeded"
    expected = ["T-1"] if ready else []
    if dependency_status == "pending":
        expected = ["dep", *expected]
    page = store.list_tasks(P, ready=True)
    assert (ids(page.items), page.total) == (expected, len(expected))


def test_ready_needs_every_holding_dependency_to_have_succeeded(store: Storehouse) -> None:
    store.create_task(P, id="done", title="d", status="succeeded")
    store.create_task(P, id="busy", title="b")
    store.create_task(P, id="T-1", title="t")
    store.add_dependency(P, "T-1", "done", "requires")
    store.add_dependency(P, "T-1", "busy", "blocks")
    assert "T-1" not in ids(store.list_tasks(P, ready=True).items)
    store.transition_task(P, "busy", "running")
    assert "T-1" not in ids(store.list_tasks(P, ready=True).items)
    store.transition_task(P, "busy", "failed")
    assert "T-1" not in ids(store.list_tasks(P, ready=True).items)
    store.transition_task(P, "busy", "pending")
    store.transition_task(P, "busy", "running")
    store.transition_task(P, "busy", "succeeded")
    assert ids(store.list_tasks(P, ready=True).items) == ["T-1"]
    store.remove_dependency(P, "T-1", "busy")
    assert ids(store.list_tasks(P, ready=True).items) == ["T-1"]


def test_a_dependency_deleted_no_longer_holds_back(store: Storehouse) -> None:
    store.create_task(P, id="dep", title="d", status="running")
    store.create_task(P, id="T-1", title="t")
    store.add_dependency(P, "T-1", "dep")
    assert store.list_tasks(P, ready=True).total == 0
    store.delete_task(P, "dep")
    assert ids(store.list_tasks(P, ready=True).items) == ["T-1"]


@pytest.mark.parametrize("status", STATUSES)
def test_only_pending_tasks_are_ever_ready(store: Storehouse, status: str) -> None:
    store.create_task(P, id="T-1", title="t", status=status)
    store.create_task(P, id="dep", title="d", status="succeeded")
    store.add_dependency(P, "T-1", "dep")
    page = store.list_tasks(P, ready=True)
    assert ids(page.items) == (["T-1"] if status == "pending" else [])
    assert store.list_tasks(P, ready=True, status=status).total == (1 if status == "pending" else 0)


def test_a_pending_task_without_dependencies_is_ready(store: Storehouse) -> None:
    store.create_task(P, id="T-1", title="t")
    assert ids(store.list_tasks(P, ready=True).items) == ["T-1"]


# -- 6. order -----------------------------------------------------------------------------------------------
def test_task_order_puts_dependencies_first_then_priority_then_created(store: Storehouse) -> None:
    for task_id, priority in [("x", "low"), ("m-late-id", "medium"), ("m-early-id", "medium"), ("z", "high")]:
        store.create_task(P, id=task_id, title=task_id, priority=priority)
        time.sleep(0.002)  # distinct createdAt: createdAt decides before the id
    store.create_task(P, id="y", title="y", priority="critical")
    store.add_dependency(P, "y", "x")  # critical, but waits for the low one
    order = store.task_order(P)
    assert ids(order) == ["z", "m-late-id", "m-early-id", "x", "y"]
    assert order[0] == store.list_tasks(P, priority="high").items[0]  # the same summaries as a listing


def test_task_order_is_a_topological_order_of_a_chain_against_priority(store: Storehouse) -> None:
    priorities = ["low", "medium", "high", "critical"]
    for n, priority in enumerate(priorities):
        store.create_task(P, id=f"c{n}", title="t", priority=priority)
    for n in range(1, len(priorities)):
        store.add_dependency(P, f"c{n - 1}", f"c{n}")  # c0 (low) depends on c1 ... on c3 (critical)
    store.create_task(P, id="free", title="t", priority="high")
    assert ids(store.task_order(P)) == ["c3", "c2", "free", "c1", "c0"]  # c2 and free tie: older first


def test_a_task_write_past_the_highest_version_is_a_conflict_and_keeps_the_task(store: Storehouse) -> None:
    # issue #13 item 8 for tasks: transitions, patches, puts and edges all move the version on by one
    stamp = "2026-01-05T10:00:05.000Z"
    task = {"id": "T-1", "title": "top", "version": MAX_VERSION, "createdAt": stamp, "updatedAt": stamp}
    store.create_task(P, id="dep", title="dependency")
    assert store.import_lines([orjson.dumps({"kind": "task", "project": P, "document": task})]).count("created") == 1
    writes: list[Callable[[], object]] = [
        lambda: store.transition_task(P, "T-1", "running"),
        lambda: store.patch_task(P, "T-1", {"title": "again"}),
        lambda: store.put_task(P, "T-1", {"title": "again"}, if_match=MAX_VERSION),
        lambda: store.add_dependency(P, "T-1", "dep"),
    ]
    for write in writes:
        with pytest.raises(Conflict, match=f"task T-1 of project {P} is at version {MAX_VERSION}, and"):
            write()
    stored = store.get_task(P, "T-1")
    assert (stored["version"], stored["status"], stored["title"], stored["dependencies"]) == (
        MAX_VERSION,
        "pending",
        "top",
        [],
    )
    assert store.check().problems == []


def test_project_metrics_of_runs_with_the_most_tokens_are_exact(store: Storehouse) -> None:
    big = {"input": MAX_TOKENS, "output": MAX_TOKENS, "total": MAX_TOKENS}
    for _ in range(3):  # 3 * 2**53 is past a double's exact integers, far from 64 bits
        store.create_execution(P, status="completed", tokenUsage=big)
    metrics = store.project_metrics(P)
    assert (metrics["totalTokens"], metrics["totalExecutions"]) == (3 * MAX_TOKENS, 3)
