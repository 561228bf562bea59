"""The task HTTP API (issue #6), over a real store on a temp directory: the documents (POST, GET, PUT, PATCH,
DELETE, If-Match), the listing and its filters, the state machine and its audit trail, the dependency graph and
readiness, what a delete takes with it, the change feed, bad input that changes nothing, and a real server."""

from __future__ import annotations

import asyncio
import itertools
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from storehouse import Storehouse
from tests.conftest import Server

PROJECT = "/api/projects/demo"
TASKS = f"{PROJECT}/tasks"
SUMMARY_FIELDS = {
    "id",
    "projectId",
    "title",
    "status",
    "priority",
    "complexityScore",
    "assignedTo",
    "tags",
    "resultSummary",
    "dependencies",
    "createdAt",
    "updatedAt",
}
TASK_FIELDS = SUMMARY_FIELDS | {
    "description",
    "requirements",
    "acceptanceCriteria",
    "affectedFiles",
    "metadata",
    "transitions",
    "version",
}
TRANSITION_FIELDS = {"from", "to", "at", "reason", "actor"}
STATUSES = ("pending", "running", "succeeded", "failed", "cancelled")
ALLOWED = {  # the README's table
    "pending": {"running", "cancelled"},
    "running": {"succeeded", "failed", "cancelled"},
    "failed": {"pending"},
    "cancelled": {"pending"},
    "succeeded": set(),
}
JSON = {"content-type": "application/json"}
WALK = {  # the moves that take a new (pending) task to each status
    "pending": [],
    "running": ["running"],
    "succeeded": ["running", "succeeded"],
    "failed": ["running", "failed"],
    "cancelled": ["cancelled"],
}


# -- helpers ---------------------------------------------------------------------------------------------
def assert_error(answer: httpx.Response, status: int, code: str | None = None) -> dict[str, Any]:
    """The answer is an error of this status in the JSON form; returns its error object."""
    assert answer.status_code == status, answer.text
    assert answer.headers["content-type"].startswith("application/json")
    error: dict[str, Any] = answer.json()["error"]
    assert error["message"]
    if code is not None:
        assert error["code"] == code
    return error


def snapshot(data_dir: Path) -> dict[str, bytes | None]:
    """Every file (its bytes) and directory (None) under data/projects: what a refused request must not change."""
    root = data_dir / "projects"
    if not root.exists():
        return {}
    return {
        str(path.relative_to(root)): path.read_bytes() if path.is_file() else None for path in sorted(root.rglob("*"))
    }


@dataclass(frozen=True)
class State:
    """What a refused request must leave as it was: the files, and the change feed's head."""

    files: dict[str, bytes | None]
    head: str


def state(store: Storehouse, data_dir: Path) -> State:
    return State(snapshot(data_dir), store.change_head())


async def create(http: httpx.AsyncClient, item: str, **fields: Any) -> dict[str, Any]:
    """Create task item in project demo (title defaults to its id); returns the stored document."""
    answer = await http.post(TASKS, json={"id": item, "title": item, **fields})
    assert answer.status_code == 201, answer.text
    document: dict[str, Any] = answer.json()["task"]
    return document


async def move(http: httpx.AsyncClient, item: str, to: str, **extra: Any) -> httpx.Response:
    return await http.post(f"{TASKS}/{item}/transitions", json={"to": to, **extra})


async def walk(http: httpx.AsyncClient, item: str, status: str) -> dict[str, Any]:
    """Move a pending task to status along allowed moves; returns the task."""
    document: dict[str, Any] = (await http.get(f"{TASKS}/{item}")).json()["task"]
    for to in WALK[status]:
        answer = await move(http, item, to)
        assert answer.status_code == 200, answer.text
        document = answer.json()["task"]
    return document


async def depend(http: httpx.AsyncClient, item: str, on: str, kind: str = "blocks") -> None:
    answer = await http.put(f"{TASKS}/{item}/dependencies/{on}", json={"type": kind})
    assert answer.status_code in (200, 201), answer.text


async def get(http: httpx.AsyncClient, item: str) -> dict[str, Any]:
    answer = await http.get(f"{TASKS}/{item}")
    assert answer.status_code == 200, answer.text
    document: dict[str, Any] = answer.json()["task"]
    return document


async def listed(http: httpx.AsyncClient, params: Any = None) -> tuple[list[str], int]:
    """The ids a task listing answers, and its total."""
    answer = await http.get(TASKS, params=params)
    assert answer.status_code == 200, answer.text
    body = answer.json()
    return [summary["id"] for summary in body["tasks"]], body["total"]


async def ready(http: httpx.AsyncClient) -> list[str]:
    return (await listed(http, {"ready": "true"}))[0]


async def history(http: httpx.AsyncClient, item: str, params: Any = None) -> dict[str, Any]:
    answer = await http.get(f"{TASKS}/{item}/history", params=params)
    assert answer.status_code == 200, answer.text
    body: dict[str, Any] = answer.json()
    return body


async def neighbours(http: httpx.AsyncClient, item: str, which: str) -> list[tuple[str, str]]:
    """(taskId, type) of a task's dependencies or dependents."""
    answer = await http.get(f"{TASKS}/{item}/{which}")
    assert answer.status_code == 200, answer.text
    return [(edge["taskId"], edge["type"]) for edge in answer.json()[which]]


def summary_of(document: dict[str, Any]) -> dict[str, Any]:
    return {name: document[name] for name in SUMMARY_FIELDS}


# -- the document --------------------------------------------------------------------------------------------
async def test_post_answers_201_with_the_task_its_location_and_etag(http: httpx.AsyncClient) -> None:
    answer = await http.post(TASKS, json={"id": "T-1", "title": "write the tests"})
    assert answer.status_code == 201, answer.text
    assert answer.headers["location"] == f"{TASKS}/T-1"
    assert answer.headers["etag"] == '"1"'
    assert list(answer.json()) == ["task"]
    task = answer.json()["task"]
    assert set(task) == TASK_FIELDS
    assert (task["id"], task["projectId"], task["title"]) == ("T-1", "demo", "write the tests")
    assert (task["status"], task["priority"], task["version"]) == ("pending", "medium", 1)
    assert task["transitions"] == task["dependencies"] == task["tags"] == []
    assert task["createdAt"] == task["updatedAt"]


async def test_post_without_an_id_generates_a_time_sortable_one(http: httpx.AsyncClient) -> None:
    first = await http.post(TASKS, json={"title": "one"})
    second = await http.post(TASKS, json={"title": "two", "id": None})
    ids = [answer.json()["task"]["id"] for answer in (first, second)]
    assert all(len(item) == 26 for item in ids)
    assert ids[0] < ids[1]
    for answer, item in zip((first, second), ids, strict=True):
        assert answer.headers["location"] == f"{TASKS}/{item}"
        fetched = await http.get(answer.headers["location"])
        assert fetched.json() == answer.json()


async def test_every_field_round_trips(http: httpx.AsyncClient) -> None:
    fields = {
        "title": "Add retries",
        "description": "Retry failed uploads three times — with backoff.",
        "priority": "high",
        "complexityScore": 7,
        "requirements": [{"text": "idempotent"}, "no new dependency"],
        "acceptanceCriteria": [{"given": "a 503", "then": "retry"}],
        "affectedFiles": ["src/upload.py"],
        "tags": ["net", "reliability"],
        "assignedTo": "agent-7",
        "resultSummary": None,
        "metadata": {"ticket": 42, "nested": {"ok": True}},
    }
    created = (await http.post(TASKS, json={"id": "full", **fields})).json()["task"]
    assert {name: created[name] for name in fields} == fields
    assert await get(http, "full") == created


async def test_get_answers_the_task_with_its_etag(http: httpx.AsyncClient) -> None:
    created = await create(http, "a")
    answer = await http.get(f"{TASKS}/a")
    assert answer.status_code == 200
    assert answer.json() == {"task": created}
    assert answer.headers["etag"] == '"1"'


async def test_an_unknown_task_is_a_404(http: httpx.AsyncClient) -> None:
    await create(http, "a")
    assert_error(await http.get(f"{TASKS}/nobody"), 404, "not_found")
    assert_error(await http.get("/api/projects/elsewhere/tasks/a"), 404, "not_found")


async def test_post_of_an_existing_id_is_a_409_that_changes_nothing(
    http: httpx.AsyncClient, store: Storehouse, data_dir: Path
) -> None:
    await create(http, "a")
    before = state(store, data_dir)
    assert_error(await http.post(TASKS, json={"id": "a", "title": "again"}), 409, "conflict")
    assert state(store, data_dir) == before


async def test_put_creates_with_201_then_replaces_with_200(http: httpx.AsyncClient) -> None:
    created = await http.put(f"{TASKS}/a", json={"title": "first", "description": "d", "tags": ["x"]})
    assert created.status_code == 201, created.text
    assert created.headers["etag"] == '"1"'
    replaced = await http.put(f"{TASKS}/a", json={"title": "second"})
    assert replaced.status_code == 200, replaced.text
    assert replaced.headers["etag"] == '"2"'
    task = replaced.json()["task"]
    assert (task["title"], task["description"], task["tags"], task["version"]) == ("second", None, [], 2)
    assert task["createdAt"] == created.json()["task"]["createdAt"]
    assert task["updatedAt"] >= task["createdAt"]


async def test_the_store_owns_version_and_timestamps(http: httpx.AsyncClient) -> None:
    given = {"version": 7, "createdAt": "2020-01-01T00:00:00.000Z", "updatedAt": "2020-01-01T00:00:00.000Z"}
    task = (await http.post(TASKS, json={"id": "a", "title": "a", **given})).json()["task"]
    assert task["version"] == 1
    assert task["createdAt"] != given["createdAt"]
    assert task["updatedAt"] == task["createdAt"]


async def test_put_with_the_current_if_match_replaces(http: httpx.AsyncClient) -> None:
    await create(http, "a")
    for version, header in enumerate(['"1"', 'W/"2"', "3"], start=1):  # strong, weak, bare
        answer = await http.put(f"{TASKS}/a", json={"title": "b"}, headers={"If-Match": header})
        assert answer.status_code == 200, answer.text
        assert answer.headers["etag"] == f'"{version + 1}"'


async def test_a_stale_if_match_is_a_412_that_changes_nothing(
    http: httpx.AsyncClient, store: Storehouse, data_dir: Path
) -> None:
    await create(http, "a")
    await http.patch(f"{TASKS}/a", json={"tags": ["x"]})  # now at version 2
    before = state(store, data_dir)
    writes = [("PUT", "", {"title": "b"}), ("PATCH", "", {"title": "b"}), ("DELETE", "", None)]
    for method, tail, body in [*writes, ("POST", "/transitions", {"to": "running"})]:
        answer = await http.request(method, f"{TASKS}/a{tail}", json=body, headers={"If-Match": '"1"'})
        assert_error(answer, 412, "precondition_failed")
    assert state(store, data_dir) == before


async def test_put_with_if_match_on_a_missing_task_is_a_412_that_creates_nothing(
    http: httpx.AsyncClient, store: Storehouse, data_dir: Path
) -> None:
    await create(http, "other")
    before = state(store, data_dir)
    assert_error(await http.put(f"{TASKS}/a", json={"title": "a"}, headers={"If-Match": '"1"'}), 412)
    assert state(store, data_dir) == before


REFUSED_FIRST_WRITES = [
    ("PUT", f"{TASKS}/a", {"title": "a"}, {"If-Match": '"1"'}),
    ("POST", TASKS, {"title": ""}, {}),
    ("PUT", f"{TASKS}/a", {"title": "a", "dependencies": [{"taskId": "nobody"}]}, {}),
    ("PATCH", f"{TASKS}/a", {"title": "a"}, {}),
    ("POST", f"{TASKS}/a/transitions", {"to": "running"}, {}),
]


async def test_a_refused_write_to_a_project_without_tasks_leaves_no_directory(
    http: httpx.AsyncClient, data_dir: Path
) -> None:
    for method, path, body, headers in REFUSED_FIRST_WRITES:
        answer = await http.request(method, path, json=body, headers=headers)
        assert 400 <= answer.status_code < 500
        assert snapshot(data_dir) == {}, f"{method} {path}"


async def test_patch_is_a_json_merge_patch(http: httpx.AsyncClient) -> None:
    await create(http, "a", description="old", metadata={"keep": 1, "drop": 2}, tags=["x"])
    patch = {"description": None, "metadata": {"drop": None, "new": 3}, "assignedTo": "bot", "tags": ["y"]}
    answer = await http.patch(f"{TASKS}/a", json=patch)
    assert answer.status_code == 200, answer.text
    assert answer.headers["etag"] == '"2"'
    task = answer.json()["task"]
    assert task["description"] is None
    assert task["metadata"] == {"keep": 1, "new": 3}
    assert (task["assignedTo"], task["tags"], task["title"], task["version"]) == ("bot", ["y"], "a", 2)
    assert await get(http, "a") == task


async def test_patch_accepts_the_merge_patch_media_type(http: httpx.AsyncClient) -> None:
    await create(http, "a")
    answer = await http.patch(
        f"{TASKS}/a", content=b'{"priority": "critical"}', headers={"content-type": "application/merge-patch+json"}
    )
    assert answer.status_code == 200, answer.text
    assert answer.json()["task"]["priority"] == "critical"


async def test_patch_of_an_unknown_task_is_a_404_that_creates_nothing(
    http: httpx.AsyncClient, store: Storehouse, data_dir: Path
) -> None:
    await create(http, "other")
    before = state(store, data_dir)
    assert_error(await http.patch(f"{TASKS}/a", json={"title": "a"}), 404, "not_found")
    assert state(store, data_dir) == before


async def test_delete_answers_204_then_404(http: httpx.AsyncClient) -> None:
    await create(http, "a")
    answer = await http.delete(f"{TASKS}/a")
    assert answer.status_code == 204
    assert answer.content == b""
    assert_error(await http.get(f"{TASKS}/a"), 404, "not_found")
    assert_error(await http.delete(f"{TASKS}/a"), 404, "not_found")
    assert await listed(http) == ([], 0)


async def test_order_is_not_a_task_id(http: httpx.AsyncClient, store: Storehouse, data_dir: Path) -> None:
    await create(http, "a")
    before = state(store, data_dir)
    assert "order" in assert_error(await http.post(TASKS, json={"id": "order", "title": "x"}), 400)["message"]
    assert "order" in assert_error(await http.put(f"{TASKS}/order", json={"title": "x"}), 400)["message"]
    assert state(store, data_dir) == before
    answer = await http.get(f"{TASKS}/order")  # the order route, not a task
    assert answer.status_code == 200
    assert [summary["id"] for summary in answer.json()["tasks"]] == ["a"]


async def test_transitions_cannot_be_written_in_a_put(
    http: httpx.AsyncClient, store: Storehouse, data_dir: Path
) -> None:
    await create(http, "a")
    before = state(store, data_dir)
    trail = [{"from": None, "to": "pending", "at": "2026-01-01T00:00:00Z"}]
    for path in (f"{TASKS}/a", f"{TASKS}/new"):
        answer = await http.put(path, json={"title": "x", "transitions": trail})
        assert "transitions" in assert_error(answer, 400, "invalid_body")["message"]
    assert state(store, data_dir) == before


async def test_dependencies_change_only_through_their_own_route(
    http: httpx.AsyncClient, store: Storehouse, data_dir: Path
) -> None:
    await create(http, "a")
    await create(http, "b")
    await depend(http, "b", "a")
    before = state(store, data_dir)
    for method in ("PUT", "PATCH"):
        answer = await http.request(method, f"{TASKS}/b", json={"title": "b", "dependencies": []})
        assert "dependencies" in assert_error(answer, 400, "invalid_body")["message"]
    assert state(store, data_dir) == before
    kept = await http.put(f"{TASKS}/b", json={"title": "renamed"})  # left out: kept as they are
    assert kept.json()["task"]["dependencies"] == [{"taskId": "a", "type": "blocks"}]


async def test_a_put_that_creates_may_bring_its_dependencies(http: httpx.AsyncClient) -> None:
    await create(http, "a")
    answer = await http.put(f"{TASKS}/b", json={"title": "b", "dependencies": [{"taskId": "a", "type": "requires"}]})
    assert answer.status_code == 201, answer.text
    assert await neighbours(http, "a", "dependents") == [("b", "requires")]
    unknown = await http.put(f"{TASKS}/c", json={"title": "c", "dependencies": [{"taskId": "nobody"}]})
    assert_error(unknown, 404, "not_found")
    assert_error(await http.get(f"{TASKS}/c"), 404)


async def test_a_put_that_creates_a_task_depending_on_itself_is_a_409_naming_the_cycle(
    http: httpx.AsyncClient,
) -> None:
    answer = await http.put(f"{TASKS}/e", json={"title": "e", "dependencies": [{"taskId": "e"}]})
    assert assert_error(answer, 409, "conflict")["cycle"] == ["e", "e"]


# -- the listing -----------------------------------------------------------------------------------------
# Created in this order, with these priorities and statuses; names chosen so that id order is not creation order.
BOARD: dict[str, dict[str, Any]] = {
    "zeta": {"priority": "low", "tags": ["ui"], "assignedTo": "alice"},
    "eta": {"priority": "critical", "status": "running", "tags": ["api", "ui"], "assignedTo": "bob"},
    "theta": {"priority": "medium", "status": "succeeded", "tags": ["api"]},
    "alpha": {"priority": "critical", "assignedTo": "alice"},
    "beta": {"priority": "high", "status": "failed"},
    "gamma": {"priority": "medium", "status": "cancelled", "tags": ["ui"]},
}
BOARD_ORDER = ["eta", "alpha", "beta", "theta", "gamma", "zeta"]


@pytest.fixture
async def board(http: httpx.AsyncClient) -> dict[str, dict[str, Any]]:
    """The BOARD tasks in project demo, each with its own createdAt; returns them by id."""
    made: dict[str, dict[str, Any]] = {}
    for item, fields in BOARD.items():
        status = fields.get("status", "pending")
        await create(http, item, **{key: value for key, value in fields.items() if key != "status"})
        made[item] = await walk(http, item, status)
        await asyncio.sleep(0.002)  # createdAt has millisecond resolution
    created = [task["createdAt"] for task in made.values()]
    assert created == sorted(set(created))
    return made


async def test_list_answers_tasks_and_total(http: httpx.AsyncClient, board: object) -> None:
    body = (await http.get(TASKS)).json()
    assert set(body) == {"tasks", "total"}
    assert body["total"] == 6


async def test_list_is_critical_first_then_oldest_first(http: httpx.AsyncClient, board: object) -> None:
    assert await listed(http) == (BOARD_ORDER, 6)


async def test_list_items_are_exactly_the_summaries(http: httpx.AsyncClient, board: dict[str, Any]) -> None:
    for summary in (await http.get(TASKS)).json()["tasks"]:
        assert set(summary) == SUMMARY_FIELDS
        assert summary == summary_of(await get(http, summary["id"]))


LIST_FILTERS: dict[str, tuple[Any, list[str], int]] = {
    "status": ({"status": "pending"}, ["alpha", "zeta"], 2),
    "statuses comma-separated": ({"status": "pending,running"}, ["eta", "alpha", "zeta"], 3),
    "statuses repeated": ([("status", "pending"), ("status", "failed")], ["alpha", "beta", "zeta"], 3),
    "priority": ({"priority": "critical"}, ["eta", "alpha"], 2),
    "priorities comma-separated": ({"priority": "critical,low"}, ["eta", "alpha", "zeta"], 3),
    "priorities repeated": ([("priority", "medium"), ("priority", "high")], ["beta", "theta", "gamma"], 3),
    "tag": ({"tag": "ui"}, ["eta", "gamma", "zeta"], 3),
    "another tag": ({"tag": "api"}, ["eta", "theta"], 2),
    "a tag no task has": ({"tag": "nope"}, [], 0),
    "assignedTo": ({"assignedTo": "alice"}, ["alpha", "zeta"], 2),
    "every filter at once": ({"status": "pending", "tag": "ui", "assignedTo": "alice"}, ["zeta"], 1),
    "ready": ({"ready": "true"}, ["alpha", "zeta"], 2),
    "ready and a priority": ({"ready": "true", "priority": "critical"}, ["alpha"], 1),
    "ready=false: the tasks that are not ready": (
        {"ready": "false"},
        [task for task in BOARD_ORDER if task not in ("alpha", "zeta")],
        4,
    ),
    "limit": ({"limit": 2}, ["eta", "alpha"], 6),
    "limit and offset": ({"limit": 2, "offset": 2}, ["beta", "theta"], 6),
    "offset past the end": ({"offset": 6}, [], 6),
    "limit 1000": ({"limit": 1000}, BOARD_ORDER, 6),
    "a filter and a page": ({"status": "pending,running", "offset": 1, "limit": 1}, ["alpha"], 3),
}


async def test_list_filters_and_pages(http: httpx.AsyncClient, board: object) -> None:
    for label, (params, expected, total) in LIST_FILTERS.items():
        assert await listed(http, params) == (expected, total), label


async def test_the_default_page_is_50_tasks(http: httpx.AsyncClient, store: Storehouse) -> None:
    for n in range(51):
        store.create_task("demo", id=f"t{n:02d}", title="t")
    ids, total = await listed(http)
    assert (len(ids), total) == (50, 51)
    assert (await listed(http, {"offset": 50}))[0] == ["t50"]


async def test_the_list_follows_every_change(http: httpx.AsyncClient) -> None:
    await create(http, "a", tags=["x"])
    await http.patch(f"{TASKS}/a", json={"tags": ["y"], "priority": "critical", "assignedTo": "bob"})
    assert await listed(http, {"tag": "x"}) == ([], 0)
    assert await listed(http, {"tag": "y", "priority": "critical", "assignedTo": "bob"}) == (["a"], 1)
    await move(http, "a", "running")
    assert await listed(http, {"status": "pending"}) == ([], 0)
    assert (await http.get(TASKS)).json()["tasks"][0] == summary_of(await get(http, "a"))


async def test_an_unknown_project_lists_empty_and_creates_nothing(
    http: httpx.AsyncClient, store: Storehouse, data_dir: Path
) -> None:
    before = state(store, data_dir)
    assert (await http.get("/api/projects/nobody/tasks")).json() == {"tasks": [], "total": 0}
    assert (await http.get("/api/projects/nobody/tasks/order")).json() == {"tasks": []}
    assert state(store, data_dir) == before


# -- the order ---------------------------------------------------------------------------------------------
async def test_order_puts_each_task_after_what_it_depends_on(http: httpx.AsyncClient) -> None:
    priorities = {"a": "low", "b": "critical", "c": "medium", "d": "high", "e": "critical", "f": "medium"}
    for item, priority in priorities.items():
        await create(http, item, priority=priority)
        await asyncio.sleep(0.002)
    edges = [("b", "a", "blocks"), ("d", "c", "requires"), ("f", "e", "related")]
    for item, on, kind in edges:
        await depend(http, item, on, kind)
    answer = await http.get(f"{TASKS}/order")
    assert answer.status_code == 200
    assert list(answer.json()) == ["tasks"]
    tasks = answer.json()["tasks"]
    assert all(set(summary) == SUMMARY_FIELDS for summary in tasks)
    order = [summary["id"] for summary in tasks]
    # ready at each step, critical first, then oldest: e; c (medium, older than f); d (high, freed by c); f; a; b
    assert order == ["e", "c", "d", "f", "a", "b"]
    assert all(order.index(item) > order.index(on) for item, on, _ in edges)


# -- the state machine -----------------------------------------------------------------------------------
@pytest.mark.parametrize("current", STATUSES)
async def test_every_transition_follows_the_table(
    http: httpx.AsyncClient, store: Storehouse, data_dir: Path, current: str
) -> None:
    for target in STATUSES:  # one task per pair
        await create(http, target)
        before = await walk(http, target, current)
        files = state(store, data_dir)
        answer = await move(http, target, target, reason="because", actor="tester")
        if target in ALLOWED[current]:
            assert answer.status_code == 200, answer.text
            task = answer.json()["task"]
            assert (task["status"], task["version"]) == (target, before["version"] + 1)
            record = {"from": current, "to": target, "at": task["updatedAt"], "reason": "because", "actor": "tester"}
            assert task["transitions"] == [*before["transitions"], record]
            assert answer.headers["etag"] == f'"{task["version"]}"'
        else:
            error = assert_error(answer, 409, "conflict")
            assert isinstance(error["allowed"], list)
            assert set(error["allowed"]) == ALLOWED[current], target
            assert (error["from"], error["to"]) == (current, target)
            assert state(store, data_dir) == files, target


@pytest.mark.parametrize("current", STATUSES)
async def test_a_patch_of_status_follows_the_same_table(
    http: httpx.AsyncClient, store: Storehouse, data_dir: Path, current: str
) -> None:
    for target in set(STATUSES) - {current}:  # one task per pair
        await create(http, target)
        before = await walk(http, target, current)
        files = state(store, data_dir)
        answer = await http.patch(f"{TASKS}/{target}", json={"status": target, "assignedTo": "bot"})
        if target in ALLOWED[current]:
            assert answer.status_code == 200, answer.text
            task = answer.json()["task"]
            assert (task["status"], task["assignedTo"]) == (target, "bot")
            record = {"from": current, "to": target, "at": task["updatedAt"], "reason": None, "actor": None}
            assert task["transitions"] == [*before["transitions"], record]
        else:
            error = assert_error(answer, 409, "conflict")
            assert set(error["allowed"]) == ALLOWED[current], target
            assert (error["from"], error["to"]) == (current, target)
            assert state(store, data_dir) == files, target


async def test_a_patch_that_keeps_the_status_adds_no_transition(http: httpx.AsyncClient) -> None:
    await create(http, "a")
    task = (await http.patch(f"{TASKS}/a", json={"status": "pending", "title": "b"})).json()["task"]
    assert (task["title"], task["transitions"]) == ("b", [])
    assert (await history(http, "a"))["total"] == 0


async def test_a_put_of_status_follows_the_same_table(
    http: httpx.AsyncClient, store: Storehouse, data_dir: Path
) -> None:
    await create(http, "a")
    files = state(store, data_dir)
    error = assert_error(await http.put(f"{TASKS}/a", json={"title": "a", "status": "succeeded"}), 409, "conflict")
    assert set(error["allowed"]) == ALLOWED["pending"]
    assert state(store, data_dir) == files
    task = (await http.put(f"{TASKS}/a", json={"title": "a", "status": "running"})).json()["task"]
    assert [(t["from"], t["to"]) for t in task["transitions"]] == [("pending", "running")]
    assert (await history(http, "a", {"type": "status_change"}))["total"] == 1


async def test_a_succeeded_task_is_final(http: httpx.AsyncClient) -> None:
    await create(http, "a")
    await walk(http, "a", "succeeded")
    for to in STATUSES:
        error = assert_error(await move(http, "a", to), 409, "conflict")
        assert error["allowed"] == []


LIFE = ["running", "failed", "pending", "cancelled", "pending", "running", "succeeded"]


async def test_transitions_are_listed_oldest_first(http: httpx.AsyncClient) -> None:
    await create(http, "a")
    for n, to in enumerate(LIFE):
        answer = await move(http, "a", to, reason=f"step {n}", actor="planner" if n % 2 else None)
        assert answer.status_code == 200, answer.text
    answer = await http.get(f"{TASKS}/a/transitions")
    assert answer.status_code == 200
    assert list(answer.json()) == ["transitions"]
    trail = answer.json()["transitions"]
    assert all(set(record) == TRANSITION_FIELDS for record in trail)
    assert [(record["from"], record["to"]) for record in trail] == list(zip(["pending", *LIFE[:-1]], LIFE, strict=True))
    assert [record["reason"] for record in trail] == [f"step {n}" for n in range(len(LIFE))]
    assert [record["actor"] for record in trail] == [("planner" if n % 2 else None) for n in range(len(LIFE))]
    assert [record["at"] for record in trail] == sorted(record["at"] for record in trail)
    assert trail == (await get(http, "a"))["transitions"]


async def test_each_transition_is_a_status_change_history_entry(http: httpx.AsyncClient) -> None:
    await create(http, "a")
    await http.post(f"{TASKS}/a/history", json={"type": "log", "content": "unrelated"})
    for to in LIFE[:3]:
        await move(http, "a", to, reason=f"to {to}", actor="planner")
    await http.patch(f"{TASKS}/a", json={"status": "running"})
    trail = (await http.get(f"{TASKS}/a/transitions")).json()["transitions"]
    entries = (await history(http, "a", {"type": "status_change"}))["entries"]
    assert len(entries) == len(trail) == 4
    assert [entry["metadata"] for entry in entries] == trail
    assert all(entry["type"] == "status_change" for entry in entries)
    assert (await history(http, "a"))["total"] == 5


async def test_a_forbidden_move_changes_nothing_anywhere(
    http: httpx.AsyncClient, store: Storehouse, data_dir: Path
) -> None:
    await create(http, "a")
    await move(http, "a", "running")
    before = state(store, data_dir)
    assert_error(await move(http, "a", "pending"), 409)
    assert_error(await http.patch(f"{TASKS}/a", json={"status": "pending", "title": "renamed"}), 409)
    assert_error(await http.put(f"{TASKS}/a", json={"title": "renamed", "status": "pending"}), 409)
    assert state(store, data_dir) == before
    assert (await history(http, "a"))["total"] == 1
    assert (await get(http, "a"))["title"] == "a"


async def test_transitions_of_an_unknown_task_are_a_404(
    http: httpx.AsyncClient, store: Storehouse, data_dir: Path
) -> None:
    await create(http, "other")
    before = state(store, data_dir)
    assert_error(await http.get(f"{TASKS}/nobody/transitions"), 404, "not_found")
    assert_error(await move(http, "nobody", "running"), 404, "not_found")
    assert state(store, data_dir) == before


async def test_two_moves_from_the_same_version_cannot_both_succeed(http: httpx.AsyncClient) -> None:
    await create(http, "a")
    guarded = {"If-Match": '"1"'}
    answers = await asyncio.gather(
        http.post(f"{TASKS}/a/transitions", json={"to": "running"}, headers=guarded),
        http.post(f"{TASKS}/a/transitions", json={"to": "cancelled"}, headers=guarded),
    )
    assert sorted(answer.status_code for answer in answers) == [200, 412]
    assert len((await get(http, "a"))["transitions"]) == 1
    same = await asyncio.gather(move(http, "a", "succeeded"), move(http, "a", "succeeded"))
    assert sorted(answer.status_code for answer in same) == [200, 409]
    assert (await history(http, "a", {"type": "status_change"}))["total"] == 2


# -- the dependency graph --------------------------------------------------------------------------------
async def test_a_new_dependency_is_201_and_an_existing_one_200(http: httpx.AsyncClient) -> None:
    await create(http, "a")
    await create(http, "b")
    first = await http.put(f"{TASKS}/b/dependencies/a", json={"type": "requires"})
    assert first.status_code == 201, first.text
    assert first.json() == {"dependency": {"taskId": "a", "type": "requires"}}
    again = await http.put(f"{TASKS}/b/dependencies/a", json={"type": "requires"})
    assert again.status_code == 200
    assert again.json() == first.json()
    assert (await get(http, "b"))["dependencies"] == [{"taskId": "a", "type": "requires"}]


async def test_a_dependency_without_a_body_blocks(http: httpx.AsyncClient) -> None:
    await create(http, "a")
    await create(http, "b")
    answer = await http.put(f"{TASKS}/b/dependencies/a")
    assert answer.status_code == 201, answer.text
    assert answer.json() == {"dependency": {"taskId": "a", "type": "blocks"}}
    assert await neighbours(http, "b", "dependencies") == [("a", "blocks")]


async def test_a_dependency_of_another_type_replaces_the_type(http: httpx.AsyncClient) -> None:
    await create(http, "a")
    await create(http, "b")
    await depend(http, "b", "a", "blocks")
    answer = await http.put(f"{TASKS}/b/dependencies/a", json={"type": "related"})
    assert answer.status_code == 200
    assert await neighbours(http, "b", "dependencies") == [("a", "related")]


async def test_a_dependency_on_or_of_an_unknown_task_is_a_404_that_changes_nothing(
    http: httpx.AsyncClient, store: Storehouse, data_dir: Path
) -> None:
    await create(http, "a")
    before = state(store, data_dir)
    assert_error(await http.put(f"{TASKS}/a/dependencies/nobody"), 404, "not_found")
    assert_error(await http.put(f"{TASKS}/nobody/dependencies/a"), 404, "not_found")
    assert_error(await http.put("/api/projects/elsewhere/tasks/a/dependencies/a"), 404, "not_found")
    assert state(store, data_dir) == before


async def test_a_self_dependency_is_a_409_naming_the_cycle(
    http: httpx.AsyncClient, store: Storehouse, data_dir: Path
) -> None:
    await create(http, "a")
    before = state(store, data_dir)
    error = assert_error(await http.put(f"{TASKS}/a/dependencies/a"), 409, "conflict")
    assert error["cycle"] == ["a", "a"]
    assert state(store, data_dir) == before


@pytest.mark.parametrize("kind", ["blocks", "requires", "related"])
async def test_an_edge_that_closes_a_cycle_is_a_409_naming_it(
    http: httpx.AsyncClient, store: Storehouse, data_dir: Path, kind: str
) -> None:
    for item in "abcd":
        await create(http, item)
    edges = {("b", "a"), ("c", "b"), ("d", "a")}  # c -> b -> a, and d -> a off the cycle
    for item, on in sorted(edges):
        await depend(http, item, on, kind)
    before = state(store, data_dir)
    error = assert_error(await http.put(f"{TASKS}/a/dependencies/c", json={"type": kind}), 409, "conflict")
    cycle = error["cycle"]
    assert cycle == ["a", "c", "b", "a"]
    assert cycle[0] == cycle[-1] == "a"
    assert (cycle[0], cycle[1]) == ("a", "c")  # the refused edge, then edges that exist
    assert all(pair in edges for pair in itertools.pairwise(cycle[1:]))
    assert "a" in error["message"]
    assert state(store, data_dir) == before


async def test_delete_dependency_answers_204_then_404(http: httpx.AsyncClient) -> None:
    await create(http, "a")
    await create(http, "b")
    await depend(http, "b", "a")
    answer = await http.delete(f"{TASKS}/b/dependencies/a")
    assert answer.status_code == 204
    assert answer.content == b""
    assert await neighbours(http, "b", "dependencies") == []
    assert await neighbours(http, "a", "dependents") == []
    assert_error(await http.delete(f"{TASKS}/b/dependencies/a"), 404, "not_found")
    assert_error(await http.delete(f"{TASKS}/nobody/dependencies/a"), 404, "not_found")
    await depend(http, "a", "b")  # the way back is open again


async def test_dependencies_and_dependents_list_each_neighbour_with_its_summary(http: httpx.AsyncClient) -> None:
    for item in "abc":
        await create(http, item)
    await depend(http, "b", "a", "blocks")
    await depend(http, "c", "a", "related")
    await depend(http, "b", "c", "requires")
    assert await neighbours(http, "a", "dependents") == [("b", "blocks"), ("c", "related")]
    assert await neighbours(http, "b", "dependencies") == [("a", "blocks"), ("c", "requires")]
    assert await neighbours(http, "a", "dependencies") == []
    assert await neighbours(http, "b", "dependents") == []
    for item, which in (("a", "dependents"), ("b", "dependencies")):
        body = (await http.get(f"{TASKS}/{item}/{which}")).json()
        assert list(body) == [which]
        for edge in body[which]:
            assert set(edge) == {"taskId", "type", "task"}
            assert set(edge["task"]) == SUMMARY_FIELDS
            assert edge["task"] == summary_of(await get(http, edge["taskId"]))


async def test_neighbours_of_an_unknown_task_are_a_404(http: httpx.AsyncClient) -> None:
    for which in ("dependencies", "dependents"):
        assert_error(await http.get(f"{TASKS}/nobody/{which}"), 404, "not_found")


async def test_two_opposite_edges_at_once_cannot_both_be_added(http: httpx.AsyncClient) -> None:
    await create(http, "a")
    await create(http, "b")
    answers = await asyncio.gather(http.put(f"{TASKS}/a/dependencies/b"), http.put(f"{TASKS}/b/dependencies/a"))
    assert sorted(answer.status_code for answer in answers) == [201, 409]
    edges = await neighbours(http, "a", "dependencies") + await neighbours(http, "b", "dependencies")
    assert len(edges) == 1


# -- readiness -------------------------------------------------------------------------------------------
async def test_ready_follows_the_status_of_holding_dependencies(http: httpx.AsyncClient) -> None:
    for item in "abcd":
        await create(http, item)
    await depend(http, "b", "a", "requires")
    await depend(http, "c", "b", "blocks")
    await depend(http, "d", "a", "related")  # never holds back
    assert await ready(http) == ["a", "d"]
    await move(http, "a", "running")
    assert await ready(http) == ["d"]  # a is no longer pending, b still waits for it
    await move(http, "a", "succeeded")
    assert await ready(http) == ["b", "d"]
    await walk(http, "b", "succeeded")
    assert await ready(http) == ["c", "d"]


@pytest.mark.parametrize("status", ["pending", "running", "failed", "cancelled"])
@pytest.mark.parametrize("kind", ["blocks", "requires"])
async def test_a_dependency_that_has_not_succeeded_holds_back(http: httpx.AsyncClient, status: str, kind: str) -> None:
    await create(http, "a")
    await create(http, "b")
    await depend(http, "b", "a", kind)
    await walk(http, "a", status)
    assert "b" not in await ready(http)


async def test_a_task_with_one_unfinished_dependency_of_many_is_not_ready(http: httpx.AsyncClient) -> None:
    for item in "abc":
        await create(http, item)
    await depend(http, "c", "a")
    await depend(http, "c", "b", "requires")
    await walk(http, "a", "succeeded")
    assert await ready(http) == ["b"]
    await walk(http, "b", "succeeded")
    assert await ready(http) == ["c"]


# -- deleting a task ---------------------------------------------------------------------------------------
async def test_deleting_a_task_removes_every_edge_to_it(http: httpx.AsyncClient) -> None:
    for item in "abcd":
        await create(http, item)
    await depend(http, "b", "a")
    await depend(http, "c", "a", "related")
    await depend(http, "c", "d")
    await depend(http, "a", "d")
    assert await ready(http) == ["d"]
    assert (await http.delete(f"{TASKS}/a")).status_code == 204
    assert (await get(http, "b"))["dependencies"] == []
    assert (await get(http, "c"))["dependencies"] == [{"taskId": "d", "type": "blocks"}]
    assert await neighbours(http, "d", "dependents") == [("c", "blocks")]
    assert await ready(http) == ["b", "d"]
    assert [summary["id"] for summary in (await http.get(f"{TASKS}/order")).json()["tasks"]] == ["b", "d", "c"]
    await create(http, "a")  # a new task of the same id has no dependents
    assert await neighbours(http, "a", "dependents") == []


async def test_deleting_a_task_deletes_its_history(http: httpx.AsyncClient) -> None:
    await create(http, "a")
    await move(http, "a", "running")
    await http.post(f"{TASKS}/a/history", json={"type": "log", "content": "working"})
    assert (await history(http, "a"))["total"] == 2
    await http.delete(f"{TASKS}/a")
    assert await history(http, "a") == {"entries": [], "total": 0}
    assert (await http.get(f"{TASKS}/a/history/count")).json() == {"count": 0}
    await create(http, "a")
    await move(http, "a", "cancelled")
    assert [entry["metadata"]["to"] for entry in (await history(http, "a"))["entries"]] == ["cancelled"]


async def test_deleting_a_task_keeps_its_executions(http: httpx.AsyncClient, store: Storehouse) -> None:
    await create(http, "a")
    store.put_execution("demo", "run-1", {"taskId": "a", "status": "completed"})
    await http.delete(f"{TASKS}/a")
    answer = await http.get(f"{PROJECT}/executions/run-1")
    assert answer.status_code == 200
    assert answer.json()["execution"]["taskId"] == "a"


# -- the change feed ---------------------------------------------------------------------------------------
async def test_task_writes_are_on_the_change_feed(http: httpx.AsyncClient, store: Storehouse) -> None:
    await create(http, "base")
    head = store.change_head()
    created = await create(http, "a", priority="high")
    patched = (await http.patch(f"{TASKS}/a", json={"tags": ["x"]})).json()["task"]
    moved = (await move(http, "a", "running")).json()["task"]
    await depend(http, "a", "base")
    linked = await get(http, "a")
    await http.delete(f"{TASKS}/a")
    events = [event for event in store.changes("demo", head).events if event.type.startswith("task.")]
    assert [event.type for event in events] == ["task.created", *["task.updated"] * 3, "task.deleted"]
    for event, document in zip(events[:4], [created, patched, moved, linked], strict=True):
        assert event.data == {
            "projectId": "demo",
            "taskId": "a",
            "version": document["version"],
            "task": summary_of(document),
        }
    assert events[-1].data == {"projectId": "demo", "taskId": "a"}


async def test_a_transition_appends_its_history_entry_to_the_feed(http: httpx.AsyncClient, store: Storehouse) -> None:
    await create(http, "a")
    head = store.change_head()
    await move(http, "a", "running", actor="bot")
    events = store.changes("demo", head).events
    assert [event.type for event in events] == ["task.updated", "history.appended"]
    assert events[1].data["entries"][0]["type"] == "status_change"


async def test_deleting_a_task_announces_its_dependents_changes(http: httpx.AsyncClient, store: Storehouse) -> None:
    await create(http, "a")
    await create(http, "b")
    await depend(http, "b", "a")
    head = store.change_head()
    await http.delete(f"{TASKS}/a")
    events = store.changes("demo", head).events
    assert [(event.type, event.data["taskId"]) for event in events] == [("task.deleted", "a"), ("task.updated", "b")]
    assert events[1].data["task"]["dependencies"] == []


# -- bad input changes nothing -----------------------------------------------------------------------------
@pytest.fixture
async def existing(http: httpx.AsyncClient, store: Storehouse, data_dir: Path) -> State:
    """Tasks a (running, so one transition and one history entry) and b (depends on a) in project demo;
    returns the state a refused request must leave."""
    await create(http, "a")
    await create(http, "b")
    await move(http, "a", "running", reason="start")
    await depend(http, "b", "a")
    return state(store, data_dir)


BAD_QUERIES: dict[str, tuple[str, str]] = {
    "unknown parameter": ("colour=red", "colour"),
    "camel case typo": ("assignedto=alice", "assignedto"),
    "unknown status": ("status=done", "status"),
    "one unknown status of two": ("status=pending,done", "done"),
    "unknown status repeated": ("status=pending&status=done", "done"),
    "status in upper case": ("status=PENDING", "status"),
    "empty status": ("status=", "status"),
    "unknown priority": ("priority=urgent", "priority"),
    "one unknown priority of two": ("priority=low,urgent", "urgent"),
    "limit 0": ("limit=0", "limit"),
    "limit 1001": ("limit=1001", "limit"),
    "limit negative": ("limit=-1", "limit"),
    "limit not a number": ("limit=ten", "limit"),
    "limit a fraction": ("limit=2.5", "limit"),
    "limit twice": ("limit=1&limit=2", "limit"),
    "offset negative": ("offset=-1", "offset"),
    "offset not a number": ("offset=x", "offset"),
    "ready maybe": ("ready=maybe", "ready"),
    "ready in upper case": ("ready=TRUE", "ready"),
    "ready 1": ("ready=1", "ready"),
    "ready empty": ("ready=", "ready"),
    "ready twice": ("ready=true&ready=true", "ready"),
    "tag twice": ("tag=a&tag=b", "tag"),
    "assignedTo twice": ("assignedTo=a&assignedTo=b", "assignedTo"),
}


async def test_a_bad_list_query_is_a_400_naming_the_parameter(
    http: httpx.AsyncClient, store: Storehouse, data_dir: Path, existing: State
) -> None:
    for label, (query, named) in BAD_QUERIES.items():
        error = assert_error(await http.get(f"{TASKS}?{query}"), 400, "invalid_parameter")
        assert named in error["message"], label
    assert state(store, data_dir) == existing


QUERY_ON_OTHER_ROUTES = [
    ("GET", f"{TASKS}/order?limit=1", None),
    ("POST", f"{TASKS}?dryRun=1", {"id": "c", "title": "c"}),
    ("GET", f"{TASKS}/a?fields=id", None),
    ("PUT", f"{TASKS}/a?force=1", {"title": "x"}),
    ("PATCH", f"{TASKS}/a?force=1", {"title": "x"}),
    ("DELETE", f"{TASKS}/a?force=1", None),
    ("GET", f"{TASKS}/a/transitions?limit=1", None),
    ("POST", f"{TASKS}/a/transitions?force=1", {"to": "succeeded"}),
    ("GET", f"{TASKS}/a/dependencies?type=blocks", None),
    ("GET", f"{TASKS}/a/dependents?type=blocks", None),
    ("PUT", f"{TASKS}/a/dependencies/b?type=related", None),
    ("DELETE", f"{TASKS}/b/dependencies/a?force=1", None),
]


async def test_a_query_parameter_where_none_is_accepted_is_a_400_that_changes_nothing(
    http: httpx.AsyncClient, store: Storehouse, data_dir: Path, existing: State
) -> None:
    for method, path, body in QUERY_ON_OTHER_ROUTES:
        answer = await http.request(method, path, json=body)
        assert_error(answer, 400, "invalid_parameter")
    assert state(store, data_dir) == existing


BAD_TASKS: dict[str, tuple[Any, str]] = {
    "title missing": ({"description": "x"}, "title"),
    "title empty": ({"title": ""}, "title"),
    "title a number": ({"title": 5}, "title"),
    "title null": ({"title": None}, "title"),
    "unknown status": ({"title": "x", "status": "done"}, "status"),
    "unknown priority": ({"title": "x", "priority": "urgent"}, "priority"),
    "complexity 0": ({"title": "x", "complexityScore": 0}, "complexityScore"),
    "complexity 11": ({"title": "x", "complexityScore": 11}, "complexityScore"),
    "complexity a string": ({"title": "x", "complexityScore": "5"}, "complexityScore"),
    "complexity a fraction": ({"title": "x", "complexityScore": 2.5}, "complexityScore"),
    "complexity a bool": ({"title": "x", "complexityScore": True}, "complexityScore"),
    "tags a string": ({"title": "x", "tags": "ui"}, "tags"),
    "tags of numbers": ({"title": "x", "tags": [1]}, "tags"),
    "affectedFiles an object": ({"title": "x", "affectedFiles": {"a": 1}}, "affectedFiles"),
    "metadata a list": ({"title": "x", "metadata": [1]}, "metadata"),
    "assignedTo a list": ({"title": "x", "assignedTo": ["bob"]}, "assignedTo"),
    "projectId differs": ({"title": "x", "projectId": "other"}, "projectId"),
    "a dependency of an unknown type": ({"title": "x", "dependencies": [{"taskId": "a", "type": "x"}]}, "type"),
    "integer beyond 64 bits": ({"title": "x", "metadata": {"n": 2**64}}, "64 bits"),
    "a list": ([{"title": "x"}], "object"),
    "a string": ("x", "object"),
    "a number": (5, "object"),
    "null": (None, "object"),
}


async def test_a_bad_task_is_a_400_that_changes_nothing(
    http: httpx.AsyncClient, store: Storehouse, data_dir: Path, existing: State
) -> None:
    for label, (body, named) in BAD_TASKS.items():
        writes = [("POST", TASKS), ("PUT", f"{TASKS}/c"), ("PUT", f"{TASKS}/a")]
        if not isinstance(body, dict) or "title" in body:  # a merge patch may leave the title out
            writes.append(("PATCH", f"{TASKS}/a"))
        for method, path in writes:
            answer = await http.request(method, path, content=json.dumps(body), headers=JSON)
            assert named in assert_error(answer, 400, "invalid_body")["message"], (label, method, path)
    assert state(store, data_dir) == existing


async def test_a_malformed_id_in_a_post_is_a_400(
    http: httpx.AsyncClient, store: Storehouse, data_dir: Path, existing: State
) -> None:
    for item in ["a b", ".hidden", "a/b", "x" * 129]:
        error = assert_error(await http.post(TASKS, json={"id": item, "title": "x"}), 400, "invalid_id")
        assert "taskId" in error["message"], item
    assert state(store, data_dir) == existing


@pytest.mark.parametrize("item", ["", 0, 5])
async def test_an_id_that_is_not_a_nonempty_string_is_an_invalid_body_naming_id(
    http: httpx.AsyncClient, item: Any
) -> None:
    error = assert_error(await http.post(TASKS, json={"id": item, "title": "x"}), 400, "invalid_body")
    assert "id" in error["message"]
    assert "path" not in error["message"]


BAD_RAW_BODIES: dict[str, tuple[bytes, str | None, int, str]] = {
    "not JSON": (b"{title: x}", "application/json", 400, "invalid_body"),
    "truncated JSON": (b'{"title": "x"', "application/json", 400, "invalid_body"),
    "two documents": (b'{"title": "x"}{"title": "y"}', "application/json", 400, "invalid_body"),
    "empty": (b"", "application/json", 400, "invalid_body"),
    "text/plain": (b'{"title": "x", "to": "succeeded"}', "text/plain", 415, "unsupported_media_type"),
    "form": (b"title=x", "application/x-www-form-urlencoded", 415, "unsupported_media_type"),
    "no content type": (b'{"title": "x", "to": "succeeded"}', None, 415, "unsupported_media_type"),
}
BODY_ROUTES = [
    ("POST", TASKS),
    ("PUT", f"{TASKS}/a"),
    ("PUT", f"{TASKS}/c"),
    ("PATCH", f"{TASKS}/a"),
    ("POST", f"{TASKS}/a/transitions"),
    ("PUT", f"{TASKS}/a/dependencies/b"),
]


async def test_a_body_that_is_not_json_changes_nothing(
    http: httpx.AsyncClient, store: Storehouse, data_dir: Path, existing: State
) -> None:
    for label, (content, content_type, status, code) in BAD_RAW_BODIES.items():
        headers = {"content-type": content_type} if content_type else {}
        for method, path in BODY_ROUTES:
            if not content and "dependencies" in path:
                continue  # a dependency may be sent without a body
            answer = await http.request(method, path, content=content, headers=headers)
            assert answer.status_code == status, (label, method, path)
            assert_error(answer, status, code)
    assert state(store, data_dir) == existing


async def test_a_body_that_is_not_an_object_is_a_400_that_changes_nothing(
    http: httpx.AsyncClient, store: Storehouse, data_dir: Path, existing: State
) -> None:
    for body in [[], ["x"], "blocks", 5, None, True]:
        for method, path in BODY_ROUTES:
            answer = await http.request(method, path, content=json.dumps(body), headers=JSON)
            assert "object" in assert_error(answer, 400, "invalid_body")["message"], (body, method, path)
    assert state(store, data_dir) == existing


BAD_TRANSITIONS: dict[str, tuple[Any, str]] = {
    "to missing": ({"reason": "x"}, "to"),
    "to null": ({"to": None}, "to"),
    "to unknown": ({"to": "done"}, "to"),
    "to in upper case": ({"to": "SUCCEEDED"}, "to"),
    "to a number": ({"to": 3}, "to"),
    "to a list": ({"to": ["succeeded"]}, "to"),
    "unknown field": ({"to": "succeeded", "why": "x"}, "why"),
    "status instead of to": ({"status": "succeeded"}, "status"),
    "reason a number": ({"to": "succeeded", "reason": 5}, "reason"),
    "reason an object": ({"to": "succeeded", "reason": {"text": "x"}}, "reason"),
    "actor a list": ({"to": "succeeded", "actor": ["bot"]}, "actor"),
    "actor a bool": ({"to": "succeeded", "actor": False}, "actor"),
}


async def test_a_bad_transition_is_a_400_that_changes_nothing(
    http: httpx.AsyncClient, store: Storehouse, data_dir: Path, existing: State
) -> None:
    for label, (body, named) in BAD_TRANSITIONS.items():
        error = assert_error(await http.post(f"{TASKS}/a/transitions", json=body), 400, "invalid_body")
        assert named in error["message"], label
    assert state(store, data_dir) == existing


BAD_DEPENDENCIES: dict[str, tuple[Any, str]] = {
    "unknown type": ({"type": "needs"}, "type"),
    "type in another case": ({"type": "Blocks"}, "type"),
    "type null": ({"type": None}, "type"),
    "type a number": ({"type": 1}, "type"),
    "type a list": ({"type": ["blocks"]}, "type"),
    "unknown field": ({"type": "blocks", "weight": 2}, "weight"),
}


async def test_a_bad_dependency_is_a_400_that_changes_nothing(
    http: httpx.AsyncClient, store: Storehouse, data_dir: Path, existing: State
) -> None:
    for label, (body, named) in BAD_DEPENDENCIES.items():
        for path in (f"{TASKS}/a/dependencies/b", f"{TASKS}/b/dependencies/a"):  # a new edge, an existing one
            error = assert_error(await http.put(path, json=body), 400, "invalid_body")
            assert named in error["message"], label
    assert state(store, data_dir) == existing


BAD_IDS = {".hidden": ".hidden", "-dash": "-dash", "a*b": "a%2Ab", "a b": "a%20b", "é": "%C3%A9", "129": "a" * 129}
ID_ROUTES: list[tuple[str, str, str]] = [
    ("GET", "/api/projects/{}/tasks", "projectId"),
    ("POST", "/api/projects/{}/tasks", "projectId"),
    ("GET", "/api/projects/{}/tasks/order", "projectId"),
    ("GET", "/api/projects/{}/tasks/a", "projectId"),
    ("PUT", "/api/projects/{}/tasks/a", "projectId"),
    ("PATCH", "/api/projects/{}/tasks/a", "projectId"),
    ("DELETE", "/api/projects/{}/tasks/a", "projectId"),
    ("POST", "/api/projects/{}/tasks/a/transitions", "projectId"),
    ("GET", "/api/projects/{}/tasks/a/transitions", "projectId"),
    ("GET", "/api/projects/{}/tasks/a/dependencies", "projectId"),
    ("GET", "/api/projects/{}/tasks/a/dependents", "projectId"),
    ("PUT", "/api/projects/{}/tasks/b/dependencies/a", "projectId"),
    ("DELETE", "/api/projects/{}/tasks/b/dependencies/a", "projectId"),
    ("GET", f"{TASKS}/{{}}", "taskId"),
    ("PUT", f"{TASKS}/{{}}", "taskId"),
    ("PATCH", f"{TASKS}/{{}}", "taskId"),
    ("DELETE", f"{TASKS}/{{}}", "taskId"),
    ("POST", f"{TASKS}/{{}}/transitions", "taskId"),
    ("GET", f"{TASKS}/{{}}/transitions", "taskId"),
    ("GET", f"{TASKS}/{{}}/dependencies", "taskId"),
    ("GET", f"{TASKS}/{{}}/dependents", "taskId"),
    ("PUT", f"{TASKS}/{{}}/dependencies/a", "taskId"),
    ("DELETE", f"{TASKS}/{{}}/dependencies/a", "taskId"),
    ("PUT", f"{TASKS}/b/dependencies/{{}}", "dependsOnId"),
    ("DELETE", f"{TASKS}/b/dependencies/{{}}", "dependsOnId"),
]


@pytest.mark.parametrize("named", ["projectId", "taskId", "dependsOnId"])
async def test_a_bad_id_in_the_path_is_a_400_that_changes_nothing(
    http: httpx.AsyncClient, store: Storehouse, data_dir: Path, existing: State, named: str
) -> None:
    for method, template, _ in [route for route in ID_ROUTES if route[2] == named]:
        body: dict[str, Any] | None = None
        if method in ("POST", "PUT", "PATCH") and "dependencies" not in template:
            body = {"to": "cancelled"} if template.endswith("transitions") else {"title": "x"}
        for label, bad in BAD_IDS.items():
            answer = await http.request(method, template.format(bad), json=body)
            assert named in assert_error(answer, 400, "invalid_id")["message"], (method, template, label)
    assert state(store, data_dir) == existing


# -- methods ---------------------------------------------------------------------------------------------
METHOD_ROUTES = [
    (TASKS, {"GET", "POST"}),
    (f"{TASKS}/a", {"GET", "PUT", "PATCH", "DELETE"}),
    (f"{TASKS}/a/transitions", {"GET", "POST"}),
    (f"{TASKS}/a/dependencies", {"GET"}),
    (f"{TASKS}/a/dependents", {"GET"}),
    (f"{TASKS}/b/dependencies/a", {"PUT", "DELETE"}),
]


async def test_a_wrong_method_is_a_json_405_naming_the_allowed_ones(
    http: httpx.AsyncClient, store: Storehouse, data_dir: Path, existing: State
) -> None:
    for path, allowed in METHOD_ROUTES:
        for method in sorted({"GET", "POST", "PUT", "PATCH", "DELETE"} - allowed):
            answer = await http.request(method, path, json={"title": "x", "to": "succeeded"})
            assert_error(answer, 405, "method_not_allowed")
            assert {m.strip() for m in answer.headers["allow"].split(",")} - {"HEAD"} == allowed, (method, path)
    answer = await http.post(f"{TASKS}/order", json={"title": "x"})
    assert_error(answer, 405, "method_not_allowed")
    assert {m.strip() for m in answer.headers["allow"].split(",")} - {"HEAD"} == {"GET"}
    assert state(store, data_dir) == existing


# -- a real server ---------------------------------------------------------------------------------------
async def test_a_real_server_keeps_tasks_and_their_state_machine(server: Server, data_dir: Path) -> None:
    async with httpx.AsyncClient(base_url=server.url, timeout=10) as client:
        created = await client.post(TASKS, json={"title": "ship it", "priority": "critical"})
        assert created.status_code == 201, created.text
        assert created.headers["etag"] == '"1"'
        item = created.json()["task"]["id"]
        assert created.headers["location"] == f"{TASKS}/{item}"
        moved = await client.post(f"{TASKS}/{item}/transitions", json={"to": "running", "actor": "agent"})
        assert moved.status_code == 200, moved.text
        assert moved.headers["etag"] == '"2"'
        assert moved.json()["task"]["status"] == "running"
        refused = await client.post(f"{TASKS}/{item}/transitions", json={"to": "pending"})
        error = assert_error(refused, 409, "conflict")
        assert set(error["allowed"]) == ALLOWED["running"]
        assert (error["from"], error["to"]) == ("running", "pending")
        wrong = await client.post(f"{TASKS}/{item}", json={"title": "x"})
        assert_error(wrong, 405, "method_not_allowed")
        assert {m.strip() for m in wrong.headers["allow"].split(",")} - {"HEAD"} == {"GET", "PUT", "PATCH", "DELETE"}
        listing = (await client.get(TASKS, params={"status": "running"})).json()
        assert [summary["id"] for summary in listing["tasks"]] == [item]
        trail = (await client.get(f"{TASKS}/{item}/transitions")).json()["transitions"]
        assert [(record["from"], record["to"], record["actor"]) for record in trail] == [
            ("pending", "running", "agent")
        ]
    assert (data_dir / "projects" / "demo" / "tasks" / f"{item}.json").is_file()
