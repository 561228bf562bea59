"""The rules of execution documents: managed fields, derived fields, and JSON merge patch."""

from __future__ import annotations

from typing import Any

import pytest

from storehouse.errors import InvalidBody, NotFound
from storehouse.executions import merge_patch, patch, prepare

T0 = "2026-01-05T10:00:00.000Z"
T1 = "2026-01-05T10:00:05.250Z"
T2 = "2026-01-05T11:00:00.000Z"


def test_prepare_on_create_sets_version_1_and_timestamps_to_now() -> None:
    document = prepare({"name": "triage"}, "p", "x", None, T1)
    assert (document["id"], document["projectId"], document["version"]) == ("x", "p", 1)
    assert document["createdAt"] == document["updatedAt"] == document["startedAt"] == T1
    assert document["status"] == "pending"
    assert document["completedAt"] is None
    assert document["duration"] is None


def test_prepare_on_update_increments_version_and_keeps_created_at() -> None:
    previous = prepare({"name": "a"}, "p", "x", None, T0)
    previous["version"] = 4
    document = prepare({"name": "b"}, "p", "x", previous, T2)
    assert document["version"] == 5
    assert document["createdAt"] == T0
    assert document["updatedAt"] == T2


def test_prepare_keeps_previous_started_at_when_the_body_has_none() -> None:
    previous = prepare({"startedAt": T0}, "p", "x", None, T0)
    assert prepare({"name": "b"}, "p", "x", previous, T2)["startedAt"] == T0


def test_prepare_ignores_managed_fields_in_the_body() -> None:
    body = {"version": 99, "createdAt": T0, "updatedAt": T0}
    document = prepare(body, "p", "x", None, T2)
    assert (document["version"], document["createdAt"], document["updatedAt"]) == (1, T2, T2)


@pytest.mark.parametrize("status", ["completed", "failed", "cancelled"])
def test_prepare_sets_completed_at_and_duration_on_a_final_status(status: str) -> None:
    document = prepare({"status": status, "startedAt": T0}, "p", "x", None, T1)
    assert document["completedAt"] == T1
    assert document["duration"] == 5250


@pytest.mark.parametrize("status", ["pending", "running"])
def test_prepare_leaves_completed_at_empty_on_a_live_status(status: str) -> None:
    document = prepare({"status": status, "startedAt": T0}, "p", "x", None, T1)
    assert document["completedAt"] is None
    assert document["duration"] is None


def test_prepare_derives_duration_from_given_timestamps() -> None:
    document = prepare({"status": "completed", "startedAt": T0, "completedAt": T2}, "p", "x", None, T1)
    assert document["completedAt"] == T2
    assert document["duration"] == 3_600_000


def test_prepare_keeps_a_given_duration() -> None:
    document = prepare({"status": "completed", "startedAt": T0, "completedAt": T2, "duration": 7}, "p", "x", None, T1)
    assert document["duration"] == 7


@pytest.mark.parametrize(
    ("body", "field"),
    [({"id": "other"}, "id"), ({"projectId": "other"}, "projectId")],
)
def test_prepare_refuses_a_body_naming_another_id_or_project(body: dict[str, Any], field: str) -> None:
    with pytest.raises(InvalidBody, match=field):
        prepare(body, "p", "x", None, T0)


def test_prepare_accepts_a_body_naming_its_own_id_and_project() -> None:
    assert prepare({"id": "x", "projectId": "p"}, "p", "x", None, T0)["id"] == "x"


@pytest.mark.parametrize("body", [[], "x", None, 3])
def test_prepare_refuses_a_body_that_is_not_an_object(body: object) -> None:
    with pytest.raises(InvalidBody, match="JSON object"):
        prepare(body, "p", "x", None, T0)


def test_patch_merges_nested_objects_and_removes_null_keys() -> None:
    previous = prepare({"metadata": {"a": 1, "b": {"c": 2, "d": 3}, "e": [1, 2]}}, "p", "x", None, T0)
    document = patch(previous, {"metadata": {"a": None, "b": {"c": 5}, "e": [3]}}, "p", "x", T1)
    assert document["metadata"] == {"b": {"c": 5, "d": 3}, "e": [3]}


def test_patch_null_resets_a_top_level_field() -> None:
    previous = prepare({"error": "boom", "name": "n"}, "p", "x", None, T0)
    document = patch(previous, {"error": None}, "p", "x", T1)
    assert document["error"] is None
    assert document["name"] == "n"


def test_patch_replaces_lists_whole() -> None:
    previous = prepare({"tags": ["a", "b"]}, "p", "x", None, T0)
    assert patch(previous, {"tags": ["c"]}, "p", "x", T1)["tags"] == ["c"]


def test_patch_increments_version_and_keeps_untouched_fields() -> None:
    previous = prepare({"name": "n", "input": {"q": 1}}, "p", "x", None, T0)
    document = patch(previous, {"output": "done"}, "p", "x", T1)
    assert document["version"] == 2
    assert (document["name"], document["input"], document["output"]) == ("n", {"q": 1}, "done")
    assert (document["createdAt"], document["updatedAt"]) == (T0, T1)


def test_patch_to_completed_sets_completed_at_and_duration() -> None:
    previous = prepare({"status": "running", "startedAt": T0}, "p", "x", None, T0)
    document = patch(previous, {"status": "completed"}, "p", "x", T1)
    assert (document["completedAt"], document["duration"]) == (T1, 5250)


@pytest.mark.parametrize("status", ["running", "pending"])
def test_patch_back_to_a_live_status_clears_completed_at_and_duration(status: str) -> None:
    previous = prepare({"status": "failed", "startedAt": T0}, "p", "x", None, T1)
    assert previous["completedAt"] == T1
    document = patch(previous, {"status": status}, "p", "x", T2)
    assert document["completedAt"] is None
    assert document["duration"] is None


def test_patch_of_started_at_derives_duration_again() -> None:
    previous = prepare({"status": "completed", "startedAt": T0, "completedAt": T2}, "p", "x", None, T2)
    document = patch(previous, {"startedAt": "2026-01-05T10:59:59.000Z"}, "p", "x", T2)
    assert document["duration"] == 1000


def test_patch_of_token_input_derives_total_again() -> None:
    previous = prepare({"tokenUsage": {"input": 1, "output": 2}}, "p", "x", None, T0)
    document = patch(previous, {"tokenUsage": {"input": 10}}, "p", "x", T1)
    assert document["tokenUsage"] == {"input": 10, "output": 2, "total": 12}


def test_patch_of_nothing_stored_is_not_found() -> None:
    with pytest.raises(NotFound):
        patch(None, {"status": "completed"}, "p", "x", T0)


@pytest.mark.parametrize("changes", [[], "completed", None, 1])
def test_patch_that_is_not_an_object_is_invalid_body(changes: object) -> None:
    previous = prepare({}, "p", "x", None, T0)
    with pytest.raises(InvalidBody, match="merge patch"):
        patch(previous, changes, "p", "x", T1)


def test_patch_producing_an_invalid_document_is_invalid_body() -> None:
    previous = prepare({}, "p", "x", None, T0)
    with pytest.raises(InvalidBody, match="status"):
        patch(previous, {"status": "done"}, "p", "x", T1)


# RFC 7396 appendix A, plus a deeper case
@pytest.mark.parametrize(
    ("target", "changes", "expected"),
    [
        ({"a": "b"}, {"a": "c"}, {"a": "c"}),
        ({"a": "b"}, {"b": "c"}, {"a": "b", "b": "c"}),
        ({"a": "b"}, {"a": None}, {}),
        ({"a": "b", "b": "c"}, {"a": None}, {"b": "c"}),
        ({"a": ["b"]}, {"a": "c"}, {"a": "c"}),
        ({"a": "c"}, {"a": ["b"]}, {"a": ["b"]}),
        ({"a": {"b": "c"}}, {"a": {"b": "d", "c": None}}, {"a": {"b": "d"}}),
        ({"a": [{"b": "c"}]}, {"a": [1]}, {"a": [1]}),
        (["a", "b"], ["c", "d"], ["c", "d"]),
        ({"a": "b"}, ["c"], ["c"]),
        ({"a": "foo"}, None, None),
        ({"a": "foo"}, "bar", "bar"),
        ({"e": None}, {"a": 1}, {"e": None, "a": 1}),
        ([1, 2], {"a": "b", "c": None}, {"a": "b"}),
        ({}, {"a": {"bb": {"ccc": None}}}, {"a": {"bb": {}}}),
        (
            {"a": {"b": {"c": {"d": 1, "e": 2}}}},
            {"a": {"b": {"c": {"e": None, "f": 3}}}},
            {"a": {"b": {"c": {"d": 1, "f": 3}}}},
        ),
    ],
)
def test_merge_patch_follows_rfc_7396(target: Any, changes: Any, expected: Any) -> None:
    assert merge_patch(target, changes) == expected


def test_merge_patch_leaves_the_target_unchanged() -> None:
    target = {"a": {"b": 1}, "c": 2}
    merge_patch(target, {"a": {"b": None}, "c": None})
    assert target == {"a": {"b": 1}, "c": 2}
