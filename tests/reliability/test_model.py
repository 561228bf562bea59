"""Model-based test: random sequences of operations on a real store, compared step by step with a plain model.

A hypothesis ``RuleBasedStateMachine`` drives a ``Storehouse`` on a real temp directory (durable writes, the
SQLite index, the lock file) through creates (with and without ids), puts, merge patches, conditional writes
(``if_match`` right and stale), deletes, gets, filtered and sorted listings paged by offset and by cursor,
stats and the project list; it also closes and reopens the store, opens a second handle on the same directory
and works through either, deletes the index file and reopens, reindexes, and runs ``check``.

The model is a dict of dicts, written here from the documented rules (README "An execution", the docstrings
of ``storehouse.executions``): ``duration`` and ``tokenUsage.total`` derived when not given, ``completedAt``
set on a final status, ``version`` + 1 per write, merge patch where ``null`` removes a key; list order by the
sort key with ties broken by id; stats as sums over the documents. Every answer (documents, versions, errors,
pages, totals, cursors, stats, projects, the files on disk) is compared with it; the harness counts the
divergences and must see none. A second, cheaper model run pages deep into 1,200 executions (offsets past the
index's anchors, cursors to the end) with writes in between, and asks pairs of deep pages whose listings differ in
one field only (a cache keyed on less than the whole listing answers the second with the first's rows). Both
draw every filter of a listing (status, taskId, tag, the startedAt bounds, q, sort); a test keeps them in step
with the store's ``ListQuery``.

Each goes red on a bug planted for the test (a patch that keeps the version, a page that skips a row, a deep
offset that lands one row off, deep anchors that ignore q). The bugs the harness found in storehouse (an offset
beyond 64 bits, stats sums past 64 bits) are fixed, and each has a test of its own at the end.
"""

from __future__ import annotations

import functools
import os
import random
import re
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, fields, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, ClassVar

import orjson
import pytest
from hypothesis import HealthCheck, Phase, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule, run_state_machine_as_test

import storehouse.executions
import storehouse.index
import storehouse.store
from storehouse import (
    Conflict,
    InvalidBody,
    InvalidId,
    InvalidParameter,
    NotFound,
    PreconditionFailed,
    Settings,
    Storehouse,
    StorehouseError,
)
from storehouse.index import Index, ListQuery, Page
from storehouse.models import MAX_TOKENS
from tests.conftest import soak

MAX_EXAMPLES = 150
STEPS = 30

Doc = dict[str, Any]
ErrorType = type[StorehouseError] | None

PROJECTS = ("alpha", "beta")
GIVEN_IDS = ("a", "b", "c", "d-1", "e.2")
RESERVED = "stats"  # a valid id, but the path of the stats route: writes refuse it, reads find nothing
MALFORMED_IDS = ("bad id", "../up", ".hidden")  # not 1-128 of A-Za-z0-9._- (or starting with '.')
STATUSES = ("pending", "running", "completed", "failed", "cancelled")
FINAL = frozenset({"completed", "failed", "cancelled"})
SORTS = ("-startedAt", "startedAt", "-costUSD", "costUSD", "-duration", "duration")
TAGS = ("x", "y", "z")
TASKS = ("T1", "T2")
# Timestamps as a client may send them, and the canonical form the store keeps (UTC, milliseconds). Several
# starts are the same instant written differently: ties in the startedAt order, broken by id.
STARTS = {
    "2026-01-05T10:00:05Z": "2026-01-05T10:00:05.000Z",
    "2026-01-05T10:00:05.000Z": "2026-01-05T10:00:05.000Z",
    "2026-01-05T11:00:05.000+01:00": "2026-01-05T10:00:05.000Z",
    "2026-01-05T10:00:05.250Z": "2026-01-05T10:00:05.250Z",
    "2026-01-05T10:00:05.123456Z": "2026-01-05T10:00:05.123Z",
    "2026-01-04T23:59:59.999Z": "2026-01-04T23:59:59.999Z",
    "2026-01-06T00:00:00.000Z": "2026-01-06T00:00:00.000Z",
}
ENDS = {
    "2026-01-05T10:00:06Z": "2026-01-05T10:00:06.000Z",
    "2026-01-05T09:00:00.000Z": "2026-01-05T09:00:00.000Z",  # before most starts: duration 0, never negative
    "2026-01-07T00:00:00.000+00:00": "2026-01-07T00:00:00.000Z",
}
BOUNDS = {  # startedAfter / startedBefore
    "2026-01-05T10:00:05Z": "2026-01-05T10:00:05.000Z",
    "2026-01-05T10:00:05.200Z": "2026-01-05T10:00:05.200Z",
    "2026-01-06T01:00:00+01:00": "2026-01-06T00:00:00.000Z",
}
# q: an id prefix or a name substring, ASCII letters in either case (README "List parameters"); "%" and "_" are
# LIKE's wildcards in SQL and must match only themselves
SEARCHES = ("a", "A", "TRI", "iag", "sum", "VIEW", "d-", "E.2", "0", "%", "_", "zz")
CANONICAL_TIME = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z")
STEP_FIELDS = ("id", "name", "agent", "status", "startedAt", "completedAt", "tokenUsage", "costUSD", "input",
               "output", "error")  # fmt: skip
SUMMARY_FIELDS = ("id", "projectId", "taskId", "name", "status", "startedAt", "completedAt", "duration",
                  "tokenUsage", "costUSD", "error", "tags")  # fmt: skip
# One wrong field spoils a body: the write is refused with InvalidBody and nothing changes.
INVALID_FIELDS: tuple[Doc, ...] = (
    {"status": "bogus"},
    {"costUSD": -1},
    {"costUSD": True},
    {"tokenUsage": {"input": -1}},
    {"tags": "x"},
    {"startedAt": "yesterday"},
    {"duration": -5},
    {"taskId": "bad id"},
    {"projectId": "elsewhere"},
    {"id": "another-id"},
)

# -- strategies ----------------------------------------------------------------------------------------
json_scalars = st.one_of(st.none(), st.booleans(), st.integers(-1000, 1000), st.text(max_size=6))
json_values = st.recursive(
    json_scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.sampled_from(("p", "q")), inner, max_size=2),
    max_leaves=5,
)
token_usages = st.fixed_dictionaries(
    {}, optional={"input": st.integers(0, 1000), "output": st.integers(0, 1000), "total": st.integers(0, 5000)}
)
costs = st.sampled_from([0, 0.5, 0.0123, 1.25, 3, 0.1 + 0.2])  # repeated values: ties in the cost order
steps_lists = st.lists(
    st.fixed_dictionaries(
        {"name": st.sampled_from(("plan", "act"))},
        optional={
            "agent": st.sampled_from(("planner", "coder")),
            "status": st.sampled_from(("completed", "failed")),
            "tokenUsage": token_usages,
            "costUSD": costs,
            "startedAt": st.sampled_from(sorted(STARTS)),
            "output": json_values,
        },
    ),
    max_size=2,
)
# A whole execution (POST, PUT): every field optional; the fields that may be null are sometimes null.
bodies = st.fixed_dictionaries(
    {},
    optional={
        "name": st.sampled_from(("triage", "summarize", None)),
        "status": st.sampled_from(STATUSES),
        "taskId": st.sampled_from((*TASKS, None)),
        "startedAt": st.sampled_from((*sorted(STARTS), None)),
        "completedAt": st.sampled_from((*sorted(ENDS), None)),
        "duration": st.none() | st.integers(0, 10_000),
        "tokenUsage": token_usages,
        "costUSD": costs,
        "error": st.none() | st.text(max_size=8),
        "input": json_values,
        "output": json_values,
        "steps": steps_lists,
        "tags": st.lists(st.sampled_from(TAGS), max_size=3),
        "metadata": st.dictionaries(st.sampled_from(("k1", "k2", "k3")), json_values, max_size=3),
        "note": json_values,  # a field storehouse does not know: kept as it is
    },
)
# A merge patch: a value sets, null removes (and a removed known field falls back to its default).
patches = st.fixed_dictionaries(
    {},
    optional={
        "status": st.sampled_from((*STATUSES, None)),
        "name": st.sampled_from(("triage", "review", None)),
        "taskId": st.sampled_from((*TASKS, None)),
        "startedAt": st.sampled_from((*sorted(STARTS), None)),
        "completedAt": st.sampled_from((*sorted(ENDS), None)),
        "duration": st.none() | st.integers(0, 10_000),
        "tokenUsage": st.none()
        | token_usages
        | st.fixed_dictionaries({}, optional={"input": st.none(), "output": st.integers(0, 9), "total": st.none()}),
        "costUSD": st.none() | costs,
        "error": st.none() | st.text(max_size=8),
        "output": json_values,
        "steps": st.none() | steps_lists,
        "tags": st.none() | st.lists(st.sampled_from(TAGS), max_size=3),
        "metadata": st.none() | st.dictionaries(st.sampled_from(("k1", "k2", "k3")), json_values, max_size=3),
        "note": json_values,
    },
)


# Every field of a listing, drawn (test_the_model_lists_by_every_filter_of_the_store keeps it so)
LISTING_FIELDS: dict[str, st.SearchStrategy[Any]] = {
    "statuses": st.lists(st.sampled_from(STATUSES), max_size=3, unique=True).map(tuple),
    "task_id": st.none() | st.sampled_from(TASKS),
    "tag": st.none() | st.sampled_from(TAGS),
    "started_after": st.none() | st.sampled_from(sorted(BOUNDS)),
    "started_before": st.none() | st.sampled_from(sorted(BOUNDS)),
    "sort": st.sampled_from(SORTS),
    "search": st.none() | st.sampled_from(SEARCHES),
    "comma_separated": st.booleans(),
}


def sometimes(wrong: tuple[Doc, ...]) -> st.SearchStrategy[Doc | None]:
    """None (nothing wrong) three times in four, else one wrong field."""
    return st.one_of(st.none(), st.none(), st.none(), st.sampled_from(wrong))


# -- the model -----------------------------------------------------------------------------------------
def canonical(value: str | None) -> str | None:
    """The stored form of a timestamp the model sent (or that the store already made canonical)."""
    if value is None:
        return None
    known = {**STARTS, **ENDS}.get(value, value)
    assert CANONICAL_TIME.fullmatch(known), value
    return known


def millis(start: str, end: str) -> int:
    def parse(text: str) -> datetime:
        return datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)

    return max(0, (parse(end) - parse(start)) // timedelta(milliseconds=1))


def merge(target: Any, changes: Any) -> Any:
    """RFC 7396, written out again for the model."""
    if not isinstance(changes, dict):
        return changes
    result = dict(target) if isinstance(target, dict) else {}
    for key, value in changes.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge(result.get(key), value)
    return result


def usage_of(given: Doc | None) -> Doc:
    given = given or {}
    usage = {"input": given.get("input", 0), "output": given.get("output", 0)}
    total = given.get("total")
    return {**usage, "total": usage["input"] + usage["output"] if total is None else total}


def step_of(given: Doc) -> Doc:
    step: Doc = {name: given.get(name) for name in STEP_FIELDS}
    step["startedAt"] = canonical(step["startedAt"])
    step["completedAt"] = canonical(step["completedAt"])
    step["tokenUsage"] = None if step["tokenUsage"] is None else usage_of(step["tokenUsage"])
    step["costUSD"] = None if step["costUSD"] is None else float(step["costUSD"])
    return step


def is_valid(body: Doc, project: str, item: str) -> bool:
    """Whether a body (or a patched document) validates, by the rules the model's values can break."""
    times = [body.get(name) for name in ("startedAt", "completedAt")]
    cost = body.get("costUSD", 0)
    usage = body.get("tokenUsage") or {}
    return (
        body.get("status", "pending") in STATUSES
        and not isinstance(cost, bool)
        and cost >= 0
        and all(usage.get(name, 0) is None or usage.get(name, 0) >= 0 for name in ("input", "output", "total"))
        and isinstance(body.get("tags", []), list)
        and all(t is None or t in STARTS or t in ENDS or CANONICAL_TIME.fullmatch(t) for t in times)
        and (body.get("duration") or 0) >= 0
        and body.get("taskId") in (None, *TASKS)
        and body.get("projectId") in (None, project)
        and body.get("id") in (None, item)
    )


def prepare(body: Doc, project: str, item: str, previous: Doc | None, now: str) -> Doc:
    """The document a valid body becomes when written at ``now`` over ``previous``."""
    document: Doc = {
        "taskId": None, "name": None, "status": "pending", "startedAt": None, "completedAt": None, "duration": None,
        "tokenUsage": None, "costUSD": 0.0, "error": None, "input": None, "output": None, "steps": [], "tags": [],
        "metadata": {},
    }  # fmt: skip
    document.update({key: value for key, value in body.items() if key not in ("version", "createdAt", "updatedAt")})
    document["id"], document["projectId"] = item, project
    document["tokenUsage"] = usage_of(document["tokenUsage"])
    document["costUSD"] = float(document["costUSD"])
    document["steps"] = [step_of(step) for step in document["steps"]]
    document["startedAt"] = canonical(document["startedAt"])
    document["completedAt"] = canonical(document["completedAt"])
    if document["startedAt"] is None:
        document["startedAt"] = previous["startedAt"] if previous else now
    if document["status"] in FINAL and document["completedAt"] is None:
        document["completedAt"] = now
    if document["duration"] is None and document["completedAt"] is not None:
        document["duration"] = millis(document["startedAt"], document["completedAt"])
    document["version"] = previous["version"] + 1 if previous else 1
    document["createdAt"] = previous["createdAt"] if previous else now
    document["updatedAt"] = now
    return document


def patched(previous: Doc, changes: Doc, project: str, item: str, now: str) -> Doc:
    """A merge patch applied: fields derived from sources the patch changed are derived again."""
    merged = merge(previous, changes)
    if ("startedAt" in changes or "completedAt" in changes) and "duration" not in changes:
        merged["duration"] = None
    if isinstance(changes.get("tokenUsage"), dict) and "total" not in changes["tokenUsage"]:
        merged["tokenUsage"].pop("total", None)
    if changes.get("status") in ("pending", "running") and "completedAt" not in changes:
        merged["completedAt"] = None  # live again: the old end no longer holds
        merged["duration"] = changes.get("duration")
    return prepare(merged, project, item, previous, now)


@dataclass(frozen=True)
class Listing:
    """List filters and sort, and the model's answer to them."""

    statuses: tuple[str, ...] = ()
    task_id: str | None = None
    tag: str | None = None
    started_after: str | None = None
    started_before: str | None = None
    sort: str = "-startedAt"
    search: str | None = None  # q
    comma_separated: bool = False

    def select(self, documents: dict[str, Doc]) -> list[Doc]:
        after, before = BOUNDS.get(self.started_after or ""), BOUNDS.get(self.started_before or "")
        found = [
            document
            for document in documents.values()
            if (not self.statuses or document["status"] in self.statuses)
            and (self.task_id is None or document["taskId"] == self.task_id)
            and (self.tag is None or self.tag in document["tags"])
            and (after is None or document["startedAt"] >= after)
            and (before is None or document["startedAt"] < before)
            and (self.search is None or found_by(self.search, document))
        ]
        found.sort(key=self.key, reverse=self.sort.startswith("-"))
        return [{name: document[name] for name in SUMMARY_FIELDS} for document in found]

    def key(self, document: Doc) -> tuple[Any, str]:
        if self.sort.endswith("startedAt"):
            return document["startedAt"], document["id"]
        if self.sort.endswith("costUSD"):
            return document["costUSD"], document["id"]
        return (-1 if document["duration"] is None else document["duration"]), document["id"]

    def arguments(self) -> dict[str, Any]:
        status: str | list[str] | None = list(self.statuses) or None
        if self.statuses and self.comma_separated:
            status = ",".join(self.statuses)
        return {
            "status": status,
            "task_id": self.task_id,
            "tag": self.tag,
            "started_after": self.started_after,
            "started_before": self.started_before,
            "sort": self.sort,
            "q": self.search,
        }


def ascii_lower(text: str) -> str:
    """Lower case for ASCII letters only, as SQLite's lower() and LIKE fold them (README: "ASCII letters in either
    case"); ``str.lower`` would fold other letters too."""
    return text.translate({code: code + 32 for code in range(ord("A"), ord("Z") + 1)})


def found_by(search: str, document: Doc) -> bool:
    """Whether q finds a run: its id starts with q, or its name contains q, ASCII letters in either case."""
    name = document["name"]
    return ascii_lower(document["id"]).startswith(ascii_lower(search)) or (
        isinstance(name, str) and ascii_lower(search) in ascii_lower(name)
    )


def model_stats(documents: dict[str, Doc]) -> Doc:
    runs = list(documents.values())
    by_status = {status: sum(d["status"] == status for d in runs) for status in STATUSES}
    nanos = sum(round(d["costUSD"] * 1e9) for d in runs)
    durations = [d["duration"] for d in runs if d["duration"] is not None]
    finished = by_status["completed"] + by_status["failed"]
    return {
        "totalExecutions": len(runs),
        **by_status,
        "totalCostUSD": nanos / 1e9,
        "totalTokens": sum(d["tokenUsage"]["total"] for d in runs),
        "inputTokens": sum(d["tokenUsage"]["input"] for d in runs),
        "outputTokens": sum(d["tokenUsage"]["output"] for d in runs),
        "averageCostUSD": round(nanos / 1e9 / len(runs), 9) if runs else 0.0,
        "averageDuration": round(sum(durations) / len(durations)) if durations else None,
        "totalDuration": sum(durations),
        "successRate": by_status["completed"] / finished if finished else None,
    }


# -- the harness ---------------------------------------------------------------------------------------
class Divergence(AssertionError):
    """The store answered differently from the model."""


@dataclass
class Tally:
    """What the model test saw."""

    runs: int = 0
    steps: int = 0
    calls: int = 0
    divergences: int = 0

    @property
    def line(self) -> str:
        return (
            f"model: {self.runs:,} runs, {self.steps:,} steps, {self.calls:,} calls compared, "
            f"{self.divergences} divergences"
        )


def now_ms() -> str:
    moment = datetime.now(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


class StoreModel(RuleBasedStateMachine):
    """A store on a real directory, and the model it must agree with after every step."""

    base: ClassVar[Path]
    tally: ClassVar[Tally]

    def __init__(self) -> None:
        super().__init__()
        self.tally.runs += 1
        self.directory = Path(tempfile.mkdtemp(dir=self.base))
        self.data_dir = self.directory / "data"
        self.primary = Storehouse(self.data_dir)
        self.second: Storehouse | None = None
        self.documents: dict[str, dict[str, Doc]] = {project: {} for project in PROJECTS}
        self.existing: set[str] = set()  # projects with a directory: made by the first write that reaches it
        self.odd = False  # ids are reserved or malformed (see odd_ids)

    def teardown(self) -> None:
        self.primary.close()
        if self.second is not None:
            self.second.close()
        shutil.rmtree(self.directory, ignore_errors=True)

    # -- helpers ---------------------------------------------------------------------------------------
    def same(self, actual: object, expected: object, what: str) -> None:
        if actual != expected:
            self.tally.divergences += 1
            raise Divergence(f"{what}:\n  store: {actual!r}\n  model: {expected!r}")

    def begin(self, data: st.DataObject) -> tuple[Storehouse, str]:
        """Count a step; pick the handle (either, when two are open) and the project it works on."""
        self.tally.steps += 1
        handles = [self.primary] if self.second is None else [self.primary, self.second]
        return data.draw(st.sampled_from(handles), label="handle"), data.draw(st.sampled_from(PROJECTS))

    def item(self, data: st.DataObject, project: str) -> str:
        """Mostly an id that exists, else one of a few given ids; in ``odd_ids``, a reserved or malformed one."""
        if self.odd:
            return data.draw(st.sampled_from((RESERVED, *MALFORMED_IDS)), label="odd id")
        known = sorted(self.documents[project])
        if known and data.draw(st.integers(0, 3), label="known") < 3:
            return data.draw(st.sampled_from(known), label="id")
        return data.draw(st.sampled_from(GIVEN_IDS), label="id")

    def if_match(self, data: st.DataObject, current: Doc | None) -> int | None:
        """No If-Match (half the time), the current version, or a stale one."""
        mode = data.draw(st.integers(0, 5), label="if_match")  # 0-2: none, 3-4: the current version, 5: stale
        if mode < 3:
            return None
        if current is None:
            return data.draw(st.integers(0, 3), label="version of an absent execution")
        if mode < 5:
            return int(current["version"])
        return int(current["version"]) + data.draw(st.sampled_from((-1, 1, 7)), label="stale by")

    def call(self, expected_error: ErrorType, action: Callable[[], Any], what: str) -> Any:
        """Run action; compare the error it raises (or none) with the model's; return its result."""
        self.tally.calls += 1
        expected = None if expected_error is None else expected_error.__name__
        try:
            result = action()
        except StorehouseError as exc:
            self.same(type(exc).__name__, expected, f"{what}: raised {exc.message!r}")
            return None
        self.same(None, expected, f"{what}: no error, returned {result!r}")
        return result

    def written(self, project: str, item: str, before: str, result: Doc, expect: Callable[[str], Doc]) -> None:
        """Compare a write's answer with the model's document for the instant it was made, and keep it."""
        now = result.get("updatedAt")
        in_time = isinstance(now, str) and before <= now <= now_ms()
        self.same(in_time, True, f"{project}/{item}: updatedAt {now!r} is the time of the write")
        expected = expect(str(now))
        self.same(result, expected, f"{project}/{item}: the written document")
        self.documents[project][item] = expected

    # -- writes ----------------------------------------------------------------------------------------
    @initialize(data=st.data(), count=st.integers(0, 8))
    def some_executions(self, data: st.DataObject, count: int) -> None:
        """Start from a few executions (created like any other), so that most steps find some."""
        for _ in range(count):
            body = data.draw(bodies, label="body")
            self.create(data, body, given=data.draw(st.booleans(), label="given"), bad=None)

    @rule(data=st.data(), body=bodies, given=st.booleans(), bad=sometimes(INVALID_FIELDS[:-1]))
    def create(self, data: st.DataObject, body: Doc, given: bool, bad: Doc | None) -> None:
        store, project = self.begin(data)
        item = self.item(data, project) if given else None
        body = {**body, **(bad or {}), **({} if item is None else {"id": item})}
        error: ErrorType = None
        if item in (RESERVED, *MALFORMED_IDS):
            error = InvalidId
        elif item in self.documents[project]:
            error = Conflict
        elif not is_valid(body, project, item or ""):
            error = InvalidBody
        if error is None:  # a refused first write makes no directory
            self.existing.add(project)
        before = now_ms()
        result = self.call(error, lambda: store.create_execution(project, body), f"create {project}/{item}")
        if result is not None:
            made = result["id"]
            if item is None:  # a new ULID
                self.same(bool(re.fullmatch(r"[0-9A-HJKMNP-TV-Z]{26}", made)), True, f"generated id {made!r}")
                self.same(made in self.documents[project], False, f"generated id {made!r} is new")
            self.written(project, made, before, result, lambda now: prepare(body, project, made, None, now))

    @rule(data=st.data(), body=bodies, bad=sometimes(INVALID_FIELDS))
    def put(self, data: st.DataObject, body: Doc, bad: Doc | None) -> None:
        store, project = self.begin(data)
        item = self.item(data, project)
        current = self.documents[project].get(item)
        version = self.if_match(data, current)
        body = {**body, **(bad or {})}
        error: ErrorType = None
        if item in (RESERVED, *MALFORMED_IDS):
            error = InvalidId
        elif version is not None and (current is None or current["version"] != version):
            error = PreconditionFailed
        elif not is_valid(body, project, item):
            error = InvalidBody
        if error is None:  # a refused first write makes no directory
            self.existing.add(project)
        before = now_ms()
        result = self.call(
            error, lambda: store.put_execution(project, item, body, if_match=version), f"put {project}/{item}"
        )
        if result is not None:
            self.written(project, item, before, result, lambda now: prepare(body, project, item, current, now))

    @rule(data=st.data(), changes=patches, bad=sometimes(INVALID_FIELDS))
    def patch(self, data: st.DataObject, changes: Doc, bad: Doc | None) -> None:
        store, project = self.begin(data)
        item = self.item(data, project)
        current = self.documents[project].get(item)
        version = self.if_match(data, current)
        changes = {**changes, **(bad or {})}
        error: ErrorType = None
        if item in (RESERVED, *MALFORMED_IDS):
            error = InvalidId
        elif version is not None and (current is None or current["version"] != version):
            error = PreconditionFailed
        elif current is None:
            error = NotFound
        elif not is_valid(merge(current, changes), project, item):
            error = InvalidBody
        if error is None:  # a refused first write makes no directory
            self.existing.add(project)
        before = now_ms()
        result = self.call(
            error, lambda: store.patch_execution(project, item, changes, if_match=version), f"patch {project}/{item}"
        )
        if result is not None and current is not None:
            self.written(project, item, before, result, lambda now: patched(current, changes, project, item, now))

    @rule(data=st.data(), everything=st.sampled_from((False,) * 7 + (True,)))
    def delete(self, data: st.DataObject, everything: bool) -> None:
        """Delete one execution (now and then: every execution of the project)."""
        store, project = self.begin(data)
        if everything:
            deleted = self.call(None, lambda: store.delete_executions(project), f"delete all of {project}")
            self.same(deleted, len(self.documents[project]), f"{project}: how many were deleted")
            self.documents[project].clear()
            return
        item = self.item(data, project)
        current = self.documents[project].get(item)
        version = self.if_match(data, current)
        error: ErrorType = None
        if item in MALFORMED_IDS:
            error = InvalidId
        elif project not in self.existing:
            error = NotFound
        elif version is not None and (current is None or current["version"] != version):
            error = PreconditionFailed
        elif current is None:
            error = NotFound
        self.call(error, lambda: store.delete_execution(project, item, if_match=version), f"delete {project}/{item}")
        if error is None:
            del self.documents[project][item]

    @rule(data=st.data(), operation=st.sampled_from(("create", "put", "patch", "delete", "get")))
    def odd_ids(self, data: st.DataObject, operation: str) -> None:
        """An operation on the reserved id ``stats`` or a malformed id: refused (or not found), nothing changes."""
        self.odd = True
        try:
            if operation == "create":
                self.create(data, data.draw(bodies, label="body"), given=True, bad=None)
            elif operation == "put":
                self.put(data, data.draw(bodies, label="body"), bad=None)
            elif operation == "patch":
                self.patch(data, data.draw(patches, label="changes"), bad=None)
            elif operation == "delete":
                self.delete(data, everything=False)
            else:
                self.get(data)
        finally:
            self.odd = False

    # -- reads -----------------------------------------------------------------------------------------
    @rule(data=st.data())
    def get(self, data: st.DataObject) -> None:
        store, project = self.begin(data)
        item = self.item(data, project)
        current = self.documents[project].get(item)
        error: ErrorType = InvalidId if item in MALFORMED_IDS else None if current else NotFound
        found = self.call(error, lambda: store.get_execution(project, item), f"get {project}/{item}")
        if error is None:
            self.same(found, current, f"get {project}/{item}")

    @rule(
        data=st.data(),
        listing=st.builds(Listing, **LISTING_FIELDS),
        limit=st.integers(1, 7),
        by_cursor=st.booleans(),
    )
    def list_page(self, data: st.DataObject, listing: Listing, limit: int, by_cursor: bool) -> None:
        store, project = self.begin(data)
        expected = listing.select(self.documents[project])
        what = f"list {project} {listing} limit={limit}"
        if by_cursor:  # walk the whole listing, page after page
            cursor: str | None = None
            for position in range(0, len(expected) + 1, limit):
                after = functools.partial(store.list_executions, project, **listing.arguments(), limit=limit)
                page: Page = self.call(None, functools.partial(after, cursor=cursor), what)
                self.check_page(page, expected, position, limit, f"{what}, page at {position} by cursor")
                if page.next_cursor is None:
                    break
                cursor = page.next_cursor
        else:
            offset = data.draw(st.integers(0, len(expected) + 2), label="offset")
            for _ in range(data.draw(st.integers(1, 2), label="times asked")):  # again: from the page cache
                page = self.call(
                    None,
                    lambda: store.list_executions(project, **listing.arguments(), limit=limit, offset=offset),
                    what,
                )
                self.check_page(page, expected, offset, limit, f"{what} offset={offset}")

    def check_page(self, page: Page, expected: list[Doc], offset: int, limit: int, what: str) -> None:
        self.same(page.items, expected[offset : offset + limit], f"{what}: items")
        self.same(page.total, len(expected), f"{what}: total")
        self.same(page.next_cursor is not None, len(expected) > offset + limit, f"{what}: a next cursor")

    @rule(
        data=st.data(),
        refused=st.sampled_from(
            (
                ({"limit": 0}, InvalidParameter),
                ({"limit": 1001}, InvalidParameter),
                ({"offset": -1}, InvalidParameter),
                ({"sort": "name"}, InvalidParameter),
                ({"status": "done"}, InvalidParameter),
                ({"status": "completed,done"}, InvalidParameter),
                ({"cursor": "not-a-cursor"}, InvalidParameter),
                ({"started_after": "yesterday"}, InvalidParameter),
                ({"tag": ""}, InvalidParameter),
                ({"task_id": "bad id"}, InvalidId),
                ({}, InvalidParameter),  # a real cursor, used with another sort or with an offset
            )
        ),
    )
    def list_refused(self, data: st.DataObject, refused: tuple[Doc, type[StorehouseError]]) -> None:
        """Bad list parameters are refused, naming the parameter."""
        store, project = self.begin(data)
        arguments, error = refused
        if not arguments:
            sort = data.draw(st.sampled_from(SORTS), label="sort")
            first = self.call(None, lambda: store.list_executions(project, sort=sort, limit=1), f"list {project}")
            if first.next_cursor is None:
                return
            misuse = data.draw(
                st.sampled_from([{"sort": s} for s in SORTS if s != sort] + [{"sort": sort, "offset": 1}]),
                label="misuse",
            )
            arguments = {"cursor": first.next_cursor, **misuse}
        self.call(error, lambda: store.list_executions(project, **arguments), f"list {project} {arguments}")

    @rule(data=st.data())
    def stats(self, data: st.DataObject) -> None:
        store, _ = self.begin(data)
        for project in PROJECTS:
            found = self.call(None, functools.partial(store.execution_stats, project), f"stats {project}")
            self.same(found, model_stats(self.documents[project]), f"stats {project}")
        listed = self.call(None, lambda: store.list_projects().items, "list projects")  # two projects: one page
        expected = [
            (p, len(self.documents[p]), max((d["startedAt"] for d in self.documents[p].values()), default=None))
            for p in sorted(self.existing)
        ]
        self.same([(p.id, p.execution_count, p.last_started_at) for p in listed], expected, "list projects")

    # -- handles, the index, maintenance ---------------------------------------------------------------
    @rule(action=st.sampled_from(("reopen", "open a second handle", "close the second handle", "delete the index")))
    def handles(self, action: str) -> None:
        """Reopen the store; open or close a second handle on the same directory; or close every handle,
        delete index.sqlite3 (and -wal, -shm) and open again, so that the index is rebuilt from the files."""
        self.tally.steps += 1
        if action == "open a second handle" and self.second is None:
            self.second = Storehouse(self.data_dir)
        elif action == "close the second handle" and self.second is not None:
            self.second.close()
            self.second = None
        elif action in ("reopen", "delete the index"):
            self.primary.close()
            if action == "delete the index":
                if self.second is not None:
                    self.second.close()
                for path in self.data_dir.glob("index.sqlite3*"):
                    path.unlink()
                self.second = None if self.second is None else Storehouse(self.data_dir)
            self.primary = Storehouse(self.data_dir)

    @rule(data=st.data(), check=st.booleans())
    def maintenance(self, data: st.DataObject, check: bool) -> None:
        """Reindex a project; or run ``check`` (nothing wrong) and read every file (the model's documents)."""
        store, project = self.begin(data)
        if not check:
            missing = project not in self.existing  # a project no write reached: nothing to reindex (issue #14)
            report = self.call(NotFound if missing else None, lambda: store.reindex(project), f"reindex {project}")
            if report is not None:
                found = (report.projects, report.indexed, report.invalid)
                self.same(found, (1, len(self.documents[project]), 0), "reindex")
            return
        problems = self.call(None, store.check, "check").problems
        self.same(problems, [], "check problems")
        for name in sorted(self.existing):
            directory = self.data_dir / "projects" / name / "executions"
            files = {path.stem: orjson.loads(path.read_bytes()) for path in directory.glob("*.json")}
            self.same(files, self.documents[name], f"{name}: the files")

    # -- after every step ------------------------------------------------------------------------------
    @invariant()
    def agrees(self) -> None:
        """The directory (no temp file left), the default listing and the stats of each project match."""
        for project in PROJECTS:
            directory = self.data_dir / "projects" / project / "executions"
            self.same(directory.is_dir(), project in self.existing, f"{project}: the directory exists")
            names = sorted(os.listdir(directory)) if directory.is_dir() else []
            self.same(names, sorted(f"{item}.json" for item in self.documents[project]), f"{project}: its files")
            page = self.primary.list_executions(project, limit=1000)
            self.same(page.items, Listing().select(self.documents[project]), f"{project}: the default listing")
            self.same(page.total, len(self.documents[project]), f"{project}: the total")
            self.same(self.primary.execution_stats(project), model_stats(self.documents[project]), f"{project}: stats")


def run_model(base: Path, tally: Tally, *, examples: int, **extra: Any) -> None:
    """Run the state machine (a divergence raises, with the tally already counted)."""
    machine = type("BoundStoreModel", (StoreModel,), {"base": base, "tally": tally})
    options = settings(
        max_examples=examples,
        stateful_step_count=STEPS,
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much, HealthCheck.data_too_large],
        **extra,
    )
    run_state_machine_as_test(machine, settings=options)


def test_the_store_agrees_with_the_model(tmp_path: Path, scorecard: Callable[[str], None]) -> None:
    tally = Tally()
    started = time.monotonic()
    try:
        run_model(tmp_path, tally, examples=soak(MAX_EXAMPLES))
    finally:
        scorecard(f"{tally.line} ({time.monotonic() - started:.0f} s)")
    assert tally.divergences == 0
    assert tally.runs >= soak(MAX_EXAMPLES)
    assert tally.steps > tally.runs * STEPS // 2  # most runs went the whole way


DEEP_EXECUTIONS = 1_200  # more than two ANCHOR_EVERY (500) of one listing: deep offsets start from anchors
DEEP_OPERATIONS = 600
DEEP_NAMES = ("alpha", "beta", "Alphabet", None)
# How the deep model draws each field of a listing: every filter of Listing (so every filter of ListQuery, see
# test_the_model_lists_by_every_filter_of_the_store) is drawn, alone or with the others
DEEP_CHOICES: dict[str, Callable[[random.Random], Any]] = {
    "statuses": lambda rng: tuple(rng.sample(STATUSES, rng.choice((0, 0, 1, 2)))),
    "task_id": lambda rng: rng.choice((None, None, *TASKS)),
    "tag": lambda rng: rng.choice((None, None, *TAGS)),
    "started_after": lambda rng: rng.choice((None, None, None, *sorted(BOUNDS))),
    "started_before": lambda rng: rng.choice((None, None, None, *sorted(BOUNDS))),
    "sort": lambda rng: rng.choice(SORTS),
    "search": lambda rng: rng.choice((None, None, "alpha", "ALP", "bet", "r0001", "n")),
    "comma_separated": lambda rng: rng.random() < 0.5,
}


@dataclass
class DeepTally:
    """What the deep-paging model test saw."""

    executions: int = 0
    pages: int = 0
    writes: int = 0
    divergences: int = 0

    @property
    def line(self) -> str:
        return (
            f"model-deep-pages: {self.executions:,} executions, {self.pages:,} pages compared, "
            f"{self.writes} writes between them, {self.divergences} divergences"
        )


def deep_pages(store: Storehouse, tally: DeepTally, operations: int, seed: int) -> None:
    """Pages deep into listings of many executions (offsets past the anchors, cursors to the end), with writes
    between them (each one moves the generation: cached pages and anchors must be found again)."""
    rng = random.Random(seed)
    documents: dict[str, Doc] = {}

    def same(actual: object, expected: object, what: str) -> None:
        if actual != expected:
            tally.divergences += 1
            raise Divergence(f"{what}:\n  store: {actual!r}\n  model: {expected!r}")

    def write(item: str) -> None:
        body = {
            "status": rng.choice(STATUSES),
            "costUSD": rng.choice([0, 0.5, 1.25, 3]),
            "duration": rng.choice([None, 0, 10, 250]),
            "startedAt": rng.choice(sorted(STARTS)),
            "taskId": rng.choice((*TASKS, None)),
            "tags": rng.sample(TAGS, rng.randint(0, 2)),
            "name": rng.choice(DEEP_NAMES),
        }
        before = now_ms()
        document = store.put_execution("deep", item, body)
        same(before <= document["updatedAt"] <= now_ms(), True, f"{item}: updatedAt")
        same(document, prepare(body, "deep", item, documents.get(item), document["updatedAt"]), f"put {item}")
        documents[item] = document

    for number in range(DEEP_EXECUTIONS):
        write(f"r{number:05d}")
    tally.executions = len(documents)
    for _ in range(operations):
        if rng.random() < 0.2:  # a write between pages: a change, a deletion or a new run
            tally.writes += 1
            item = rng.choice(sorted(documents))
            if rng.random() < 0.3:
                store.delete_execution("deep", item)
                del documents[item]
            else:
                write(item if rng.random() < 0.7 else f"n{tally.writes:05d}")
            continue
        if rng.random() < 0.15:
            # a pair: a deep page of the whole listing, then the same page with one field of the listing changed. A
            # cache (of pages or of anchors) keyed on less than the whole listing answers the second with the
            # first's rows (issue #13 item 10: the anchors ignored q)
            changed = rng.choice([name for name in DEEP_CHOICES if name != "comma_separated"])
            first = second = Listing(sort=rng.choice(SORTS))
            while second == first:
                second = replace(first, **{changed: DEEP_CHOICES[changed](rng)})
            offset = rng.randint(500, len(documents))
            for listing in (first, second):
                expected = listing.select(documents)
                page = store.list_executions("deep", **listing.arguments(), limit=7, offset=offset)
                tally.pages += 1
                same(page.items, expected[offset : offset + 7], f"{listing} limit=7 offset={offset} (a pair): items")
                same(page.total, len(expected), f"{listing} (a pair): total")
            continue
        listing = Listing(**{name: choose(rng) for name, choose in DEEP_CHOICES.items()})
        expected = listing.select(documents)
        limit = rng.choice((1, 7, 50, 200))
        what = f"{listing} limit={limit}"
        if rng.random() < 0.8:
            offset = rng.choice((rng.randint(0, len(expected) + 50), rng.randint(500, max(500, len(expected)))))
            page = store.list_executions("deep", **listing.arguments(), limit=limit, offset=offset)
            tally.pages += 1
            same(page.items, expected[offset : offset + limit], f"{what} offset={offset}: items")
            same((page.total, page.next_cursor is not None), (len(expected), len(expected) > offset + limit), what)
        else:  # the whole listing by cursor, 200 at a time
            cursor: str | None = None
            for position in range(0, len(expected) + 1, 200):
                page = store.list_executions("deep", **listing.arguments(), limit=200, cursor=cursor)
                tally.pages += 1
                same(page.items, expected[position : position + 200], f"{what}: the page at {position} by cursor")
                cursor = page.next_cursor
                if cursor is None:
                    break
            same(cursor, None, f"{what}: a cursor after the last page")


@pytest.fixture
def fast_store(data_dir: Path) -> Iterator[Storehouse]:
    """A store that skips fsync (STOREHOUSE_DURABLE=0): paging is under test here, not durability."""
    with Storehouse(data_dir, settings=Settings(data_dir=data_dir, durable=False)) as opened:
        yield opened


def test_deep_pages_agree_with_the_model(fast_store: Storehouse, scorecard: Callable[[str], None]) -> None:
    tally = DeepTally()
    try:
        deep_pages(fast_store, tally, soak(DEEP_OPERATIONS), seed=soak(1))
    finally:
        scorecard(tally.line)
    assert tally.divergences == 0
    assert tally.pages > soak(DEEP_OPERATIONS) // 2


@pytest.fixture
def plant(monkeypatch: pytest.MonkeyPatch) -> Callable[[str], None]:
    """Plant a bug in the running store, for this test only."""

    def planted(bug: str) -> None:
        if bug == "patch keeps the version":
            real_patch = storehouse.executions.patch

            def patch_keeping_version(previous: Doc | None, changes: object, project: str, item: str, now: str) -> Doc:
                document = real_patch(previous, changes, project, item, now)
                document["version"] -= 1  # the bug: a patch does not move the version on
                return document

            monkeypatch.setattr(storehouse.store, "patch", patch_keeping_version)
        elif bug == "a page skips a row":
            real_read_page = Index._read_page

            def read_page_skipping(index: Index, connection: Any, p: int, query: ListQuery) -> tuple[int, Page]:
                generation, page = real_read_page(index, connection, p, query)
                if len(page.raw_items) >= 2:
                    del page.raw_items[1]  # the bug: the second row of a page goes missing
                return generation, page

            monkeypatch.setattr(Index, "_read_page", read_page_skipping)
        elif bug == "a deep offset lands one row off":
            real_anchor = Index._anchor

            def anchor_one_off(index: Index, *args: Any) -> tuple[tuple[object, str], int] | None:
                found = real_anchor(index, *args)
                return None if found is None else (found[0], found[1] - 1)  # the bug: the anchor's position is off

            monkeypatch.setattr(Index, "_anchor", anchor_one_off)
        elif bug == "the anchors ignore q":  # issue #13 item 10, as it was: the anchor cache was keyed without q
            real_replace = replace

            def key_without_search(query: ListQuery, **changes: Any) -> ListQuery:
                return real_replace(query, search=None, **changes)

            monkeypatch.setattr(storehouse.index, "replace", key_without_search)
        else:
            raise AssertionError(bug)

    return planted


@pytest.mark.parametrize("bug", ["patch keeps the version", "a page skips a row"])
def test_the_model_goes_red_on_a_planted_bug(tmp_path: Path, plant: Callable[[str], None], bug: str) -> None:
    plant(bug)
    tally = Tally()
    with pytest.raises(Divergence):
        run_model(tmp_path, tally, examples=100, phases=[Phase.generate], report_multiple_bugs=False)
    assert tally.divergences >= 1


def test_an_offset_beyond_64_bits_is_an_invalid_parameter(store: Storehouse) -> None:
    store.put_execution("alpha", "one", {"status": "running"})
    with pytest.raises(InvalidParameter):
        store.list_executions("alpha", offset=1 << 63)


def test_stats_stay_exact_when_token_sums_pass_64_bits(store: Storehouse) -> None:
    biggest = MAX_TOKENS  # the largest count a run may carry; 1,025 of them pass 64 bits (tests/test_store.py)
    store.put_execution("alpha", "small", {"status": "completed", "tokenUsage": {"input": 3, "output": 4}})
    for item in ("big-1", "big-2"):
        store.put_execution("alpha", item, {"status": "completed", "tokenUsage": {"input": biggest, "output": 0}})
    for item in ("big-1", "big-2"):
        store.delete_execution("alpha", item)
    stats = store.execution_stats("alpha")
    assert (stats["inputTokens"], stats["outputTokens"], stats["totalTokens"]) == (3, 4, 7), stats


def test_the_model_lists_by_every_filter_of_the_store() -> None:
    # a filter added to ListQuery must be added to the model's Listing, and drawn by both models' listing steps
    paging = {"limit", "offset", "cursor"}
    # floor and before are run retention's bounds, set by the store (never a parameter of a listing): their model is
    # tests/test_run_retention.py, and with no retention set (as here) they are None
    retention = {"floor", "before"}
    assert {field.name for field in fields(ListQuery)} - paging - retention <= {field.name for field in fields(Listing)}
    assert set(DEEP_CHOICES) == {field.name for field in fields(Listing)}
    assert set(LISTING_FIELDS) == {field.name for field in fields(Listing)}


def test_deep_pages_go_red_when_the_anchors_ignore_q(fast_store: Storehouse, plant: Callable[[str], None]) -> None:
    plant("the anchors ignore q")
    tally = DeepTally()
    with pytest.raises(Divergence):
        deep_pages(fast_store, tally, DEEP_OPERATIONS, seed=1)
    assert tally.divergences == 1


def test_deep_pages_go_red_when_a_deep_offset_lands_one_row_off(
    fast_store: Storehouse, plant: Callable[[str], None]
) -> None:
    plant("a deep offset lands one row off")
    tally = DeepTally()
    with pytest.raises(Divergence):
        deep_pages(fast_store, tally, DEEP_OPERATIONS, seed=1)
    assert tally.divergences == 1
