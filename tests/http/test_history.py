"""The task-history HTTP API (issue #5 items 2 and 3), over a real store on a temp directory: adding entries,
reading them with filters and paging, count, oldest and delete, the read across a project's tasks, the retention
settings, the clean-up, retention as seen through HTTP, bad input that changes nothing, and a real server."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from tests.conftest import Server

PROJECT = "/api/projects/demo"
TASK = f"{PROJECT}/tasks/T-1/history"
ENTRY_FIELDS = {
    "id",
    "taskId",
    "executionId",
    "workspaceId",
    "sessionId",
    "type",
    "role",
    "content",
    "metadata",
    "createdAt",
    "expiresAt",
}
RUNS_KEPT = {"runTtlDays": None, "maxRuns": None}  # no run retention: every run is kept
DEFAULTS = {"historyTtlDays": 20, "historyMaxEntriesPerTask": 100, **RUNS_KEPT}
LONG_AGO = "2020-01-01T00:00:00.000Z"  # expired under any ttl the settings allow that ends before today


# -- helpers ---------------------------------------------------------------------------------------------
def ago(**delta: float) -> str:
    """The canonical timestamp (UTC, milliseconds) this long before now."""
    moment = datetime.now(UTC) - timedelta(**delta)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def moment(stamp: str) -> datetime:
    return datetime.fromisoformat(stamp)


def history_file(data_dir: Path, task: str = "T-1", project: str = "demo") -> Path:
    return data_dir / "projects" / project / "history" / f"{task}.jsonl"


def file_entries(path: Path) -> list[dict[str, Any]]:
    """Every line of a history file, parsed (each must be a whole JSON object)."""
    return [orjson.loads(line) for line in path.read_bytes().splitlines()]


def snapshot(data_dir: Path) -> dict[str, bytes | None]:
    """Every file (its bytes) and directory (None) under data/projects: what a refused request must not change."""
    root = data_dir / "projects"
    if not root.exists():
        return {}
    return {
        str(path.relative_to(root)): path.read_bytes() if path.is_file() else None for path in sorted(root.rglob("*"))
    }


def ids(entries: list[dict[str, Any]]) -> list[int]:
    return [int(entry["id"]) for entry in entries]


def assert_error(answer: httpx.Response, status: int, code: str | None = None) -> dict[str, str]:
    """The answer is an error of this status in the JSON form; returns its error object."""
    assert answer.status_code == status, answer.text
    assert answer.headers["content-type"].startswith("application/json")
    error: dict[str, str] = answer.json()["error"]
    assert error["message"]
    if code is not None:
        assert error["code"] == code, error
    return error


async def add(http: httpx.AsyncClient, body: Any, task: str = "T-1", project: str = "demo") -> list[dict[str, Any]]:
    answer = await http.post(f"/api/projects/{project}/tasks/{task}/history", json=body)
    assert answer.status_code == 201, answer.text
    assert set(answer.json()) == {"entries", "expired"}
    entries: list[dict[str, Any]] = answer.json()["entries"]
    return entries


async def read(http: httpx.AsyncClient, path: str = TASK, params: Any = None) -> tuple[list[dict[str, Any]], int]:
    """The entries and total of a history read."""
    answer = await http.get(path, params=params)
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert set(body) == {"entries", "total"}
    return body["entries"], body["total"]


async def read_ids(http: httpx.AsyncClient, path: str = TASK, params: Any = None) -> list[int]:
    entries, _ = await read(http, path, {"limit": 1000, **(params or {})})
    return ids(entries)


async def send_json(http: httpx.AsyncClient, method: str, path: str, body: Any) -> httpx.Response:
    """Send body as JSON exactly as given (``null`` too, and integers past 64 bits, which orjson cannot write)."""
    return await http.request(method, path, content=json.dumps(body), headers={"content-type": "application/json"})


async def put_settings(http: httpx.AsyncClient, body: Any, project: str = "demo") -> dict[str, Any]:
    answer = await http.put(f"/api/projects/{project}/settings", json=body)
    assert answer.status_code == 200, answer.text
    settings: dict[str, Any] = answer.json()
    return settings


async def cleanup(http: httpx.AsyncClient, project: str = "demo") -> int:
    answer = await http.post(f"/api/projects/{project}/history/cleanup", json={})
    assert answer.status_code == 200, answer.text
    assert set(answer.json()) == {"deleted"}
    deleted: int = answer.json()["deleted"]
    return deleted


# -- adding entries --------------------------------------------------------------------------------------
async def test_post_of_one_entry_answers_201_with_it_in_a_list(http: httpx.AsyncClient) -> None:
    answer = await http.post(TASK, json={"type": "agent_start", "role": "planner"})
    assert answer.status_code == 201
    assert answer.headers["content-type"].startswith("application/json")
    [entry] = answer.json()["entries"]
    assert set(entry) == ENTRY_FIELDS
    assert (entry["id"], entry["taskId"], entry["type"], entry["role"]) == (1, "T-1", "agent_start", "planner")


async def test_post_of_a_list_gives_increasing_ids_that_go_on_across_posts(http: httpx.AsyncClient) -> None:
    first = await add(http, [{"type": "log", "content": str(n)} for n in range(3)])
    second = await add(http, {"type": "log", "content": "3"})
    third = await add(http, [{"type": "log", "content": "4"}, {"type": "result", "content": "5"}])
    assert ids(first + second + third) == [1, 2, 3, 4, 5, 6]
    assert [e["content"] for e in first + second + third] == ["0", "1", "2", "3", "4", "5"]
    assert await read_ids(http) == [1, 2, 3, 4, 5, 6]


async def test_ids_are_per_task(http: httpx.AsyncClient) -> None:
    await add(http, [{"type": "log"}, {"type": "log"}], task="T-1")
    assert ids(await add(http, {"type": "log"}, task="T-2")) == [1]
    assert ids(await add(http, {"type": "log"}, task="T-1", project="other")) == [1]


async def test_every_field_round_trips(http: httpx.AsyncClient, data_dir: Path) -> None:
    created = ago(days=1)
    sent = {
        "type": "chat_message",
        "taskId": "T-1",  # the same as the path: allowed
        "executionId": "run-7",
        "workspaceId": "ws_1",
        "sessionId": "sess.2",
        "role": "reviewer",
        "content": 'line one\nline two \u2713 \u2028 "quoted" \U0001f600',
        "metadata": {"model": "m-1", "tokens": [1, 2.5, None, True], "nested": {"deep": {"k": "v"}}},
        "createdAt": created,
    }
    [entry] = await add(http, sent)
    assert {name: entry[name] for name in sent} == sent
    assert entry["id"] == 1
    assert moment(entry["expiresAt"]) - moment(entry["createdAt"]) == timedelta(days=20)
    [listed], total = await read(http)
    assert (listed, total) == (entry, 1)
    assert file_entries(history_file(data_dir)) == [entry]


async def test_unset_fields_are_null(http: httpx.AsyncClient) -> None:
    [entry] = await add(http, {"type": "system"})
    assert set(entry) == ENTRY_FIELDS
    unset = ("executionId", "workspaceId", "sessionId", "role", "content", "metadata")
    assert {name: entry[name] for name in unset} == dict.fromkeys(unset)
    [explicit] = await add(http, {"type": "system", **dict.fromkeys(unset)})
    assert {name: explicit[name] for name in unset} == dict.fromkeys(unset)


async def test_created_at_is_filled_with_the_time_of_the_write(http: httpx.AsyncClient) -> None:
    before = datetime.now(UTC)
    [entry] = await add(http, {"type": "log"})
    after = datetime.now(UTC)
    created = moment(entry["createdAt"])
    assert before - timedelta(milliseconds=1) <= created <= after
    assert entry["createdAt"].endswith("Z")
    assert moment(entry["expiresAt"]) - created == timedelta(days=20)


async def test_a_back_filled_created_at_is_normalized_to_utc_milliseconds(http: httpx.AsyncClient) -> None:
    local = (datetime.now(UTC) - timedelta(days=2)).replace(microsecond=0).astimezone(timezone(timedelta(hours=2)))
    [entry] = await add(http, {"type": "log", "createdAt": local.isoformat()})
    assert entry["createdAt"] == local.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")
    assert moment(entry["expiresAt"]) - moment(entry["createdAt"]) == timedelta(days=20)


async def test_an_expires_at_in_the_body_is_replaced_by_created_at_plus_ttl(http: httpx.AsyncClient) -> None:
    created = ago(days=1)
    [entry] = await add(http, {"type": "log", "createdAt": created, "expiresAt": "2999-01-01T00:00:00.000Z"})
    assert moment(entry["expiresAt"]) == moment(created) + timedelta(days=20)


# -- reading a task's history ----------------------------------------------------------------------------
# Six entries, one minute apart, ending a day ago: ids 1..6 in time order.
SAMPLE: list[dict[str, Any]] = [
    {"type": "chat_message", "workspaceId": "w1", "sessionId": "s1", "executionId": "run-1", "content": "hi"},
    {"type": "agent_turn", "workspaceId": "w1", "sessionId": "s1", "executionId": "run-1"},
    {"type": "log", "workspaceId": "w2", "sessionId": "s2", "executionId": "run-2"},
    {"type": "error", "workspaceId": "w1", "sessionId": "s2", "executionId": "run-2"},
    {"type": "log", "workspaceId": "w2", "sessionId": "s1"},
    {"type": "result", "workspaceId": "w1", "sessionId": "s1", "executionId": "run-1"},
]


@pytest.fixture
async def sample(http: httpx.AsyncClient) -> list[dict[str, Any]]:
    """SAMPLE added to demo/T-1; returns the stored entries."""
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(days=1, minutes=10)
    bodies = [
        {**fields, "createdAt": (start + timedelta(minutes=n)).isoformat().replace("+00:00", "Z")}
        for n, fields in enumerate(SAMPLE)
    ]
    return await add(http, bodies)


@pytest.mark.parametrize(
    ("params", "expected", "total"),
    [
        ({}, [1, 2, 3, 4, 5, 6], 6),
        ({"type": "log"}, [3, 5], 2),
        ({"type": "log,error"}, [3, 4, 5], 3),
        ({"type": "log, error"}, [3, 4, 5], 3),
        ([("type", "log"), ("type", "result")], [3, 5, 6], 3),
        ([("type", "log,error"), ("type", "chat_message")], [1, 3, 4, 5], 4),
        ({"type": "validation_result"}, [], 0),
        ({"workspaceId": "w1"}, [1, 2, 4, 6], 4),
        ({"workspaceId": "nowhere"}, [], 0),
        ({"sessionId": "s2"}, [3, 4], 2),
        ({"executionId": "run-2"}, [3, 4], 2),
        ({"executionId": "run-1", "type": "chat_message,result"}, [1, 6], 2),
        ({"workspaceId": "w1", "sessionId": "s1", "type": "agent_turn"}, [2], 1),
        ({"order": "asc"}, [1, 2, 3, 4, 5, 6], 6),
        ({"order": "desc"}, [6, 5, 4, 3, 2, 1], 6),
        ({"limit": 2}, [1, 2], 6),
        ({"limit": 2, "offset": 2}, [3, 4], 6),
        ({"offset": 5}, [6], 6),
        ({"offset": 6}, [], 6),
        ({"offset": 1000}, [], 6),
        ({"limit": 1000}, [1, 2, 3, 4, 5, 6], 6),
        ({"order": "desc", "limit": 2, "offset": 1}, [5, 4], 6),
        ({"type": "log", "order": "desc", "limit": 1}, [5], 2),
        ({"workspaceId": "w1", "limit": 1, "offset": 3}, [6], 4),
    ],
)
async def test_filters_order_and_paging(
    http: httpx.AsyncClient, sample: object, params: Any, expected: list[int], total: int
) -> None:
    entries, matched = await read(http, TASK, params)
    assert (ids(entries), matched) == (expected, total)


async def test_since_is_inclusive_and_until_exclusive(http: httpx.AsyncClient, sample: list[dict[str, Any]]) -> None:
    stamps = [entry["createdAt"] for entry in sample]
    assert await read_ids(http, params={"since": stamps[2]}) == [3, 4, 5, 6]
    assert await read_ids(http, params={"until": stamps[2]}) == [1, 2]
    assert await read_ids(http, params={"since": stamps[1], "until": stamps[4]}) == [2, 3, 4]
    assert await read_ids(http, params={"since": stamps[4], "until": stamps[1]}) == []
    # the same instant written with another offset and without milliseconds means the same bound
    shifted = moment(stamps[3]).astimezone(timezone(timedelta(hours=-5))).isoformat()
    assert await read_ids(http, params={"since": shifted}) == [4, 5, 6]
    entries, total = await read(http, params={"since": stamps[2], "type": "log", "limit": 1})
    assert (ids(entries), total) == ([3], 2)


async def test_the_default_page_is_100_entries(http: httpx.AsyncClient) -> None:
    await add(http, [{"type": "log"} for _ in range(100)])
    await put_settings(http, {"historyMaxEntriesPerTask": 150})
    await add(http, [{"type": "log"} for _ in range(20)])
    entries, total = await read(http)
    assert (ids(entries), total) == (list(range(1, 101)), 120)


async def test_an_unknown_task_reads_empty_and_creates_nothing(http: httpx.AsyncClient, data_dir: Path) -> None:
    before = snapshot(data_dir)
    assert await read(http, f"{PROJECT}/tasks/nobody/history") == ([], 0)
    assert (await http.get(f"{PROJECT}/tasks/nobody/history/count")).json() == {"count": 0}
    assert (await http.get(f"{PROJECT}/tasks/nobody/history/oldest")).json() == {"createdAt": None}
    assert await read(http, "/api/projects/nobody/history") == ([], 0)
    assert snapshot(data_dir) == before


# -- count, oldest, delete -------------------------------------------------------------------------------
async def test_count_answers_the_number_of_visible_entries(http: httpx.AsyncClient) -> None:
    await add(http, [{"type": "log"}, {"type": "error"}, {"type": "log", "createdAt": LONG_AGO}])
    answer = await http.get(f"{TASK}/count")
    assert answer.status_code == 200
    assert answer.json() == {"count": 2}


async def test_oldest_answers_the_earliest_visible_created_at(http: httpx.AsyncClient) -> None:
    assert (await http.get(f"{TASK}/oldest")).json() == {"createdAt": None}
    await add(http, [{"type": "log", "createdAt": ago(days=2)}, {"type": "log", "createdAt": LONG_AGO}])
    [earliest] = await add(http, {"type": "log", "createdAt": ago(days=3)})
    await add(http, {"type": "log"})
    answer = await http.get(f"{TASK}/oldest")
    assert answer.status_code == 200
    assert answer.json() == {"createdAt": earliest["createdAt"]}  # not the expired one of 2020


async def test_oldest_is_null_when_every_entry_has_expired(http: httpx.AsyncClient) -> None:
    await add(http, [{"type": "log", "createdAt": LONG_AGO}, {"type": "log", "createdAt": ago(days=21)}])
    assert (await http.get(f"{TASK}/oldest")).json() == {"createdAt": None}


async def test_delete_answers_how_many_and_leaves_only_a_tombstone(http: httpx.AsyncClient, data_dir: Path) -> None:
    await add(http, [{"type": "log"} for _ in range(3)])
    await add(http, {"type": "log"}, task="T-2")
    assert history_file(data_dir).is_file()
    answer = await http.delete(TASK)
    assert answer.status_code == 200
    assert answer.json() == {"deleted": 3}
    assert history_file(data_dir).read_bytes() == b'{"id":3}\n'  # the newest id, nothing of the entries
    assert await read(http) == ([], 0)
    assert (await http.get(f"{TASK}/count")).json() == {"count": 0}
    assert (await http.get(f"{TASK}/oldest")).json() == {"createdAt": None}
    assert await read_ids(http, f"{PROJECT}/tasks/T-2/history") == [1]  # the other task is untouched
    assert (await http.delete(TASK)).json() == {"deleted": 0}


async def test_delete_counts_only_what_a_read_would_show(http: httpx.AsyncClient, data_dir: Path) -> None:
    await add(http, [{"type": "log", "createdAt": LONG_AGO}, {"type": "log"}, {"type": "log"}])
    assert (await http.delete(TASK)).json() == {"deleted": 2}
    assert history_file(data_dir).read_bytes() == b'{"id":3}\n'


async def test_ids_go_on_after_a_delete(http: httpx.AsyncClient) -> None:
    await add(http, [{"type": "log"}, {"type": "log"}])
    await http.delete(TASK)
    assert ids(await add(http, {"type": "log"})) == [3]


# -- across tasks ----------------------------------------------------------------------------------------
@pytest.fixture
async def spread(http: httpx.AsyncClient) -> list[tuple[str, int]]:
    """Entries of T-1, T-2 and T-3 of demo (and one of project other) interleaved in time; returns the demo
    entries as (taskId, id) in time order."""
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=5)

    def at(minutes: int) -> str:
        return (start + timedelta(minutes=minutes)).isoformat().replace("+00:00", "Z")

    await add(http, [{"type": "log", "workspaceId": "w1", "sessionId": "s1", "createdAt": at(1)}], task="T-1")
    await add(http, [{"type": "error", "workspaceId": "w2", "sessionId": "s1", "createdAt": at(2)}], task="T-2")
    await add(
        http,
        [
            {"type": "result", "workspaceId": "w1", "sessionId": "s2", "executionId": "run-1", "createdAt": at(3)},
            {"type": "log", "workspaceId": "w2", "sessionId": "s2", "createdAt": at(5)},
        ],
        task="T-1",
    )
    await add(http, [{"type": "log", "workspaceId": "w1", "sessionId": "s1", "createdAt": at(4)}], task="T-3")
    await add(http, [{"type": "log", "workspaceId": "w1", "createdAt": at(6)}], task="T-1", project="other")
    return [("T-1", 1), ("T-2", 1), ("T-1", 2), ("T-3", 1), ("T-1", 3)]


def pairs(entries: list[dict[str, Any]]) -> list[tuple[str, int]]:
    return [(entry["taskId"], entry["id"]) for entry in entries]


@pytest.mark.parametrize(
    ("params", "picked", "total"),
    [
        ({}, [0, 1, 2, 3, 4], 5),
        ({"order": "desc"}, [4, 3, 2, 1, 0], 5),
        ({"workspaceId": "w1"}, [0, 2, 3], 3),
        ({"sessionId": "s2"}, [2, 4], 2),
        ({"type": "log"}, [0, 3, 4], 3),
        ({"type": "error,result"}, [1, 2], 2),
        ([("type", "error"), ("type", "result")], [1, 2], 2),
        ({"executionId": "run-1"}, [2], 1),
        ({"workspaceId": "w1", "sessionId": "s1", "type": "log"}, [0, 3], 2),
        ({"limit": 2}, [0, 1], 5),
        ({"limit": 2, "offset": 2}, [2, 3], 5),
        ({"offset": 4}, [4], 5),
        ({"offset": 5}, [], 5),
        ({"order": "desc", "limit": 2, "offset": 1}, [3, 2], 5),
        ({"workspaceId": "w2", "order": "desc", "limit": 1}, [4], 2),
    ],
)
async def test_the_project_history_spans_its_tasks_in_time_order(
    http: httpx.AsyncClient, spread: list[tuple[str, int]], params: Any, picked: list[int], total: int
) -> None:
    entries, matched = await read(http, f"{PROJECT}/history", params)
    assert (pairs(entries), matched) == ([spread[n] for n in picked], total)


async def test_the_project_history_uses_time_filters(http: httpx.AsyncClient, spread: list[tuple[str, int]]) -> None:
    entries, _ = await read(http, f"{PROJECT}/history")
    stamps = [entry["createdAt"] for entry in entries]
    since, _ = await read(http, f"{PROJECT}/history", {"since": stamps[1], "until": stamps[4]})
    assert pairs(since) == spread[1:4]


async def test_the_project_history_applies_each_tasks_retention(http: httpx.AsyncClient) -> None:
    await put_settings(http, {"historyMaxEntriesPerTask": 2})
    await add(http, [{"type": "log", "content": f"a{n}"} for n in range(4)], task="T-1")
    await add(http, [{"type": "log", "content": "b0", "createdAt": LONG_AGO}, {"type": "log", "content": "b1"}], "T-2")
    entries, total = await read(http, f"{PROJECT}/history")
    assert sorted(entry["content"] for entry in entries) == ["a2", "a3", "b1"]
    assert total == 3


# -- settings --------------------------------------------------------------------------------------------
async def test_settings_default_to_20_days_and_100_entries(http: httpx.AsyncClient, data_dir: Path) -> None:
    answer = await http.get(f"{PROJECT}/settings")
    assert answer.status_code == 200
    assert answer.json() == DEFAULTS
    assert not (data_dir / "projects" / "demo" / "settings.json").exists()  # reading creates nothing


async def test_put_settings_changes_them_and_keeps_a_key_left_out(http: httpx.AsyncClient, data_dir: Path) -> None:
    path = data_dir / "projects" / "demo" / "settings.json"
    three = {"historyTtlDays": 20, "historyMaxEntriesPerTask": 3, **RUNS_KEPT}
    assert await put_settings(http, {"historyMaxEntriesPerTask": 3}) == three
    assert orjson.loads(path.read_bytes()) == three
    seven = {"historyTtlDays": 7, "historyMaxEntriesPerTask": 3, **RUNS_KEPT}
    assert await put_settings(http, {"historyTtlDays": 7}) == seven
    assert await put_settings(http, {}) == seven
    assert (await http.get(f"{PROJECT}/settings")).json() == seven
    assert orjson.loads(path.read_bytes()) == seven
    assert (await http.get("/api/projects/other/settings")).json() == DEFAULTS  # per project


async def test_settings_accept_their_bounds(http: httpx.AsyncClient) -> None:
    low = {"historyTtlDays": 1, "historyMaxEntriesPerTask": 1, "runTtlDays": 1, "maxRuns": 1}
    high = {"historyTtlDays": 36_500, "historyMaxEntriesPerTask": 100_000, "runTtlDays": 36_500, "maxRuns": 10**9}
    assert await put_settings(http, low) == low
    assert await put_settings(http, high) == high


async def test_a_lower_cap_applies_to_reads_at_once(http: httpx.AsyncClient) -> None:
    await add(http, [{"type": "log", "content": str(n)} for n in range(5)])
    await put_settings(http, {"historyMaxEntriesPerTask": 3})
    entries, total = await read(http)
    assert ([e["content"] for e in entries], total) == (["2", "3", "4"], 3)
    assert (await http.get(f"{TASK}/count")).json() == {"count": 3}
    assert (await http.get(f"{TASK}/oldest")).json() == {"createdAt": entries[0]["createdAt"]}
    await add(http, {"type": "log", "content": "5"})
    assert [e["content"] for e in (await read(http))[0]] == ["3", "4", "5"]


async def test_a_new_ttl_sets_the_expiry_of_new_entries(http: httpx.AsyncClient) -> None:
    await put_settings(http, {"historyTtlDays": 2})
    [fresh] = await add(http, {"type": "log"})
    assert moment(fresh["expiresAt"]) - moment(fresh["createdAt"]) == timedelta(days=2)
    [stale] = await add(http, {"type": "log", "createdAt": ago(days=3)})  # live under 20 days, expired under 2
    assert moment(stale["expiresAt"]) - moment(stale["createdAt"]) == timedelta(days=2)
    assert await read_ids(http) == [1]
    await put_settings(http, {"historyTtlDays": 5})  # a ttl change does not revive what expired under the old one
    assert await read_ids(http) == [1]


async def test_a_lower_ttl_applies_to_reads_at_once(http: httpx.AsyncClient) -> None:
    await add(http, [{"type": "log", "createdAt": ago(days=5)}, {"type": "log"}])
    await put_settings(http, {"historyTtlDays": 1})
    assert await read_ids(http) == [2]
    assert (await http.get(f"{TASK}/count")).json() == {"count": 1}


# -- clean-up --------------------------------------------------------------------------------------------
async def test_cleanup_removes_expired_back_filled_entries_from_the_files(
    http: httpx.AsyncClient, data_dir: Path
) -> None:
    await add(http, [{"type": "log", "createdAt": LONG_AGO}, {"type": "log", "createdAt": ago(days=20, minutes=1)}])
    await add(http, [{"type": "log", "content": "kept"}, {"type": "log", "content": "kept too"}])
    await add(http, [{"type": "log", "createdAt": LONG_AGO}, {"type": "log", "content": "other"}], task="T-2")
    assert len(file_entries(history_file(data_dir))) == 4
    assert await cleanup(http) == 3
    now = datetime.now(UTC)
    for task, contents in (("T-1", ["kept", "kept too"]), ("T-2", ["other"])):
        lines = file_entries(history_file(data_dir, task))
        assert [line["content"] for line in lines] == contents
        assert all(moment(line["expiresAt"]) > now for line in lines)
    assert await read_ids(http) == [3, 4]
    assert ids(await add(http, {"type": "log"})) == [5]  # ids go on after a clean-up
    assert await cleanup(http) == 0


async def test_cleanup_removes_entries_beyond_the_cap_from_the_files(http: httpx.AsyncClient, data_dir: Path) -> None:
    await add(http, [{"type": "log", "content": str(n)} for n in range(150)])
    assert len(file_entries(history_file(data_dir))) == 150  # below twice the cap: no compaction yet
    before = await read(http)
    assert await cleanup(http) == 50
    assert ids(file_entries(history_file(data_dir))) == list(range(51, 151))
    assert await read(http) == before  # a clean-up never changes what a read shows
    assert await cleanup(http) == 0


async def test_cleanup_after_lowering_the_cap(http: httpx.AsyncClient, data_dir: Path) -> None:
    await add(http, [{"type": "log"} for _ in range(10)])
    await put_settings(http, {"historyMaxEntriesPerTask": 4})
    assert await cleanup(http) == 6
    assert ids(file_entries(history_file(data_dir))) == [7, 8, 9, 10]


async def test_cleanup_of_a_project_without_history_deletes_nothing(http: httpx.AsyncClient, data_dir: Path) -> None:
    await add(http, {"type": "log", "createdAt": LONG_AGO}, project="other")
    assert await cleanup(http, "demo") == 0
    assert not (data_dir / "projects" / "demo").exists()


async def test_cleanup_leaves_no_expired_entry_even_when_the_newest_has_expired(
    http: httpx.AsyncClient, data_dir: Path
) -> None:
    await add(http, [{"type": "log", "content": "live"}, {"type": "log", "createdAt": LONG_AGO}])
    assert await cleanup(http) == 1
    now = datetime.now(UTC)
    lines = file_entries(history_file(data_dir))
    assert lines[-1] == {"id": 2}  # a tombstone of the newest id: ids go on from it
    assert all(moment(line["expiresAt"]) > now for line in lines[:-1])
    assert ids(await add(http, {"type": "log"})) == [3]


# -- retention through HTTP ------------------------------------------------------------------------------
@pytest.mark.parametrize("count", [99, 100, 101])
async def test_the_cap_shows_exactly_the_newest_100(http: httpx.AsyncClient, count: int) -> None:
    await add(http, [{"type": "log", "content": str(n)} for n in range(1, count)])
    [last] = await add(http, {"type": "log", "content": str(count)})
    assert last["id"] == count
    entries, total = await read(http, params={"limit": 1000})
    newest = list(range(max(1, count - 99), count + 1))
    assert (ids(entries), total) == (newest, len(newest))
    assert [e["content"] for e in entries] == [str(n) for n in newest]
    assert (await http.get(f"{TASK}/count")).json() == {"count": len(newest)}
    assert (await http.get(f"{TASK}/oldest")).json() == {"createdAt": entries[0]["createdAt"]}
    entries, total = await read(http, f"{PROJECT}/history", {"limit": 1000})
    assert (ids(entries), total) == (newest, len(newest))


async def test_a_list_of_101_in_one_post_keeps_the_newest_100(http: httpx.AsyncClient) -> None:
    added = await add(http, [{"type": "log"} for _ in range(101)])
    assert ids(added) == list(range(1, 102))
    assert await read_ids(http) == list(range(2, 102))


async def test_the_file_compacts_itself_and_keeps_the_newest_100(http: httpx.AsyncClient, data_dir: Path) -> None:
    for start in range(0, 1000, 50):
        await add(http, [{"type": "log", "content": str(n)} for n in range(start + 1, start + 51)])
        assert len(file_entries(history_file(data_dir))) <= 200
    entries, total = await read(http, params={"limit": 1000})
    assert (ids(entries), total) == (list(range(901, 1001)), 100)
    assert [e["content"] for e in entries] == [str(n) for n in range(901, 1001)]
    assert ids(await add(http, {"type": "log"})) == [1001]


async def test_an_expired_back_filled_entry_is_accepted_and_never_shown(http: httpx.AsyncClient) -> None:
    await add(http, {"type": "log", "content": "live"})
    answer = await http.post(TASK, json={"type": "log", "content": "old", "createdAt": LONG_AGO})
    assert answer.status_code == 201
    [old] = answer.json()["entries"]
    assert (old["id"], old["createdAt"], old["expiresAt"]) == (2, LONG_AGO, "2020-01-21T00:00:00.000Z")
    assert await read_ids(http) == [1]
    assert await read_ids(http, params={"since": "2019-01-01T00:00:00Z", "until": "2021-01-01T00:00:00Z"}) == []
    assert await read_ids(http, params={"order": "desc"}) == [1]
    assert (await http.get(f"{TASK}/count")).json() == {"count": 1}
    assert (await read(http, f"{PROJECT}/history"))[1] == 1
    oldest = (await http.get(f"{TASK}/oldest")).json()["createdAt"]
    assert oldest is not None
    assert oldest > LONG_AGO


async def test_an_entry_just_past_its_expiry_is_hidden(http: httpx.AsyncClient) -> None:
    await add(http, [{"type": "log", "createdAt": ago(days=20, seconds=1)}, {"type": "log", "createdAt": ago(days=19)}])
    assert await read_ids(http) == [2]


async def test_an_entry_expiring_does_not_bring_back_one_the_cap_dropped(http: httpx.AsyncClient) -> None:
    for project in ("demo", "other"):  # the same writes in two projects; only demo gets cleaned up
        await put_settings(http, {"historyMaxEntriesPerTask": 3}, project)
        await add(http, [{"type": "log", "content": str(n)} for n in (1, 2, 3)], project=project)
    soon = ago(days=20, seconds=-2)  # expires two seconds from now
    for project in ("demo", "other"):
        await add(http, {"type": "log", "content": "4", "createdAt": soon}, project=project)
        # oldest first by createdAt: 4 was back-filled to 20 days ago
        assert await read_ids(http, f"/api/projects/{project}/tasks/T-1/history") == [4, 2, 3]
    await cleanup(http, "demo")
    wait = moment(soon) + timedelta(days=20) - datetime.now(UTC)
    await asyncio.sleep(wait.total_seconds() + 0.05)
    cleaned = await read_ids(http, "/api/projects/demo/tasks/T-1/history")
    untouched = await read_ids(http, "/api/projects/other/tasks/T-1/history")
    assert cleaned == untouched  # today: [2, 3] and [1, 2, 3]


async def test_raising_the_cap_shows_the_same_whether_or_not_a_cleanup_ran(http: httpx.AsyncClient) -> None:
    await put_settings(http, {"historyMaxEntriesPerTask": 3})
    await add(http, [{"type": "log"} for _ in range(5)], task="T-1")
    await cleanup(http)
    await add(http, [{"type": "log"} for _ in range(5)], task="T-2")
    assert await read_ids(http) == await read_ids(http, f"{PROJECT}/tasks/T-2/history") == [3, 4, 5]
    await put_settings(http, {"historyMaxEntriesPerTask": 100})
    assert await read_ids(http) == await read_ids(http, f"{PROJECT}/tasks/T-2/history")  # today: [3..5], [1..5]


async def test_a_task_is_read_oldest_first_by_created_at(http: httpx.AsyncClient) -> None:
    await add(http, {"type": "log", "content": "today"})
    await add(http, {"type": "log", "content": "imported", "createdAt": ago(days=3)})
    assert [e["content"] for e in (await read(http))[0]] == ["imported", "today"]
    assert [e["content"] for e in (await read(http, params={"order": "desc"}))[0]] == ["today", "imported"]


# -- bad input changes nothing ---------------------------------------------------------------------------
@pytest.fixture
async def existing(http: httpx.AsyncClient, data_dir: Path) -> dict[str, bytes | None]:
    """One entry in demo/T-1 and non-default settings; returns the snapshot a refused request must leave."""
    await add(http, {"type": "log", "content": "kept"})
    await put_settings(http, {"historyTtlDays": 30})
    return snapshot(data_dir)


BAD_ENTRIES: dict[str, tuple[Any, str]] = {
    "unknown type": ({"type": "gossip"}, "type"),
    "type null": ({"type": None}, "type"),
    "type missing": ({"content": "x"}, "type"),
    "type a number": ({"type": 5}, "type"),
    "type in another case": ({"type": "LOG"}, "type"),
    "one bad type in a list": ([{"type": "log"}, {"type": "gossip"}, {"type": "log"}], "type"),
    "unknown field": ({"type": "log", "colour": "red"}, "colour"),
    "unknown field in a list": ([{"type": "log"}, {"type": "log", "extra": 1}], "extra"),
    "content a number": ({"type": "log", "content": 5}, "content"),
    "content an object": ({"type": "log", "content": {"text": "x"}}, "content"),
    "role a list": ({"type": "log", "role": ["a"]}, "role"),
    "metadata a list": ({"type": "log", "metadata": [1, 2]}, "metadata"),
    "metadata a string": ({"type": "log", "metadata": "{}"}, "metadata"),
    "metadata a number": ({"type": "log", "metadata": 1}, "metadata"),
    "createdAt malformed": ({"type": "log", "createdAt": "yesterday"}, "createdAt"),
    "createdAt a number": ({"type": "log", "createdAt": 1767225600}, "createdAt"),
    "createdAt impossible date": ({"type": "log", "createdAt": "2026-02-30T00:00:00Z"}, "createdAt"),
    "taskId differs": ({"type": "log", "taskId": "T-2"}, "taskId"),
    "workspaceId with a slash": ({"type": "log", "workspaceId": "a/b"}, "workspaceId"),
    "sessionId a number": ({"type": "log", "sessionId": 7}, "sessionId"),
    "executionId starting with a dot": ({"type": "log", "executionId": ".x"}, "executionId"),
    "empty list": ([], "no entries"),
    "a list of lists": ([["log"]], "object"),
    "a string": ("log", "string"),
    "a number": (5, "number"),
    "null": (None, "null"),
    "integer beyond 64 bits": ({"type": "log", "metadata": {"n": 2**64}}, "64 bits"),
}


@pytest.mark.parametrize(("body", "named"), list(BAD_ENTRIES.values()), ids=list(BAD_ENTRIES))
async def test_a_bad_entry_is_a_400_that_changes_nothing(
    http: httpx.AsyncClient, data_dir: Path, existing: dict[str, bytes | None], body: Any, named: str
) -> None:
    error = assert_error(await send_json(http, "POST", TASK, body), 400, "invalid_body")
    assert named in error["message"]
    assert snapshot(data_dir) == existing
    assert ids(await add(http, {"type": "log"})) == [2]  # no id was used up either


@pytest.mark.parametrize("kind", [["log"], {"name": "log"}])
async def test_a_type_that_is_a_list_or_object_is_a_400(
    http: httpx.AsyncClient, data_dir: Path, existing: dict[str, bytes | None], kind: Any
) -> None:
    error = assert_error(await http.post(TASK, json={"type": kind}), 400, "invalid_body")
    assert "type" in error["message"]
    assert snapshot(data_dir) == existing


async def test_a_created_at_whose_expiry_is_beyond_year_9999_is_a_400(
    http: httpx.AsyncClient, data_dir: Path, existing: dict[str, bytes | None]
) -> None:
    answer = await http.post(TASK, json={"type": "log", "createdAt": "9999-12-31T00:00:00Z"})
    assert "createdAt" in assert_error(answer, 400, "invalid_body")["message"]
    assert snapshot(data_dir) == existing


@pytest.mark.parametrize("fields", [{"id": "seven"}, {"expiresAt": "whenever"}, {"id": [1]}])
async def test_a_malformed_id_or_expires_at_is_a_400(
    http: httpx.AsyncClient, data_dir: Path, existing: dict[str, bytes | None], fields: dict[str, Any]
) -> None:
    assert_error(await http.post(TASK, json={"type": "log", **fields}), 400, "invalid_body")
    assert snapshot(data_dir) == existing


BAD_RAW_BODIES: dict[str, tuple[bytes, str | None, int, str]] = {
    "not JSON": (b"{type: log}", "application/json", 400, "invalid_body"),
    "truncated JSON": (b'{"type": "log"', "application/json", 400, "invalid_body"),
    "empty": (b"", "application/json", 400, "invalid_body"),
    "two documents": (b'{"type": "log"}{"type": "log"}', "application/json", 400, "invalid_body"),
    "text/plain": (b'{"type": "log"}', "text/plain", 415, "unsupported_media_type"),
    "form": (b"type=log", "application/x-www-form-urlencoded", 415, "unsupported_media_type"),
    "no content type": (b'{"type": "log"}', None, 415, "unsupported_media_type"),
}


@pytest.mark.parametrize(
    ("content", "content_type", "status", "code"), list(BAD_RAW_BODIES.values()), ids=list(BAD_RAW_BODIES)
)
async def test_a_body_that_is_not_json_changes_nothing(
    http: httpx.AsyncClient,
    data_dir: Path,
    existing: dict[str, bytes | None],
    content: bytes,
    content_type: str | None,
    status: int,
    code: str,
) -> None:
    headers = {"content-type": content_type} if content_type else {}
    for path, method in ((TASK, "POST"), (f"{PROJECT}/settings", "PUT")):
        assert_error(await http.request(method, path, content=content, headers=headers), status, code)
    assert snapshot(data_dir) == existing


async def test_a_query_parameter_on_a_write_is_refused_and_changes_nothing(
    http: httpx.AsyncClient, data_dir: Path, existing: dict[str, bytes | None]
) -> None:
    assert_error(await http.post(f"{TASK}?dryRun=1", json={"type": "log"}), 400, "invalid_parameter")
    assert_error(await http.delete(f"{TASK}?type=log"), 400, "invalid_parameter")
    assert_error(await http.post(f"{PROJECT}/history/cleanup?force=1"), 400, "invalid_parameter")
    assert_error(await http.put(f"{PROJECT}/settings?x=1", json={"historyTtlDays": 5}), 400, "invalid_parameter")
    assert_error(await http.get(f"{TASK}/count?type=log"), 400, "invalid_parameter")
    assert_error(await http.get(f"{TASK}/oldest?limit=1"), 400, "invalid_parameter")
    assert_error(await http.get(f"{PROJECT}/settings?verbose=1"), 400, "invalid_parameter")
    assert snapshot(data_dir) == existing


BAD_QUERIES: dict[str, tuple[str, str, str]] = {
    "unknown parameter": ("colour=red", "colour", "invalid_parameter"),
    "camel case typo": ("workspaceid=w1", "workspaceid", "invalid_parameter"),
    "unknown type": ("type=gossip", "type", "invalid_parameter"),
    "one unknown type of two": ("type=log,gossip", "gossip", "invalid_parameter"),
    "unknown type repeated": ("type=log&type=gossip", "gossip", "invalid_parameter"),
    "empty type": ("type=", "type", "invalid_parameter"),
    "limit 0": ("limit=0", "limit", "invalid_parameter"),
    "limit 1001": ("limit=1001", "limit", "invalid_parameter"),
    "limit negative": ("limit=-1", "limit", "invalid_parameter"),
    "limit not a number": ("limit=ten", "limit", "invalid_parameter"),
    "limit a fraction": ("limit=2.5", "limit", "invalid_parameter"),
    "limit twice": ("limit=1&limit=2", "limit", "invalid_parameter"),
    "offset negative": ("offset=-1", "offset", "invalid_parameter"),
    "offset not a number": ("offset=x", "offset", "invalid_parameter"),
    "order sideways": ("order=sideways", "order", "invalid_parameter"),
    "order upper case": ("order=DESC", "order", "invalid_parameter"),
    "since malformed": ("since=yesterday", "since", "invalid_parameter"),
    "until malformed": ("until=2026-13-01T00:00:00Z", "until", "invalid_parameter"),
    "workspaceId with a slash": ("workspaceId=a%2Fb", "workspaceId", "invalid_id"),
    "workspaceId empty": ("workspaceId=", "workspaceId", "invalid_id"),
    "sessionId with a space": ("sessionId=a%20b", "sessionId", "invalid_id"),
    "executionId starting with a dot": ("executionId=..", "executionId", "invalid_id"),
}


@pytest.mark.parametrize(("query", "named", "code"), list(BAD_QUERIES.values()), ids=list(BAD_QUERIES))
async def test_a_bad_query_is_a_400_naming_the_parameter(
    http: httpx.AsyncClient, data_dir: Path, existing: dict[str, bytes | None], query: str, named: str, code: str
) -> None:
    for path in (TASK, f"{PROJECT}/history"):
        error = assert_error(await http.get(f"{path}?{query}"), 400, code)
        assert named in error["message"]
    assert snapshot(data_dir) == existing


BAD_IDS = {".hidden": ".hidden", "-dash": "-dash", "a*b": "a%2Ab", "a b": "a%20b", "é": "%C3%A9", "129": "a" * 129}
ID_ROUTES = [
    ("POST", "/api/projects/demo/tasks/{}/history", "taskId"),
    ("GET", "/api/projects/demo/tasks/{}/history", "taskId"),
    ("DELETE", "/api/projects/demo/tasks/{}/history", "taskId"),
    ("GET", "/api/projects/demo/tasks/{}/history/count", "taskId"),
    ("GET", "/api/projects/demo/tasks/{}/history/oldest", "taskId"),
    ("POST", "/api/projects/{}/tasks/T-1/history", "projectId"),
    ("GET", "/api/projects/{}/tasks/T-1/history", "projectId"),
    ("DELETE", "/api/projects/{}/tasks/T-1/history", "projectId"),
    ("GET", "/api/projects/{}/history", "projectId"),
    ("POST", "/api/projects/{}/history/cleanup", "projectId"),
    ("GET", "/api/projects/{}/settings", "projectId"),
    ("PUT", "/api/projects/{}/settings", "projectId"),
]


@pytest.mark.parametrize(("method", "template", "named"), ID_ROUTES, ids=[f"{m} {t}" for m, t, _ in ID_ROUTES])
async def test_a_bad_id_in_the_path_is_a_400_that_changes_nothing(
    http: httpx.AsyncClient, data_dir: Path, existing: dict[str, bytes | None], method: str, template: str, named: str
) -> None:
    body: dict[str, Any] | None = {"type": "log"} if method == "POST" and "tasks" in template else None
    body = {"historyTtlDays": 5} if method == "PUT" else {} if template.endswith("/cleanup") else body
    for label, bad in BAD_IDS.items():
        answer = await http.request(method, template.format(bad), json=body)
        assert named in assert_error(answer, 400, "invalid_id")["message"], label
    assert snapshot(data_dir) == existing


BAD_SETTINGS: dict[str, tuple[Any, str]] = {
    "unknown key": ({"colour": "red"}, "colour"),
    "unknown key beside a good one": ({"historyTtlDays": 5, "historyTTLDays": 5}, "historyTTLDays"),
    "ttl 0": ({"historyTtlDays": 0}, "historyTtlDays"),
    "cap 0": ({"historyMaxEntriesPerTask": 0}, "historyMaxEntriesPerTask"),
    "ttl negative": ({"historyTtlDays": -1}, "historyTtlDays"),
    "cap negative": ({"historyMaxEntriesPerTask": -5}, "historyMaxEntriesPerTask"),
    "ttl a string": ({"historyTtlDays": "5"}, "historyTtlDays"),
    "cap a string": ({"historyMaxEntriesPerTask": "100"}, "historyMaxEntriesPerTask"),
    "ttl a bool": ({"historyTtlDays": True}, "historyTtlDays"),
    "cap a bool": ({"historyMaxEntriesPerTask": False}, "historyMaxEntriesPerTask"),
    "ttl a fraction": ({"historyTtlDays": 1.5}, "historyTtlDays"),
    "cap a float": ({"historyMaxEntriesPerTask": 10.0}, "historyMaxEntriesPerTask"),
    "ttl null": ({"historyTtlDays": None}, "historyTtlDays"),
    "ttl over 100 years": ({"historyTtlDays": 36_501}, "historyTtlDays"),
    "cap over 100,000": ({"historyMaxEntriesPerTask": 100_001}, "historyMaxEntriesPerTask"),
    "good ttl, bad cap": ({"historyTtlDays": 5, "historyMaxEntriesPerTask": 0}, "historyMaxEntriesPerTask"),
    "run ttl 0": ({"runTtlDays": 0}, "runTtlDays"),
    "run ttl a string": ({"runTtlDays": "30"}, "runTtlDays"),
    "max runs negative": ({"maxRuns": -1}, "maxRuns"),
    "max runs a bool": ({"maxRuns": True}, "maxRuns"),
    "max runs a float": ({"maxRuns": 10.0}, "maxRuns"),
    "max runs past a billion": ({"maxRuns": 10**9 + 1}, "maxRuns"),
    "good cap, bad max runs": ({"historyMaxEntriesPerTask": 5, "maxRuns": 0}, "maxRuns"),
    "a list": ([{"historyTtlDays": 5}], "object"),
    "a number": (5, "object"),
    "null": (None, "object"),
}


@pytest.mark.parametrize(("body", "named"), list(BAD_SETTINGS.values()), ids=list(BAD_SETTINGS))
async def test_bad_settings_are_a_400_that_changes_nothing(
    http: httpx.AsyncClient, data_dir: Path, existing: dict[str, bytes | None], body: Any, named: str
) -> None:
    error = assert_error(await send_json(http, "PUT", f"{PROJECT}/settings", body), 400, "invalid_body")
    assert named in error["message"]
    assert snapshot(data_dir) == existing
    assert (await http.get(f"{PROJECT}/settings")).json() == {
        "historyTtlDays": 30,
        "historyMaxEntriesPerTask": 100,
        "runTtlDays": None,
        "maxRuns": None,
    }


# -- methods ---------------------------------------------------------------------------------------------
METHOD_ROUTES = [
    (TASK, {"GET", "POST", "DELETE"}),
    (f"{TASK}/count", {"GET"}),
    (f"{TASK}/oldest", {"GET"}),
    (f"{PROJECT}/history", {"GET"}),
    (f"{PROJECT}/history/cleanup", {"POST"}),
    (f"{PROJECT}/settings", {"GET", "PUT"}),
]


@pytest.mark.parametrize(("path", "allowed"), METHOD_ROUTES)
async def test_a_wrong_method_is_a_json_405_naming_the_allowed_ones(
    http: httpx.AsyncClient, data_dir: Path, existing: dict[str, bytes | None], path: str, allowed: set[str]
) -> None:
    for method in {"GET", "POST", "PUT", "PATCH", "DELETE"} - allowed:
        answer = await http.request(method, path, json={"type": "log"})
        assert_error(answer, 405, "method_not_allowed")
        assert {m.strip() for m in answer.headers["allow"].split(",")} - {"HEAD"} == allowed
    assert snapshot(data_dir) == existing


# -- a real server ---------------------------------------------------------------------------------------
async def test_a_real_server_adds_and_reads_history(server: Server, data_dir: Path) -> None:
    async with httpx.AsyncClient(base_url=server.url, timeout=10) as client:
        posted = await client.post(TASK, json=[{"type": "agent_start", "role": "planner"}, {"type": "log"}])
        assert posted.status_code == 201, posted.text
        assert ids(posted.json()["entries"]) == [1, 2]
        answer = await client.get(TASK, params={"type": "agent_start"})
        assert answer.status_code == 200
        assert answer.headers["content-type"].startswith("application/json")
        assert answer.json() == {"entries": posted.json()["entries"][:1], "total": 1}
        assert (await client.get(f"{PROJECT}/history")).json()["total"] == 2
        wrong = await client.patch(TASK, json={"type": "log"})
        assert_error(wrong, 405, "method_not_allowed")
        assert {m.strip() for m in wrong.headers["allow"].split(",")} - {"HEAD"} == {"GET", "POST", "DELETE"}
        wrong = await client.get(f"{PROJECT}/history/cleanup")
        assert_error(wrong, 405, "method_not_allowed")
        assert wrong.headers["allow"] == "POST"
    assert ids(file_entries(history_file(data_dir))) == [1, 2]


@pytest.mark.parametrize("value", ["1_0", "\u0661\u0660", "0x10", "1e2"])  # 1_0, Arabic-Indic 10
async def test_a_number_only_python_would_read_is_a_400(http: httpx.AsyncClient, value: str) -> None:
    assert_error(await http.get(TASK, params={"limit": value}), 400, "invalid_parameter")
