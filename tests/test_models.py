"""Models: timestamp normalisation, validation messages, derived fields, file load and dump, roundtrips."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from storehouse import Settings, Storehouse
from storehouse.errors import InvalidBody
from storehouse.ids import new_id
from storehouse.models import (
    MAX_TOKENS,
    MAX_VERSION,
    dump_execution,
    load_execution,
    normalize_timestamp,
    validate_execution,
)


@pytest.mark.parametrize(
    ("given_text", "expected"),
    [
        pytest.param("2026-01-05T10:00:05.000Z", "2026-01-05T10:00:05.000Z", id="canonical"),
        pytest.param("2026-01-05T10:00:05Z", "2026-01-05T10:00:05.000Z", id="z-no-fraction"),
        pytest.param("2026-01-05T10:00:05z", "2026-01-05T10:00:05.000Z", id="lower-z"),
        pytest.param("2026-01-05T12:00:05+02:00", "2026-01-05T10:00:05.000Z", id="plus-offset"),
        pytest.param("2026-01-05T01:30:00-05:00", "2026-01-05T06:30:00.000Z", id="minus-offset"),
        pytest.param("2026-01-05T00:30:00+02:00", "2026-01-04T22:30:00.000Z", id="offset-crosses-day"),
        pytest.param("2026-01-05T10:00:05.123456Z", "2026-01-05T10:00:05.123Z", id="microseconds-to-ms"),
        pytest.param("2026-01-05T10:00:05.5Z", "2026-01-05T10:00:05.500Z", id="tenths"),
        pytest.param("2026-01-05T10:00:05", "2026-01-05T10:00:05.000Z", id="naive-is-utc"),
        pytest.param("2026-01-05T10:00:05.250+00:00", "2026-01-05T10:00:05.250Z", id="zero-offset"),
    ],
)
def test_timestamps_are_normalised_to_utc_milliseconds(given_text: str, expected: str) -> None:
    assert normalize_timestamp(given_text) == expected
    assert validate_execution({"startedAt": given_text})["startedAt"] == expected


def test_naive_datetime_is_taken_as_utc() -> None:
    assert normalize_timestamp(datetime(2026, 1, 5, 10, 0, 5, 999999)) == "2026-01-05T10:00:05.999Z"


@pytest.mark.parametrize(
    "value",
    [
        "yesterday",
        "2026-13-01T00:00:00Z",
        "",
        12,
        None,
        "2026-01-05T10:00:05+99:00",
        "0001-01-01T00:00:00+01:00",
        "9999-12-31T23:59:59-01:00",
    ],
)
def test_bad_timestamp_is_refused(value: object) -> None:
    with pytest.raises(ValueError, match="RFC 3339"):
        normalize_timestamp(value)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"status": "bogus"}, "status"),
        ({"status": None}, "status"),
        ({"name": 5}, "name"),
        ({"taskId": "../x"}, "taskId"),
        ({"id": ".x"}, "id"),
        ({"projectId": "a/b"}, "projectId"),
        ({"startedAt": "yesterday"}, "startedAt"),
        ({"completedAt": 5}, "completedAt"),
        ({"duration": -5}, "duration"),
        ({"duration": True}, "duration"),
        ({"duration": 1.5}, "duration"),
        ({"tokenUsage": {"input": -1}}, "tokenUsage.input"),
        ({"tokenUsage": {"output": "3"}}, "tokenUsage.output"),
        ({"tokenUsage": {"input": 1 << 63}}, "tokenUsage.input"),
        ({"tokenUsage": {"output": MAX_TOKENS + 1}}, "tokenUsage.output"),
        ({"tokenUsage": {"total": MAX_TOKENS + 1}}, "tokenUsage.total"),
        ({"tokenUsage": {"input": MAX_TOKENS, "output": 1}}, "tokenUsage"),  # the total it would default to
        ({"steps": [{"tokenUsage": {"input": (1 << 63) - 1}}]}, "steps.0.tokenUsage.input"),
        ({"version": MAX_VERSION + 1}, "version"),
        ({"version": (1 << 63) - 1}, "version"),
        ({"tokenUsage": "many"}, "tokenUsage"),
        ({"costUSD": -1}, "costUSD"),
        ({"costUSD": "1"}, "costUSD"),
        ({"costUSD": True}, "costUSD"),
        ({"error": 3}, "error"),
        ({"tags": "x"}, "tags"),
        ({"tags": [1]}, "tags.0"),
        ({"metadata": []}, "metadata"),
        ({"steps": "x"}, "steps"),
        ({"steps": [{"startedAt": "bad"}]}, "steps.0.startedAt"),
        ({"steps": [{}, {"costUSD": -2}]}, "steps.1.costUSD"),
        ({"version": -1}, "version"),
        ({"duration": 1 << 64}, "duration"),
        ({"name": 1 << 64}, "name"),
        ({"costUSD": 10**400}, "costUSD"),
        ({"startedAt": "0001-01-01T00:00:00+01:00"}, "startedAt"),
        ({"completedAt": "9999-12-31T23:59:59-01:00"}, "completedAt"),
    ],
)
def test_validation_error_names_the_field(body: dict[str, Any], field: str) -> None:
    with pytest.raises(InvalidBody) as caught:
        validate_execution(body)
    assert caught.value.message.startswith(f"{field}:")
    assert caught.value.status == 400


@pytest.mark.parametrize("body", [[], "x", 3, None])
def test_execution_that_is_not_an_object_is_refused(body: object) -> None:
    with pytest.raises(InvalidBody, match="JSON object"):
        validate_execution(body)


def test_token_usage_total_is_derived_from_input_and_output() -> None:
    assert validate_execution({"tokenUsage": {"input": 3, "output": 4}})["tokenUsage"] == {
        "input": 3,
        "output": 4,
        "total": 7,
    }


def test_token_usage_total_given_is_kept() -> None:
    assert validate_execution({"tokenUsage": {"input": 3, "output": 4, "total": 10}})["tokenUsage"]["total"] == 10


def test_token_counts_and_version_up_to_the_exact_json_maximum_are_kept() -> None:
    usage = {"input": MAX_TOKENS, "output": 0, "total": MAX_TOKENS}
    document = validate_execution({"tokenUsage": usage, "version": MAX_VERSION})
    assert (document["tokenUsage"], document["version"]) == (usage, MAX_VERSION)
    assert MAX_TOKENS == MAX_VERSION == 2**53 - 1  # a double holds every integer up to it: JS clients see it exactly


def test_a_file_with_a_token_count_of_2_63_minus_1_is_refused_naming_the_field() -> None:
    raw = orjson.dumps({"status": "completed", "tokenUsage": {"input": (1 << 63) - 1}})
    with pytest.raises(InvalidBody, match=r"^tokenUsage\.input: .*9007199254740991"):
        load_execution(raw, "demo", "old")


def test_step_token_usage_total_is_derived() -> None:
    document = validate_execution({"steps": [{"name": "plan", "tokenUsage": {"input": 1, "output": 2}}]})
    assert document["steps"][0]["tokenUsage"]["total"] == 3


def test_unknown_fields_are_kept() -> None:
    document = validate_execution(
        {"workflowRunner": {"host": "a", "pid": 1}, "legacyFlag": True, "steps": [{"name": "s", "retries": 2}]}
    )
    assert document["workflowRunner"] == {"host": "a", "pid": 1}
    assert document["legacyFlag"] is True
    assert document["steps"][0]["retries"] == 2


def test_load_execution_fills_id_project_and_version_from_the_path() -> None:
    raw = orjson.dumps({"name": "old", "status": "completed", "startedAt": "2025-01-01T00:00:00Z"})
    document = load_execution(raw, "proj", "run-1")
    assert (document["id"], document["projectId"], document["version"]) == ("run-1", "proj", 1)
    assert document["startedAt"] == "2025-01-01T00:00:00.000Z"


def test_load_execution_keeps_a_stored_version() -> None:
    assert load_execution(orjson.dumps({"version": 7}), "p", "x")["version"] == 7


@pytest.mark.parametrize("raw", [b"", b"{", b"not json", b'{"status": "bogus"}', b"[]"])
def test_load_execution_of_bad_bytes_is_invalid_body(raw: bytes) -> None:
    with pytest.raises(InvalidBody):
        load_execution(raw, "p", "x")


def test_dump_execution_is_indented_json_with_final_newline() -> None:
    raw = dump_execution({"id": "x", "metadata": {"a": 1}})
    assert raw.endswith(b"}\n")
    assert b'\n  "metadata": {\n    "a": 1\n  }' in raw
    assert orjson.loads(raw) == {"id": "x", "metadata": {"a": 1}}


@pytest.mark.parametrize("value", [1 << 64, -(1 << 63) - 1, 1 << 100])
def test_dump_execution_of_an_int_beyond_64_bits_is_invalid_body(value: int) -> None:
    with pytest.raises(InvalidBody):
        dump_execution({"id": "x", "metadata": {"big": value}})


# -- roundtrip through a real store --------------------------------------------------------------------

INT64 = st.integers(min_value=-(1 << 63), max_value=(1 << 63) - 1)
JSON_SCALARS = st.none() | st.booleans() | INT64 | st.floats(allow_nan=False, allow_infinity=False) | st.text()
# nested JSON up to a few levels: max_leaves bounds the size, the recursion depth stays small
JSON_VALUES = st.recursive(
    JSON_SCALARS,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=12,
)
EXECUTIONS = st.fixed_dictionaries(
    {
        "name": st.none() | st.text(),
        "tags": st.lists(st.text(max_size=20), max_size=5),
        "input": JSON_VALUES,
        "metadata": st.dictionaries(st.text(max_size=8), JSON_VALUES, max_size=5),
        "tokenUsage": st.fixed_dictionaries(
            {"input": st.integers(0, MAX_TOKENS // 2), "output": st.integers(0, MAX_TOKENS // 2)}
        ),
        "duration": st.none() | st.integers(0, (1 << 63) - 1),
    }
)


@pytest.fixture(scope="module")
def shared_store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Storehouse]:
    with Storehouse(settings=Settings(data_dir=tmp_path_factory.mktemp("data"), durable=False)) as opened:
        yield opened


# 200 examples (derandomized, so the same 200 every run) keep this near 2 s. Hypothesis cannot reset a
# function-scoped fixture between examples, so they share one non-durable store, each in a new project.
@settings(max_examples=200, deadline=None, derandomize=True, database=None)
@given(execution=EXECUTIONS)
def test_execution_survives_create_and_get_unchanged(shared_store: Storehouse, execution: dict[str, Any]) -> None:
    project = new_id()
    created = shared_store.create_execution(project, execution)
    stored = shared_store.get_execution(project, created["id"])
    for name in ("name", "tags", "input", "metadata", "duration"):
        assert stored[name] == execution[name], name
        assert created[name] == execution[name], name
    usage = execution["tokenUsage"]
    assert stored["tokenUsage"] == {**usage, "total": usage["input"] + usage["output"]}
    summary = shared_store.list_executions(project).items[0]
    assert (summary["name"], summary["tags"]) == (execution["name"], execution["tags"])
