"""The execution-history HTTP API, over a real store on a temp directory: the five history endpoints,
the writes (POST, PUT, PATCH, If-Match), filters, sorting and paging, refusal of bad input, and files
written by the original system."""

from __future__ import annotations

import base64
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from storehouse import Storehouse
from storehouse.models import MAX_TOKENS, MAX_VERSION

BASE = "/api/projects/demo/executions"
SUMMARY_FIELDS = {
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
STATS_FIELDS = (
    "totalExecutions",
    "completed",
    "failed",
    "running",
    "pending",
    "cancelled",
    "totalCostUSD",
    "totalTokens",
)

# Six runs whose order differs by every sort key; c and e tie on cost, e and f on duration.
RUNS: dict[str, dict[str, Any]] = {
    "a": {"status": "completed", "startedAt": "2026-01-01T00:00:00.000Z", "costUSD": 0.5, "duration": 300},
    "b": {"status": "failed", "startedAt": "2026-01-02T00:00:00.000Z", "costUSD": 0.1, "duration": 100},
    "c": {"status": "running", "startedAt": "2026-01-03T00:00:00.000Z", "costUSD": 0.3},
    "d": {"status": "pending", "startedAt": "2026-01-04T00:00:00.000Z", "costUSD": 0.0},
    "e": {"status": "cancelled", "startedAt": "2026-01-05T00:00:00.000Z", "costUSD": 0.3, "duration": 200},
    "f": {"status": "completed", "startedAt": "2026-01-06T00:00:00.000Z", "costUSD": 0.9, "duration": 200},
}
RUNS["a"].update(taskId="t1", tags=["x"])
RUNS["b"].update(taskId="t1", tags=["y"])
RUNS["c"].update(taskId="t2", tags=["x", "y"])
RUNS["e"].update(taskId="t2", tags=["x"])

SORTS = ["startedAt", "-startedAt", "costUSD", "-costUSD", "duration", "-duration"]


@pytest.fixture
def runs(store: Storehouse) -> dict[str, dict[str, Any]]:
    """The six RUNS stored in project demo; returns the stored documents by id."""
    return {item: store.put_execution("demo", item, fields) for item, fields in RUNS.items()}


def ids(answer: httpx.Response) -> list[str]:
    assert answer.status_code == 200, answer.text
    return [summary["id"] for summary in answer.json()["executions"]]


def assert_error(answer: httpx.Response, status: int, code: str | None = None) -> dict[str, str]:
    """The answer is an error of this status in the JSON form; returns its error object."""
    assert answer.status_code == status, answer.text
    assert answer.headers["content-type"].startswith("application/json")
    error: dict[str, str] = answer.json()["error"]
    assert error["message"]
    if code is not None:
        assert error["code"] == code
    return error


async def put(http: httpx.AsyncClient, item: str, fields: dict[str, Any], project: str = "demo") -> dict[str, Any]:
    answer = await http.put(f"/api/projects/{project}/executions/{item}", json=fields)
    assert answer.status_code in (200, 201), answer.text
    document: dict[str, Any] = answer.json()["execution"]
    return document


async def total(http: httpx.AsyncClient, project: str = "demo") -> int:
    answer = await http.get(f"/api/projects/{project}/executions")
    assert answer.status_code == 200, answer.text
    count: int = answer.json()["total"]
    return count


def names(directory: Path) -> list[str]:
    """The sorted entries of a directory."""
    return sorted(path.name for path in directory.iterdir())


def millis(start: str, end: str) -> int:
    moment = datetime.fromisoformat
    return round((moment(end) - moment(start)).total_seconds() * 1000)


# -- the five history endpoints --------------------------------------------------------------------------
async def test_list_answers_executions_total_and_next_cursor(http: httpx.AsyncClient, runs: object) -> None:
    body = (await http.get(BASE)).json()
    assert set(body) == {"executions", "total", "nextCursor"}
    assert body["total"] == 6
    assert body["nextCursor"] is None


async def test_list_is_newest_first(http: httpx.AsyncClient, runs: object) -> None:
    assert ids(await http.get(BASE)) == ["f", "e", "d", "c", "b", "a"]


async def test_list_total_counts_every_match_not_the_page(http: httpx.AsyncClient, runs: object) -> None:
    body = (await http.get(BASE, params={"limit": 2})).json()
    assert len(body["executions"]) == 2
    assert body["total"] == 6


async def test_list_default_limit_is_50(http: httpx.AsyncClient, store: Storehouse) -> None:
    for n in range(55):
        store.put_execution("demo", f"run-{n:02d}", {"startedAt": f"2026-01-01T00:00:{n:02d}.000Z"})
    first = (await http.get(BASE)).json()
    assert len(first["executions"]) == 50
    assert first["total"] == 55
    assert [s["id"] for s in first["executions"]] == [f"run-{n:02d}" for n in range(54, 4, -1)]
    rest = (await http.get(BASE, params={"offset": 50})).json()
    assert [s["id"] for s in rest["executions"]] == ["run-04", "run-03", "run-02", "run-01", "run-00"]
    assert rest["nextCursor"] is None


async def test_list_items_have_exactly_the_summary_fields(http: httpx.AsyncClient) -> None:
    full = {
        "name": "triage",
        "taskId": "t1",
        "status": "completed",
        "tokenUsage": {"input": 3, "output": 4},
        "costUSD": 0.02,
        "input": {"prompt": "hi"},
        "output": {"answer": "hello"},
        "steps": [{"name": "plan", "agent": "planner"}],
        "metadata": {"model": "m"},
        "tags": ["nightly"],
    }
    document = await put(http, "full", full)
    [summary] = (await http.get(BASE)).json()["executions"]
    assert set(summary) == SUMMARY_FIELDS
    assert summary == {name: document[name] for name in SUMMARY_FIELDS}


async def test_get_answers_the_full_document_with_its_version_as_etag(http: httpx.AsyncClient) -> None:
    document = await put(http, "one", {"name": "n", "input": [1, 2], "steps": [{"name": "s"}], "metadata": {"k": 1}})
    answer = await http.get(f"{BASE}/one")
    assert answer.status_code == 200
    assert answer.json() == {"execution": document}
    assert answer.headers["etag"] == '"1"'
    assert {"input", "output", "steps", "metadata", "version", "createdAt", "updatedAt"} <= set(document)


async def test_get_of_an_absent_execution_is_a_json_404(http: httpx.AsyncClient, runs: object) -> None:
    assert_error(await http.get(f"{BASE}/absent"), 404, "not_found")


async def test_get_in_an_unknown_project_is_a_json_404(http: httpx.AsyncClient) -> None:
    assert_error(await http.get("/api/projects/nobody/executions/absent"), 404, "not_found")


async def test_delete_answers_204_and_then_the_execution_is_gone(http: httpx.AsyncClient, runs: object) -> None:
    answer = await http.delete(f"{BASE}/c")
    assert answer.status_code == 204
    assert answer.content == b""
    assert_error(await http.get(f"{BASE}/c"), 404, "not_found")
    assert_error(await http.delete(f"{BASE}/c"), 404, "not_found")
    assert "c" not in ids(await http.get(BASE))
    assert await total(http) == 5


async def test_delete_all_answers_how_many_were_deleted(http: httpx.AsyncClient, runs: object) -> None:
    await put(http, "elsewhere", {}, project="other")
    answer = await http.delete(BASE)
    assert answer.status_code == 200
    assert answer.json() == {"deleted": 6}
    assert (await http.get(BASE)).json() == {"executions": [], "total": 0, "nextCursor": None}
    assert await total(http, "other") == 1
    assert (await http.delete(BASE)).json() == {"deleted": 0}


async def test_stats_count_statuses_cost_and_tokens(http: httpx.AsyncClient) -> None:
    await put(http, "a", {"status": "completed", "costUSD": 0.5, "tokenUsage": {"input": 10, "output": 5}})
    await put(http, "b", {"status": "failed", "costUSD": 0.25, "tokenUsage": {"input": 1, "output": 2}})
    await put(http, "c", {"status": "running"})
    await put(http, "d", {"status": "pending"})
    await put(http, "e", {"status": "cancelled", "costUSD": 0.125, "tokenUsage": {"input": 4, "output": 0}})
    await put(http, "f", {"status": "completed"})
    stats = (await http.get(f"{BASE}/stats")).json()
    expected = {"totalExecutions": 6, "completed": 2, "failed": 1, "running": 1, "pending": 1, "cancelled": 1}
    assert {name: stats[name] for name in expected} == expected
    assert stats["totalCostUSD"] == pytest.approx(0.875)
    assert stats["totalTokens"] == 22


async def test_stats_follow_status_changes_and_deletes(http: httpx.AsyncClient) -> None:
    await put(http, "a", {"status": "running", "tokenUsage": {"input": 1, "output": 1}})
    await put(http, "b", {"status": "running"})
    await http.patch(f"{BASE}/a", json={"status": "completed", "tokenUsage": {"output": 9}})
    await http.delete(f"{BASE}/b")
    stats = (await http.get(f"{BASE}/stats")).json()
    assert (stats["totalExecutions"], stats["running"], stats["completed"], stats["totalTokens"]) == (1, 0, 1, 10)


async def test_unknown_project_lists_empty(http: httpx.AsyncClient) -> None:
    answer = await http.get("/api/projects/nobody/executions")
    assert answer.status_code == 200
    assert answer.json() == {"executions": [], "total": 0, "nextCursor": None}


async def test_unknown_project_has_zero_stats(http: httpx.AsyncClient) -> None:
    answer = await http.get("/api/projects/nobody/executions/stats")
    assert answer.status_code == 200
    assert {name: answer.json()[name] for name in STATS_FIELDS} == dict.fromkeys(STATS_FIELDS, 0)


async def test_unknown_project_deletes_nothing(http: httpx.AsyncClient) -> None:
    answer = await http.delete("/api/projects/nobody/executions")
    assert answer.status_code == 200
    assert answer.json() == {"deleted": 0}


# -- writes ----------------------------------------------------------------------------------------------
async def test_post_answers_201_with_a_location_that_gets_the_same_document(http: httpx.AsyncClient) -> None:
    answer = await http.post(BASE, json={"name": "triage", "status": "running"})
    assert answer.status_code == 201
    created = answer.json()["execution"]
    assert created["version"] == 1
    assert answer.headers["location"].endswith(f"/api/projects/demo/executions/{created['id']}")
    fetched = await http.get(answer.headers["location"])
    assert fetched.status_code == 200
    assert fetched.json() == {"execution": created}


async def test_post_generates_time_sortable_ids(http: httpx.AsyncClient) -> None:
    created = [(await http.post(BASE, json={})).json()["execution"]["id"] for _ in range(5)]
    assert created == sorted(created)
    assert len(set(created)) == 5


async def test_post_with_an_existing_id_is_409_and_keeps_the_stored_one(http: httpx.AsyncClient) -> None:
    original = (await http.post(BASE, json={"id": "taken", "name": "first"})).json()["execution"]
    assert_error(await http.post(BASE, json={"id": "taken", "name": "second"}), 409, "conflict")
    assert (await http.get(f"{BASE}/taken")).json()["execution"] == original


async def test_post_ignores_managed_fields_in_the_body(http: httpx.AsyncClient) -> None:
    body = {"version": 7, "createdAt": "2000-01-01T00:00:00Z", "updatedAt": "2000-01-01T00:00:00Z"}
    created = (await http.post(BASE, json=body)).json()["execution"]
    assert created["version"] == 1
    assert created["createdAt"] != "2000-01-01T00:00:00.000Z"


async def test_put_creates_with_201_then_replaces_with_200(http: httpx.AsyncClient) -> None:
    created = await http.put(f"{BASE}/p1", json={"name": "first", "tags": ["x"]})
    assert created.status_code == 201
    assert created.json()["execution"]["version"] == 1
    assert created.headers["etag"] == '"1"'
    replaced = await http.put(f"{BASE}/p1", json={"name": "second"})
    assert replaced.status_code == 200
    document = replaced.json()["execution"]
    assert (document["version"], document["name"], document["tags"]) == (2, "second", [])
    assert replaced.headers["etag"] == '"2"'
    assert (await http.get(f"{BASE}/p1")).json()["execution"] == document


async def test_put_replace_keeps_created_at(http: httpx.AsyncClient) -> None:
    first = await put(http, "p1", {"name": "first"})
    second = await put(http, "p1", {"name": "second"})
    assert second["createdAt"] == first["createdAt"]
    assert second["updatedAt"] >= first["updatedAt"]


async def test_patch_running_to_completed_sets_completed_at_and_derives_duration(http: httpx.AsyncClient) -> None:
    await put(http, "r", {"status": "running", "startedAt": "2026-01-05T10:00:00Z"})
    answer = await http.patch(f"{BASE}/r", json={"status": "completed"})
    assert answer.status_code == 200
    document = answer.json()["execution"]
    assert document["status"] == "completed"
    assert document["completedAt"] is not None
    assert document["duration"] == millis(document["startedAt"], document["completedAt"])
    assert document["version"] == 2
    assert answer.headers["etag"] == '"2"'


async def test_patch_derives_duration_from_given_timestamps(http: httpx.AsyncClient) -> None:
    await put(http, "r", {"status": "running", "startedAt": "2026-01-05T10:00:00Z"})
    patch = {"status": "completed", "completedAt": "2026-01-05T10:00:05.250Z"}
    document = (await http.patch(f"{BASE}/r", json=patch)).json()["execution"]
    assert document["completedAt"] == "2026-01-05T10:00:05.250Z"
    assert document["duration"] == 5250


async def test_patch_keeps_the_fields_it_does_not_name(http: httpx.AsyncClient) -> None:
    before = await put(http, "r", {"name": "keep", "tags": ["t"], "input": {"q": 1}, "status": "running"})
    after = (await http.patch(f"{BASE}/r", json={"status": "failed", "error": "boom"})).json()["execution"]
    assert (after["name"], after["tags"], after["input"]) == ("keep", ["t"], {"q": 1})
    assert (after["status"], after["error"]) == ("failed", "boom")
    assert after["createdAt"] == before["createdAt"]


async def test_null_in_a_merge_patch_removes_the_field(http: httpx.AsyncClient) -> None:
    await put(http, "r", {"error": "boom", "metadata": {"a": 1, "b": 2}, "note": "extra"})
    patch = {"error": None, "metadata": {"a": None}, "note": None}
    document = (await http.patch(f"{BASE}/r", json=patch)).json()["execution"]
    assert document["error"] is None
    assert document["metadata"] == {"b": 2}
    assert "note" not in document
    assert (await http.get(f"{BASE}/r")).json()["execution"] == document


async def test_patch_of_an_absent_execution_is_404(http: httpx.AsyncClient) -> None:
    assert_error(await http.patch(f"{BASE}/absent", json={"status": "completed"}), 404, "not_found")
    assert await total(http) == 0


async def test_token_total_is_derived_as_input_plus_output(http: httpx.AsyncClient) -> None:
    created = (await http.post(BASE, json={"tokenUsage": {"input": 3, "output": 4}})).json()["execution"]
    assert created["tokenUsage"] == {"input": 3, "output": 4, "total": 7}
    patched = await http.patch(f"{BASE}/{created['id']}", json={"tokenUsage": {"output": 10}})
    assert patched.json()["execution"]["tokenUsage"] == {"input": 3, "output": 10, "total": 13}


async def test_a_given_token_total_is_kept(http: httpx.AsyncClient) -> None:
    document = await put(http, "r", {"tokenUsage": {"input": 1, "output": 1, "total": 5}})
    assert document["tokenUsage"]["total"] == 5


@pytest.mark.parametrize("method", ["PUT", "PATCH", "DELETE"])
@pytest.mark.parametrize("header", ['"2"', "2", 'W/"2"'])
async def test_if_match_with_the_current_version_writes(http: httpx.AsyncClient, method: str, header: str) -> None:
    await put(http, "r", {"status": "running"})
    await put(http, "r", {"status": "running", "name": "v2"})
    body = None if method == "DELETE" else {"status": "completed"}
    answer = await http.request(method, f"{BASE}/r", json=body, headers={"If-Match": header})
    if method == "DELETE":
        assert answer.status_code == 204
        assert_error(await http.get(f"{BASE}/r"), 404)
    else:
        assert answer.status_code == 200, answer.text
        assert answer.json()["execution"]["version"] == 3
        assert answer.json()["execution"]["status"] == "completed"


@pytest.mark.parametrize("method", ["PUT", "PATCH", "DELETE"])
async def test_stale_if_match_is_412_and_changes_nothing(http: httpx.AsyncClient, method: str) -> None:
    await put(http, "r", {"status": "running"})
    current = await put(http, "r", {"status": "running", "name": "v2"})
    body = None if method == "DELETE" else {"status": "completed", "name": "lost"}
    answer = await http.request(method, f"{BASE}/r", json=body, headers={"If-Match": '"1"'})
    error = assert_error(answer, 412, "precondition_failed")
    assert "version 2" in error["message"]
    assert (await http.get(f"{BASE}/r")).json()["execution"] == current


async def test_if_match_on_an_absent_execution_is_412_and_creates_nothing(http: httpx.AsyncClient) -> None:
    assert_error(await http.put(f"{BASE}/r", json={}, headers={"If-Match": '"1"'}), 412, "precondition_failed")
    assert_error(await http.get(f"{BASE}/r"), 404)


@pytest.mark.parametrize("header", [f'"{MAX_VERSION}"', f"{MAX_VERSION}", '"0000000000000000001"', '"0"'])
async def test_if_match_takes_every_version_a_document_can_have(http: httpx.AsyncClient, header: str) -> None:
    # issue #13 item 8: 18 digits at most were taken; every version up to MAX_VERSION is one (and stale here: 412)
    await put(http, "r", {})
    await put(http, "r", {})
    assert_error(await http.patch(f"{BASE}/r", json={}, headers={"If-Match": header}), 412, "precondition_failed")


@pytest.mark.parametrize("header", [f'"{MAX_VERSION + 1}"', '"9223372036854775807"', '"1' + "0" * 29 + '"'])
async def test_if_match_past_the_highest_version_is_400_naming_the_maximum(
    http: httpx.AsyncClient, header: str
) -> None:
    await put(http, "r", {})
    error = assert_error(await http.put(f"{BASE}/r", json={}, headers={"If-Match": header}), 400, "invalid_parameter")
    assert error["message"].startswith(f"If-Match must be a version from an ETag, at most {MAX_VERSION}")


async def test_a_write_past_the_highest_version_is_409_and_the_run_stays_readable(
    http: httpx.AsyncClient, store: Storehouse
) -> None:
    stamp = "2026-01-05T10:00:05.000Z"
    document = {"id": "r", "status": "running", "version": MAX_VERSION, "createdAt": stamp, "updatedAt": stamp}
    store.import_lines([orjson.dumps({"kind": "execution", "project": "demo", "document": document})])
    for method in ("PATCH", "PUT"):
        answer = await http.request(
            method, f"{BASE}/r", json={"status": "completed"}, headers={"If-Match": f'"{MAX_VERSION}"'}
        )
        error = assert_error(answer, 409, "conflict")
        assert f"is at version {MAX_VERSION}, and {MAX_VERSION} is the highest a version can be" in error["message"]
    answer = await http.get(f"{BASE}/r")
    assert (answer.status_code, answer.headers["etag"]) == (200, f'"{MAX_VERSION}"')
    assert answer.json()["execution"]["status"] == "running"


async def test_stats_of_runs_with_the_most_tokens_answer_200(http: httpx.AsyncClient, data_dir: Path) -> None:
    # issue #13 item 7: totals past 2**64 made the stats answer 500 (orjson encodes 64-bit integers at most)
    big = {"input": MAX_TOKENS, "output": MAX_TOKENS, "total": MAX_TOKENS}
    await put(http, "r", {"status": "completed", "tokenUsage": big})
    folder = data_dir / "projects" / "demo" / "executions"
    for n in range(2100):  # copied in by hand: 2,049 of them pass 2**64, as 3 at 2**63 - 1 did before
        (folder / f"big-{n:04d}.json").write_bytes(orjson.dumps({"status": "completed", "tokenUsage": big}))
    with Storehouse(data_dir) as other:
        other.reindex("demo")
    stats = (await http.get(f"{BASE}/stats")).json()
    assert (stats["totalTokens"], stats["inputTokens"], stats["totalExecutions"]) == ((1 << 63) - 1,) * 2 + (2101,)
    for path in (f"{BASE}/stats/daily", "/api/projects/demo/metrics", "/api/projects"):
        assert (await http.get(path)).status_code == 200, path


async def test_malformed_if_match_is_400(http: httpx.AsyncClient) -> None:
    await put(http, "r", {})
    error = assert_error(await http.put(f"{BASE}/r", json={}, headers={"If-Match": "latest"}), 400)
    assert "If-Match" in error["message"]
    assert (await http.get(f"{BASE}/r")).json()["execution"]["version"] == 1


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("PUT", f"{BASE}/x", {"id": "y"}),
        ("PUT", f"{BASE}/x", {"projectId": "other"}),
        ("POST", BASE, {"projectId": "other"}),
        ("PATCH", f"{BASE}/x", {"id": "y"}),
        ("PATCH", f"{BASE}/x", {"projectId": "other"}),
    ],
)
async def test_body_id_or_project_contradicting_the_path_is_400(
    http: httpx.AsyncClient, store: Storehouse, method: str, path: str, body: dict[str, str]
) -> None:
    kept = store.put_execution("demo", "x", {"name": "kept"}) if method == "PATCH" else None
    error = assert_error(await http.request(method, path, json=body), 400, "invalid_body")
    assert next(iter(body)) in error["message"]
    assert store.list_executions("demo").total == (1 if kept else 0)
    assert store.list_executions("other").total == 0
    if kept:
        assert store.get_execution("demo", "x") == kept


async def test_body_id_and_project_matching_the_path_are_accepted(http: httpx.AsyncClient) -> None:
    answer = await http.put(f"{BASE}/x", json={"id": "x", "projectId": "demo"})
    assert answer.status_code == 201


# -- filters, sorting and paging -------------------------------------------------------------------------
@pytest.mark.parametrize(
    "query",
    ["status=failed,running", "status=failed&status=running", "status=running,failed"],
)
async def test_status_filter_takes_several_statuses(http: httpx.AsyncClient, runs: object, query: str) -> None:
    answer = await http.get(f"{BASE}?{query}")
    assert ids(answer) == ["c", "b"]
    assert answer.json()["total"] == 2


async def test_status_filter_counts_all_matches(http: httpx.AsyncClient, runs: object) -> None:
    answer = await http.get(BASE, params={"status": "completed", "limit": 1})
    assert ids(answer) == ["f"]
    assert answer.json()["total"] == 2


async def test_task_filter_keeps_the_runs_of_that_task(http: httpx.AsyncClient, runs: object) -> None:
    answer = await http.get(BASE, params={"taskId": "t1"})
    assert ids(answer) == ["b", "a"]
    assert answer.json()["total"] == 2


async def test_tag_filter_keeps_the_runs_carrying_that_tag(http: httpx.AsyncClient, runs: object) -> None:
    answer = await http.get(BASE, params={"tag": "x"})
    assert ids(answer) == ["e", "c", "a"]
    assert answer.json()["total"] == 3


async def test_started_after_is_inclusive_and_started_before_exclusive(http: httpx.AsyncClient, runs: object) -> None:
    params = {"startedAfter": "2026-01-02T00:00:00.000Z", "startedBefore": "2026-01-04T00:00:00.000Z"}
    answer = await http.get(BASE, params=params)
    assert ids(answer) == ["c", "b"]
    assert answer.json()["total"] == 2


async def test_started_range_accepts_offsets_and_seconds_without_millis(http: httpx.AsyncClient, runs: object) -> None:
    params = {"startedAfter": "2026-01-02T01:00:00+01:00", "startedBefore": "2026-01-04T00:00:00Z"}
    assert ids(await http.get(BASE, params=params)) == ["c", "b"]


async def test_filters_combine(http: httpx.AsyncClient, runs: object) -> None:
    params = {"tag": "x", "status": "completed,cancelled", "startedAfter": "2026-01-01T00:00:00.001Z"}
    answer = await http.get(BASE, params=params)
    assert ids(answer) == ["e"]
    assert answer.json()["total"] == 1


@pytest.mark.parametrize(
    ("sort", "expected"),
    [
        ("startedAt", ["a", "b", "c", "d", "e", "f"]),
        ("-startedAt", ["f", "e", "d", "c", "b", "a"]),
        ("costUSD", ["d", "b", "c", "e", "a", "f"]),
        ("-costUSD", ["f", "a", "e", "c", "b", "d"]),
    ],
)
async def test_sort_orders_by_the_key_with_ties_broken_by_id(
    http: httpx.AsyncClient, runs: object, sort: str, expected: list[str]
) -> None:
    assert ids(await http.get(BASE, params={"sort": sort})) == expected


@pytest.mark.parametrize(
    ("sort", "expected"), [("duration", ["b", "e", "f", "a"]), ("-duration", ["a", "f", "e", "b"])]
)
async def test_sort_by_duration_orders_known_durations_with_ties_broken_by_id(
    http: httpx.AsyncClient, runs: object, sort: str, expected: list[str]
) -> None:
    listed = ids(await http.get(BASE, params={"sort": sort}))
    assert sorted(listed) == ["a", "b", "c", "d", "e", "f"]
    assert [item for item in listed if item in expected] == expected


@pytest.mark.parametrize("key", ["startedAt", "costUSD", "duration"])
async def test_descending_sort_is_the_reverse_of_ascending(http: httpx.AsyncClient, runs: object, key: str) -> None:
    ascending = ids(await http.get(BASE, params={"sort": key}))
    assert ids(await http.get(BASE, params={"sort": f"-{key}"})) == ascending[::-1]


async def test_offset_pages_through_the_list(http: httpx.AsyncClient, runs: object) -> None:
    pages = [ids(await http.get(BASE, params={"limit": 2, "offset": offset})) for offset in (0, 2, 4, 6)]
    assert pages == [["f", "e"], ["d", "c"], ["b", "a"], []]


async def test_offset_page_has_a_next_cursor_until_the_last_page(http: httpx.AsyncClient, runs: object) -> None:
    assert (await http.get(BASE, params={"limit": 2, "offset": 2})).json()["nextCursor"] is not None
    assert (await http.get(BASE, params={"limit": 2, "offset": 4})).json()["nextCursor"] is None


async def walk(http: httpx.AsyncClient, params: dict[str, Any]) -> tuple[list[str], set[int], int]:
    """Follow nextCursor from the first page; returns (ids in order, totals seen, pages fetched)."""
    seen: list[str] = []
    totals: set[int] = set()
    cursor: str | None = None
    for pages in range(1, 100):
        body = (await http.get(BASE, params={**params, **({"cursor": cursor} if cursor else {})})).json()
        seen += [summary["id"] for summary in body["executions"]]
        totals.add(body["total"])
        cursor = body["nextCursor"]
        if cursor is None:
            return seen, totals, pages
    raise AssertionError("the cursor never ended")


@pytest.mark.parametrize("limit", [1, 4])
@pytest.mark.parametrize("sort", SORTS)
async def test_cursor_paging_walks_every_item_exactly_once(
    http: httpx.AsyncClient, runs: object, sort: str, limit: int
) -> None:
    seen, totals, _ = await walk(http, {"sort": sort, "limit": limit})
    assert seen == ids(await http.get(BASE, params={"sort": sort}))
    assert totals == {6}


async def test_last_cursor_page_has_no_next_cursor(http: httpx.AsyncClient, runs: object) -> None:
    seen, _, pages = await walk(http, {"limit": 3})
    assert seen == ["f", "e", "d", "c", "b", "a"]
    assert pages == 2


async def test_cursor_paging_is_stable_when_newer_runs_arrive(http: httpx.AsyncClient, runs: object) -> None:
    first = (await http.get(BASE, params={"limit": 2})).json()
    assert [s["id"] for s in first["executions"]] == ["f", "e"]
    await put(http, "g", {"startedAt": "2026-01-07T00:00:00Z"})
    second = await http.get(BASE, params={"limit": 2, "cursor": first["nextCursor"]})
    assert ids(second) == ["d", "c"]
    assert second.json()["total"] == 7


async def test_cursor_keeps_the_filters_of_the_request(http: httpx.AsyncClient, runs: object) -> None:
    seen, totals, _ = await walk(http, {"tag": "x", "limit": 1})
    assert seen == ["e", "c", "a"]
    assert totals == {3}


async def test_cursor_made_for_another_sort_is_400(http: httpx.AsyncClient, runs: object) -> None:
    cursor = (await http.get(BASE, params={"limit": 2, "sort": "costUSD"})).json()["nextCursor"]
    error = assert_error(await http.get(BASE, params={"cursor": cursor, "sort": "-costUSD"}), 400)
    assert "cursor" in error["message"]


async def test_cursor_with_offset_is_400(http: httpx.AsyncClient, runs: object) -> None:
    cursor = (await http.get(BASE, params={"limit": 2})).json()["nextCursor"]
    error = assert_error(await http.get(BASE, params={"cursor": cursor, "offset": 2}), 400)
    assert "cursor" in error["message"]
    assert "offset" in error["message"]


@pytest.mark.parametrize(
    "cursor",
    [
        "garbage",
        "!!!",
        base64.urlsafe_b64encode(b"[1, 2]").decode(),
        base64.urlsafe_b64encode(orjson.dumps(["-startedAt", True, "a"])).decode(),
        base64.urlsafe_b64encode(orjson.dumps(["-startedAt", "x", 5])).decode(),
    ],
)
async def test_garbage_cursor_is_400(http: httpx.AsyncClient, runs: object, cursor: str) -> None:
    error = assert_error(await http.get(BASE, params={"cursor": cursor}), 400, "invalid_parameter")
    assert "cursor" in error["message"]


# -- bad parameters --------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("query", "name"),
    [
        ("limit=0", "limit"),
        ("limit=1001", "limit"),
        ("limit=abc", "limit"),
        ("limit=1.5", "limit"),
        ("offset=-1", "offset"),
        ("offset=x", "offset"),
        ("status=bogus", "status"),
        ("status=failed,bogus", "status"),
        ("status=", "status"),
        ("sort=name", "sort"),
        ("sort=-name", "sort"),
        ("startedAfter=yesterday", "startedAfter"),
        ("startedBefore=2026-13-45T00:00:00Z", "startedBefore"),
        ("taskId=.hidden", "taskId"),
        ("tag=", "tag"),
        ("foo=1", "foo"),
        ("limit=10&limit=20", "limit"),
        ("sort=costUSD&sort=duration", "sort"),
    ],
)
@pytest.mark.parametrize("project", ["demo", "nobody"])
async def test_bad_list_parameter_is_400_naming_it(
    http: httpx.AsyncClient, runs: object, project: str, query: str, name: str
) -> None:
    answer = await http.get(f"/api/projects/{project}/executions?{query}")
    error = assert_error(answer, 400)
    assert error["code"] in ("invalid_parameter", "invalid_id")
    assert name in error["message"]


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", f"{BASE}/a"),
        ("GET", f"{BASE}/stats"),
        ("DELETE", f"{BASE}/a"),
        ("DELETE", BASE),
    ],
)
async def test_endpoints_without_query_parameters_refuse_them(
    http: httpx.AsyncClient, runs: object, method: str, path: str
) -> None:
    error = assert_error(await http.request(method, f"{path}?limit=1"), 400, "invalid_parameter")
    assert "limit" in error["message"]
    assert await total(http) == 6


# -- bad bodies ------------------------------------------------------------------------------------------
BAD_BODIES = {
    "empty": b"",
    "whitespace": b"  \n",
    "invalid JSON": b'{"status": ',
    "trailing garbage": b'{"status": "running"} x',
    "array": b"[]",
    "string": b'"completed"',
    "number": b"5",
    "null": b"null",
    "status 5": b'{"status": 5}',
    "status unknown": b'{"status": "done"}',
    "costUSD string": b'{"costUSD": "1"}',
    "costUSD negative": b'{"costUSD": -1}',
    "costUSD boolean": b'{"costUSD": true}',
    "tokenUsage.input negative": b'{"tokenUsage": {"input": -1}}',
    "tokenUsage.output string": b'{"tokenUsage": {"output": "3"}}',
    "duration negative": b'{"duration": -5}',
    "tags [1]": b'{"tags": [1]}',
    "tags string": b'{"tags": "x"}',
    "startedAt nope": b'{"startedAt": "nope"}',
    "completedAt number": b'{"completedAt": 5}',
    "metadata array": b'{"metadata": []}',
    "steps object": b'{"steps": {}}',
    "taskId invalid": b'{"taskId": "../x"}',
    "nested 100 deep": b'{"input": ' + b"[" * 100 + b"]" * 100 + b"}",
    "nested 100000 deep": b'{"input": ' + b"[" * 100_000 + b"]" * 100_000 + b"}",
    "integer 2**64": b'{"input": 18446744073709551616}',
    "integer 30 digits": b'{"input": {"n": [123456789012345678901234567890]}}',
    "integer below -2**63": b'{"input": -9223372036854775809}',
    "invalid UTF-8": b'{"name": "\xff\xfe"}',
}
WRITES = [("POST", BASE), ("PUT", f"{BASE}/fresh"), ("PUT", f"{BASE}/kept"), ("PATCH", f"{BASE}/kept")]


@pytest.mark.parametrize(("method", "path"), WRITES, ids=[f"{m} {p.rsplit('/', 1)[-1]}" for m, p in WRITES])
@pytest.mark.parametrize("body", list(BAD_BODIES.values()), ids=list(BAD_BODIES))
async def test_bad_body_is_a_json_4xx_and_writes_nothing(
    http: httpx.AsyncClient, store: Storehouse, data_dir: Path, method: str, path: str, body: bytes
) -> None:
    kept = store.put_execution("demo", "kept", {"name": "kept", "status": "running", "input": {"q": 1}})
    answer = await http.request(method, path, content=body, headers={"content-type": "application/json"})
    assert 400 <= answer.status_code < 500, answer.text
    assert answer.json()["error"]["message"]
    assert await total(http) == 1
    assert (await http.get(f"{BASE}/kept")).json()["execution"] == kept
    assert names(data_dir / "projects" / "demo" / "executions") == ["kept.json"]


async def test_nesting_up_to_the_limit_is_accepted(http: httpx.AsyncClient) -> None:
    depth = 60
    body = b'{"input": ' + b"[" * depth + b"]" * depth + b"}"
    answer = await http.post(BASE, content=body, headers={"content-type": "application/json"})
    assert answer.status_code == 201, answer.text


async def test_large_64_bit_integers_are_kept_exactly(http: httpx.AsyncClient) -> None:
    body = b'{"input": {"max": 9223372036854775807, "min": -9223372036854775808}}'
    answer = await http.post(BASE, content=body, headers={"content-type": "application/json"})
    assert answer.status_code == 201, answer.text
    location = answer.headers["location"]
    assert (await http.get(location)).json()["execution"]["input"] == {"max": (1 << 63) - 1, "min": -(1 << 63)}


async def test_bad_body_message_names_the_field(http: httpx.AsyncClient) -> None:
    error = assert_error(await http.post(BASE, json={"tokenUsage": {"input": -1}}), 400, "invalid_body")
    assert "tokenUsage.input" in error["message"]


# -- ids in the path -------------------------------------------------------------------------------------
BAD_IDS = {".hidden": ".hidden", "-x": "-x", "129 chars": "a" * 129, "a b": "a%20b", "a*b": "a%2Ab", "é": "%C3%A9"}
ID_ROUTES = [
    ("GET", "/api/projects/demo/executions/{}"),
    ("PUT", "/api/projects/demo/executions/{}"),
    ("PATCH", "/api/projects/demo/executions/{}"),
    ("DELETE", "/api/projects/demo/executions/{}"),
    ("GET", "/api/projects/{}/executions"),
    ("POST", "/api/projects/{}/executions"),
    ("DELETE", "/api/projects/{}/executions"),
    ("GET", "/api/projects/{}/executions/stats"),
    ("GET", "/api/projects/{}/executions/a"),
    ("PUT", "/api/projects/{}/executions/a"),
]


@pytest.mark.parametrize(("method", "template"), ID_ROUTES, ids=[f"{m} {t}" for m, t in ID_ROUTES])
@pytest.mark.parametrize("bad", list(BAD_IDS.values()), ids=list(BAD_IDS))
async def test_invalid_id_in_the_path_is_400_invalid_id(
    http: httpx.AsyncClient, runs: object, data_dir: Path, method: str, template: str, bad: str
) -> None:
    body = None if method in ("GET", "DELETE") else {"status": "running"}
    answer = await http.request(method, template.format(bad), json=body)
    assert_error(answer, 400, "invalid_id")
    assert await total(http) == 6
    assert names(data_dir / "projects") == ["demo"]


async def test_an_id_of_128_characters_is_valid(http: httpx.AsyncClient) -> None:
    item = "a" * 128
    assert (await http.put(f"{BASE}/{item}", json={})).status_code == 201
    assert (await http.get(f"{BASE}/{item}")).json()["execution"]["id"] == item


TRAVERSALS = [
    "/api/projects/demo/executions/..%2F..%2F..%2Fsecret",
    "/api/projects/demo/executions/%2E%2E%2F%2E%2E%2F%2E%2E%2Fsecret",
    "/api/projects/demo/executions/%2E%2E",
    "/api/projects/%2E%2E/executions/secret",
    "/api/projects/..%2F..%2F../executions/secret",
    "/api/projects/..%2F..%2F..%2Fsecret/executions",
    "/api/projects/demo/executions/..%5C..%5C..%5Csecret",
    "/api/projects/demo/executions/%2Ftmp%2Fsecret",
    "/api/projects/demo/executions/..",
    "/api/projects/../../../secret",
]


SECRET = '{"status": "completed", "name": "MARKER-7f3a"}'


@pytest.mark.parametrize("path", TRAVERSALS)
async def test_dot_dot_paths_never_reach_outside_the_data_directory(
    http: httpx.AsyncClient, runs: object, tmp_path: Path, data_dir: Path, path: str
) -> None:
    secret = tmp_path / "secret.json"
    secret.write_text(SECRET)
    answer = await http.get(path)
    # 405: ".../executions/.." is shortened by the client to /api/projects/demo, a route for DELETE only, which
    # deletes nothing without confirm=demo
    assert answer.status_code in (400, 404, 405), answer.text
    assert "MARKER-7f3a" not in answer.text
    for method in ("PUT", "PATCH", "DELETE"):
        body = None if method == "DELETE" else {"name": "overwritten"}
        written = await http.request(method, path, json=body)
        assert written.status_code in (400, 404, 405), f"{method}: {written.text}"
    assert secret.read_text() == SECRET
    assert names(tmp_path) == ["data", "secret.json"]
    assert await total(http) == 6


def outside_secret(tmp_path: Path) -> Path:
    """An execution file outside the data directory, as a symlink target."""
    directory = tmp_path / "outside" / "executions"
    directory.mkdir(parents=True)
    secret = directory / "secret.json"
    secret.write_text(SECRET)
    return secret


async def test_a_symlinked_execution_file_is_not_followed(
    http: httpx.AsyncClient, tmp_path: Path, data_dir: Path
) -> None:
    secret = outside_secret(tmp_path)
    directory = data_dir / "projects" / "demo" / "executions"
    directory.mkdir(parents=True)
    (directory / "secret.json").symlink_to(secret)
    assert_error(await http.get(f"{BASE}/secret"), 404, "not_found")
    assert (await http.get(BASE)).json()["total"] == 0
    assert (await http.put(f"{BASE}/secret", json={"name": "overwritten"})).status_code in (201, 400, 404, 409)
    assert secret.read_text() == SECRET


async def test_a_symlinked_project_is_not_followed(http: httpx.AsyncClient, tmp_path: Path, data_dir: Path) -> None:
    secret = outside_secret(tmp_path)
    (data_dir / "projects" / "linked").symlink_to(secret.parent.parent)
    for method, path in [("GET", "/api/projects/linked/executions/secret"), ("GET", "/api/projects/linked/executions")]:
        answer = await http.request(method, path)
        assert answer.status_code >= 400
        assert "MARKER-7f3a" not in answer.text
    written = await http.put("/api/projects/linked/executions/secret", json={"name": "overwritten"})
    assert written.status_code >= 400
    assert secret.read_text() == SECRET
    assert names(secret.parent) == ["secret.json"]


async def test_projects_listing_skips_a_symlinked_project(
    http: httpx.AsyncClient, tmp_path: Path, data_dir: Path
) -> None:
    (data_dir / "projects" / "linked").symlink_to(outside_secret(tmp_path).parent.parent)
    await put(http, "a", {"startedAt": "2026-01-01T00:00:00Z"})
    answer = await http.get("/api/projects")
    assert answer.status_code == 200, answer.text
    assert [project["id"] for project in answer.json()["projects"]] == ["demo"]


# -- files written by the original system ----------------------------------------------------------------
LEGACY = {
    "id": "run-1",
    "projectId": "legacy",
    "taskId": "task-7",
    "name": "triage",
    "status": "completed",
    "startedAt": "2026-01-05T10:00:00Z",
    "completedAt": "2026-01-05T10:00:05Z",
    "duration": 5000,
    "tokenUsage": {"input": 100, "output": 20, "total": 120},
    "costUSD": 0.01,
    "error": None,
    "input": {"prompt": "why?"},
    "output": {"answer": "because"},
    "steps": [
        {"id": "s1", "name": "plan", "agent": "planner", "status": "completed", "startedAt": "2026-01-05T10:00:01Z"}
    ],
    "tags": ["imported"],
    "metadata": {"engine": "original"},
}


def place(data_dir: Path, project: str, item: str, content: bytes) -> None:
    """Write an execution file by hand, as the original system (or a person) would."""
    directory = data_dir / "projects" / project / "executions"
    directory.mkdir(parents=True, exist_ok=True)
    (directory / f"{item}.json").write_bytes(content)


async def test_original_system_file_is_listed(http: httpx.AsyncClient, data_dir: Path) -> None:
    place(data_dir, "legacy", "run-1", orjson.dumps(LEGACY, option=orjson.OPT_INDENT_2))
    body = (await http.get("/api/projects/legacy/executions")).json()
    assert body["total"] == 1
    [summary] = body["executions"]
    assert summary["id"] == "run-1"
    assert summary["startedAt"] == "2026-01-05T10:00:00.000Z"
    assert summary["completedAt"] == "2026-01-05T10:00:05.000Z"
    assert (summary["tokenUsage"], summary["costUSD"], summary["tags"]) == (LEGACY["tokenUsage"], 0.01, ["imported"])


async def test_original_system_file_is_served_as_version_1_with_normalised_timestamps(
    http: httpx.AsyncClient, data_dir: Path
) -> None:
    place(data_dir, "legacy", "run-1", orjson.dumps(LEGACY, option=orjson.OPT_INDENT_2))
    answer = await http.get("/api/projects/legacy/executions/run-1")
    assert answer.status_code == 200
    document = answer.json()["execution"]
    assert document["version"] == 1
    assert answer.headers["etag"] == '"1"'
    assert document["startedAt"] == "2026-01-05T10:00:00.000Z"
    assert document["completedAt"] == "2026-01-05T10:00:05.000Z"
    assert document["steps"][0]["startedAt"] == "2026-01-05T10:00:01.000Z"
    for name in ("input", "output", "metadata", "taskId", "name", "duration"):
        assert document[name] == LEGACY[name]


async def test_original_system_file_is_counted_in_stats(http: httpx.AsyncClient, data_dir: Path) -> None:
    place(data_dir, "legacy", "run-1", orjson.dumps(LEGACY))
    place(data_dir, "legacy", "run-2", orjson.dumps({**LEGACY, "id": "run-2", "status": "failed", "costUSD": 0.02}))
    stats = (await http.get("/api/projects/legacy/executions/stats")).json()
    assert (stats["totalExecutions"], stats["completed"], stats["failed"], stats["totalTokens"]) == (2, 1, 1, 240)
    assert stats["totalCostUSD"] == pytest.approx(0.03)


async def test_original_system_file_without_optional_fields_is_served(http: httpx.AsyncClient, data_dir: Path) -> None:
    place(data_dir, "legacy", "bare", b'{"status": "running", "startedAt": "2026-01-05T10:00:05Z"}')
    document = (await http.get("/api/projects/legacy/executions/bare")).json()["execution"]
    assert (document["id"], document["projectId"], document["version"]) == ("bare", "legacy", 1)
    assert document["startedAt"] == "2026-01-05T10:00:05.000Z"


async def test_original_system_file_can_be_patched_to_version_2(http: httpx.AsyncClient, data_dir: Path) -> None:
    place(data_dir, "legacy", "run-1", orjson.dumps(LEGACY))
    answer = await http.patch(
        "/api/projects/legacy/executions/run-1", json={"name": "renamed"}, headers={"If-Match": "1"}
    )
    assert answer.status_code == 200, answer.text
    document = answer.json()["execution"]
    assert (document["version"], document["name"], document["output"]) == (2, "renamed", LEGACY["output"])
    assert document["startedAt"] == "2026-01-05T10:00:00.000Z"


@pytest.mark.parametrize(
    "content",
    [
        b"{not json",
        b"",
        b"\x00\x01\x02",
        b"[1, 2, 3]",
        b'{"status": "weird"}',
        b'{"status": "completed", "costUSD": -3}',
        b'{"status": "completed", "startedAt": "last tuesday"}',
    ],
    ids=["broken JSON", "empty", "binary", "array", "unknown status", "negative cost", "bad timestamp"],
)
async def test_garbage_file_is_skipped_by_list_and_404_on_get(
    http: httpx.AsyncClient, data_dir: Path, content: bytes
) -> None:
    place(data_dir, "legacy", "run-1", orjson.dumps(LEGACY))
    place(data_dir, "legacy", "broken", content)
    listed = await http.get("/api/projects/legacy/executions")
    assert ids(listed) == ["run-1"]
    assert listed.json()["total"] == 1
    assert_error(await http.get("/api/projects/legacy/executions/broken"), 404, "not_found")
    assert (await http.get("/api/projects/legacy/executions/stats")).json()["totalExecutions"] == 1


# -- projects --------------------------------------------------------------------------------------------
async def test_projects_lists_ids_counts_cost_tasks_and_last_start(http: httpx.AsyncClient) -> None:
    await put(http, "a1", {"startedAt": "2026-01-01T00:00:00Z", "costUSD": 0.1}, project="alpha")
    await put(http, "a2", {"startedAt": "2026-02-01T00:00:00Z", "costUSD": 0.2}, project="alpha")
    await put(http, "b1", {"startedAt": "2026-01-15T00:00:00Z"}, project="beta")
    assert (await http.post("/api/projects/beta/tasks", json={"title": "one"})).status_code == 201
    assert (await http.post("/api/projects/gamma/tasks", json={"title": "tasks only"})).status_code == 201
    assert (await http.post("/api/projects/delta/tasks/t1/history", json={"type": "log"})).status_code == 201
    answer = await http.get("/api/projects")
    assert answer.status_code == 200
    assert answer.json() == {
        "projects": [
            {
                "id": "alpha",
                "executionCount": 2,
                "lastStartedAt": "2026-02-01T00:00:00.000Z",
                "costUSD": 0.3,
                "taskCount": 0,
            },
            {
                "id": "beta",
                "executionCount": 1,
                "lastStartedAt": "2026-01-15T00:00:00.000Z",
                "costUSD": 0.0,
                "taskCount": 1,
            },
            {"id": "delta", "executionCount": 0, "lastStartedAt": None, "costUSD": 0.0, "taskCount": 0},
            {"id": "gamma", "executionCount": 0, "lastStartedAt": None, "costUSD": 0.0, "taskCount": 1},
        ],
        "total": 4,
    }


async def test_projects_is_empty_on_a_new_data_directory(http: httpx.AsyncClient) -> None:
    assert (await http.get("/api/projects")).json() == {"projects": [], "total": 0}


async def test_projects_include_those_written_by_the_original_system(http: httpx.AsyncClient, data_dir: Path) -> None:
    place(data_dir, "legacy", "run-1", orjson.dumps(LEGACY))
    body = (await http.get("/api/projects")).json()
    assert [(p["id"], p["executionCount"], p["lastStartedAt"]) for p in body["projects"]] == [
        ("legacy", 1, "2026-01-05T10:00:00.000Z")
    ]


@pytest.mark.parametrize(
    "content_type", ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data", None]
)
async def test_a_body_not_declared_as_json_is_415_and_writes_nothing(
    http: httpx.AsyncClient, data_dir: Path, content_type: str | None
) -> None:
    # what a web page can send cross-site without a CORS preflight must not reach the store
    headers = {"content-type": content_type} if content_type else {}
    answer = await http.post(BASE, content=b'{"status": "running"}', headers=headers)
    assert answer.status_code == 415
    assert answer.json()["error"]["code"] == "unsupported_media_type"
    assert (await http.get(BASE)).json()["total"] == 0


async def test_merge_patch_json_is_accepted_as_json(http: httpx.AsyncClient) -> None:
    await http.put(f"{BASE}/a", json={"status": "running"})
    answer = await http.patch(
        f"{BASE}/a", content=b'{"status": "completed"}', headers={"content-type": "application/merge-patch+json"}
    )
    assert answer.json()["execution"]["status"] == "completed"


async def test_stats_is_a_reserved_execution_id(http: httpx.AsyncClient) -> None:
    answer = await http.put(f"{BASE}/stats", json={"status": "running"})
    assert answer.status_code == 400
    assert "reserved" in answer.json()["error"]["message"]
    assert (await http.post(BASE, json={"id": "stats"})).status_code == 400
    assert (await http.get(f"{BASE}/stats")).json()["totalExecutions"] == 0


@pytest.mark.parametrize("value", ['"²"', '"-1"', '"1.5"', '"abc"', '"1234567890123456789"'])
async def test_if_match_that_is_not_a_version_is_400(http: httpx.AsyncClient, value: str) -> None:
    # "²".isdigit() is True in Python, but int() refuses it: it must be a 400, not a 500
    await http.put(f"{BASE}/a", json={"status": "running"})
    answer = await http.patch(f"{BASE}/a", json={"status": "completed"}, headers={b"If-Match": value.encode("latin-1")})
    assert answer.status_code == 400
    assert "If-Match" in answer.json()["error"]["message"]


# -- search (q) ------------------------------------------------------------------------------------------
async def test_search_matches_an_id_prefix_or_a_name_fragment_in_either_case(http: httpx.AsyncClient) -> None:
    names = {"run-a1": "Fix flaky test", "run-a2": "triage FLAKY build", "run-b1": "write notes", "other": "100%_done"}
    for item, name in names.items():
        await put(http, item, {"name": name, "status": "failed" if item.endswith("1") else "completed"})

    async def found(**params: str) -> tuple[list[str], int]:
        answer = await http.get("/api/projects/demo/executions", params={"sort": "startedAt", **params})
        assert answer.status_code == 200, answer.text
        return sorted(ids(answer)), answer.json()["total"]

    assert await found(q="run-a") == (["run-a1", "run-a2"], 2)
    assert await found(q="RUN-B") == (["run-b1"], 1)
    assert await found(q="flaky") == (["run-a1", "run-a2"], 2)
    assert await found(q="flaky", status="failed") == (["run-a1"], 1)
    assert await found(q="%") == (["other"], 1)  # LIKE's wildcards are plain characters here
    assert await found(q="_") == (["other"], 1)
    assert await found(q="nothing like it") == ([], 0)
    first = (await http.get("/api/projects/demo/executions", params={"q": "flaky", "limit": 1})).json()
    rest = (
        await http.get("/api/projects/demo/executions", params={"q": "flaky", "cursor": first["nextCursor"]})
    ).json()
    assert {first["executions"][0]["id"], rest["executions"][0]["id"]} == {"run-a1", "run-a2"}
    assert rest["nextCursor"] is None


@pytest.mark.parametrize("q", ["", "x" * 201])
async def test_search_too_short_or_too_long_is_400(http: httpx.AsyncClient, q: str) -> None:
    assert_error(await http.get("/api/projects/demo/executions", params={"q": q}), 400, "invalid_parameter")
