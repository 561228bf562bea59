"""Tasks (DESIGN section 5): the document, its state machine, and its dependency graph, apart from storage.

A task is one JSON file, ``projects/<projectId>/tasks/<taskId>.json``, kept by the same file engine as
executions (``kinds.Kind``). Its ``status`` moves only along ``TRANSITIONS``; every move is kept in the
task's ``transitions`` (its audit trail). Its ``dependencies`` are edges to tasks it depends on, of a type:
``blocks`` and ``requires`` hold it back until they have succeeded, ``related`` does not. The graph of a
project stays acyclic. Both lists are the store's to change (through transitions and dependency calls).
"""

from __future__ import annotations

import heapq
import os
import sqlite3
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import ClassVar

import orjson
from pydantic import Field, ValidationError, model_validator

from .errors import Conflict, InvalidBody, NotFound
from .executions import merge_patch
from .index import TASKS, Table
from .kinds import Kind
from .models import (
    MAX_DEPTH,
    Id,
    JSONObject,
    JSONValue,
    Text,
    Timestamp,
    Version,
    _Model,
    bound_summary,
    check_depth,
    describe_validation_error,
    dump_execution,
    type_name,
)


class TaskStatus(StrEnum):
    PENDING = "pending"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"


class Priority(StrEnum):
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"
    CRITICAL = "critical"


class DependencyType(StrEnum):
    BLOCKS = "blocks"
    REQUIRES = "requires"
    RELATED = "related"


STATUSES = tuple(status.value for status in TaskStatus)
PRIORITIES = ("critical", "high", "medium", "low")  # order of precedence: critical first
PRIORITY_RANK = {name: rank for rank, name in enumerate(PRIORITIES)}
HOLDING = frozenset({DependencyType.BLOCKS.value, DependencyType.REQUIRES.value})  # kinds of edge that hold back
TRANSITIONS: Mapping[str, tuple[str, ...]] = {
    "pending": ("running", "cancelled"),
    "running": ("succeeded", "failed", "cancelled"),
    "failed": ("pending",),  # a retry
    "cancelled": ("pending",),  # reopened
    "succeeded": (),
}
MANAGED = ("version", "createdAt", "updatedAt", "transitions", "dependencies")


class Dependency(_Model):
    task_id: Id
    type: DependencyType = DependencyType.BLOCKS


class Transition(_Model):
    from_: str | None = Field(alias="from")
    to: str
    at: Timestamp
    reason: Text | None = None
    actor: Text | None = None


class Task(_Model):
    """One task: the document stored at ``projects/<projectId>/tasks/<id>.json``."""

    id: Id | None = None
    project_id: Id | None = None
    title: Text = Field(min_length=1, max_length=1000)
    description: Text | None = None
    status: TaskStatus = TaskStatus.PENDING
    priority: Priority = Priority.MEDIUM
    complexity_score: int | None = Field(default=None, ge=1, le=10, strict=True)
    requirements: list[JSONValue] = Field(default_factory=list)
    acceptance_criteria: list[JSONValue] = Field(default_factory=list)
    affected_files: list[Text] = Field(default_factory=list)
    tags: list[Text] = Field(default_factory=list)
    assigned_to: Text | None = None
    result_summary: Text | None = None
    metadata: JSONObject = Field(default_factory=dict)
    dependencies: list[Dependency] = Field(default_factory=list)
    transitions: list[Transition] = Field(default_factory=list)
    version: Version | None = None
    created_at: Timestamp | None = None
    updated_at: Timestamp | None = None

    @model_validator(mode="after")
    def _one_edge_per_task(self) -> Task:
        seen = [dependency.task_id for dependency in self.dependencies]
        if len(set(seen)) != len(seen):
            twice = sorted({task for task in seen if seen.count(task) > 1})
            raise ValueError(f"dependencies name {', '.join(twice)} more than once; one edge per task")
        return self


SUMMARY_FIELDS = (
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
)


def validate_task(data: object) -> JSONObject:
    """Validate a task (a request body or a file); InvalidBody names the first wrong field."""
    if not isinstance(data, dict):
        raise InvalidBody(f"a task must be a JSON object, got {type_name(data)}")
    check_depth(data, MAX_DEPTH, "the task")  # pydantic itself gives up past ~250 levels
    try:
        model = Task.model_validate(data)
    except ValidationError as exc:
        raise InvalidBody(describe_validation_error(exc)) from None
    return model.model_dump(by_alias=True, mode="json")


def load_task(raw: bytes, project: str, item: str) -> JSONObject:
    """A task file's bytes as a canonical document; InvalidBody with the reason when they are not one."""
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise InvalidBody(f"not JSON: {exc}") from None
    if isinstance(data, dict):
        data["id"], data["projectId"] = item, project
    document = validate_task(data)
    if document["version"] is None or document["createdAt"] is None:
        raise InvalidBody("a stored task has a version and a createdAt")
    return document


MAX_SUMMARY_TEXT = {"title": 256, "assignedTo": 256, "resultSummary": 2000}  # characters a task summary carries


def summarize_task(document: JSONObject) -> JSONObject:
    """The list view of a task, each text field and the tags bounded (``truncated`` names what was cut)."""
    return bound_summary({name: document.get(name) for name in SUMMARY_FIELDS}, MAX_SUMMARY_TEXT)


@dataclass(frozen=True)
class TaskRow:
    """What the index keeps of one task file (its edges too: they live in the dependent's document)."""

    table: ClassVar[Table] = TASKS
    id: str
    status: str
    priority_rank: int
    assigned_to: str | None
    complexity: int | None
    created_at: str
    version: int
    mtime_ns: int
    size: int
    summary: bytes
    tags: tuple[str, ...]
    edges: tuple[tuple[str, str], ...]

    @classmethod
    def from_document(cls, document: JSONObject, summary: JSONObject, stat: os.stat_result) -> TaskRow:
        return cls(
            id=document["id"],
            status=document["status"],
            priority_rank=PRIORITY_RANK[document["priority"]],
            assigned_to=document["assignedTo"],
            complexity=document["complexityScore"],
            created_at=document["createdAt"],
            version=document["version"],
            mtime_ns=stat.st_mtime_ns,
            size=stat.st_size,
            summary=orjson.dumps(summary),
            tags=tuple(dict.fromkeys(document["tags"])),
            edges=tuple((edge["taskId"], edge["type"]) for edge in document["dependencies"]),
        )

    def values(self, p: int) -> tuple[object, ...]:
        return (p, self.id, self.status, self.priority_rank, self.assigned_to, self.complexity, self.created_at,
                self.version, self.mtime_ns, self.size, self.summary)  # fmt: skip

    def extra(self, p: int) -> list[tuple[str, list[tuple[object, ...]]]]:
        rows: list[tuple[object, ...]] = [(p, self.id, target, kind) for target, kind in self.edges]
        return [("INSERT OR IGNORE INTO task_edges VALUES (?, ?, ?, ?)", rows)] if rows else []


def audit_graph(connection: sqlite3.Connection, p: int, project: str) -> list[str]:
    """What check says of a project's dependency graph: any cycle in it (only files edited by hand make one)."""
    edges = connection.execute("SELECT task, depends_on FROM task_edges WHERE p = ?", (p,)).fetchall()
    return [
        f"{project}/tasks: the dependencies form a cycle {' -> '.join(cycle)} (files edited by hand?); "
        "remove one of its edges"
        for cycle in cycles((str(task), str(target)) for task, target in edges)
    ]


TASK = Kind("tasks", "task", TASKS, load_task, dump_execution, summarize_task, TaskRow.from_document, audit=audit_graph)


# -- writing a task -----------------------------------------------------------------------------------------
def prepare_task(body: object, project: str, item: str, previous: JSONObject | None, now: str) -> JSONObject:
    """The document to store for a create or replace (PUT) of task item; InvalidBody if the body is wrong.

    The managed fields come from the stored task: ``transitions`` and ``dependencies`` may be sent only as
    they are stored (they change through their own calls); a change of ``status`` is a transition and must
    be allowed (Conflict otherwise), and it is added to the audit trail.
    """
    if not isinstance(body, dict):
        raise InvalidBody(f"the body must be a JSON object (a task), got {type_name(body)}")
    for name, expected in (("id", item), ("projectId", project)):
        if body.get(name) is not None and body[name] != expected:
            raise InvalidBody(f"{name} is {body[name]!r} in the body but {expected!r} in the path; leave it out")
    candidate = {key: value for key, value in body.items() if key not in ("version", "createdAt", "updatedAt")}
    candidate["id"], candidate["projectId"] = item, project
    if previous is not None and candidate.get("status") is None:
        candidate["status"] = previous["status"]  # a replace that leaves status out keeps it (it is no move)
    stored: JSONObject = previous or {"transitions": [], "dependencies": []}
    document = validate_task(candidate)
    for name in ("transitions", "dependencies"):
        if name in body and document[name] != stored[name] and not (previous is None and name == "dependencies"):
            where = "/transitions" if name == "transitions" else "/dependencies/{dependsOnId}"
            raise InvalidBody(f"{name} cannot be changed here: use .../tasks/{item}{where}")
        if previous is not None or name == "transitions":
            document[name] = stored[name]
    if previous is not None and document["status"] != previous["status"]:
        document = move(document, previous["status"], document["status"], now, None, None)
    document["version"] = 1 if previous is None else previous["version"] + 1
    document["createdAt"] = previous["createdAt"] if previous else now
    document["updatedAt"] = now
    return document


def patch_task(previous: JSONObject | None, changes: object, project: str, item: str, now: str) -> JSONObject:
    """Apply a JSON merge patch to a stored task (its status through the transition rules)."""
    if previous is None:
        raise NotFound(f"task {item} not found in project {project}; create it with POST or PUT")
    if not isinstance(changes, dict):
        raise InvalidBody(f"a merge patch must be a JSON object, got {type_name(changes)}")
    merged = merge_patch(previous, changes)
    assert isinstance(merged, dict)
    return prepare_task(merged, project, item, previous, now)


def move(document: JSONObject, current: str, to: str, now: str, reason: str | None, actor: str | None) -> JSONObject:
    """The document with its status moved from current to ``to`` and the move in its audit trail.

    Conflict (409) when the move is not allowed; its details list the allowed targets.
    """
    if to not in STATUSES:
        raise InvalidBody(f"to must be one of {', '.join(STATUSES)}; got {to!r}")
    allowed = TRANSITIONS[current]
    if to not in allowed:
        targets = ", ".join(allowed) if allowed else "none (it is final)"
        raise Conflict(
            f"task {document['id']} cannot move from {current} to {to}; from {current} it can move to {targets}",
            details={"from": current, "to": to, "allowed": list(allowed)},
        )
    record = {"from": current, "to": to, "at": now, "reason": reason, "actor": actor}
    return {**document, "status": to, "transitions": [*document["transitions"], record]}


# -- the dependency graph ------------------------------------------------------------------------------------
def find_cycle(edges: Iterable[tuple[str, str]], task: str, depends_on: str) -> list[str] | None:
    """The cycle that the edge task -> depends_on would close (``[task, depends_on, ..., task]``), or None.

    Edges are (task, depends_on) pairs already in the graph (which is acyclic). A self-edge is the cycle
    ``[task, task]``. The path found is a shortest one (breadth first), so the cycle named is a short one.
    """
    if task == depends_on:
        return [task, task]
    following: dict[str, list[str]] = {}
    for source, target in edges:
        following.setdefault(source, []).append(target)
    came_from: dict[str, str] = {depends_on: depends_on}
    frontier = [depends_on]
    while frontier:
        reached: list[str] = []
        for node in frontier:
            for target in sorted(following.get(node, ())):
                if target in came_from:
                    continue
                came_from[target] = node
                if target == task:
                    path = [task]
                    while path[-1] != depends_on:
                        path.append(came_from[path[-1]])
                    return [task, *reversed(path)]
                reached.append(target)
        frontier = reached
    return None


def topological_order(tasks: Mapping[str, tuple[int, str]], edges: Iterable[tuple[str, str]]) -> list[str]:
    """Task ids with every task after those it depends on; ties by priority (critical first), createdAt, id.

    tasks maps id -> (priority rank, createdAt); edges are (task, depends_on). Edges to unknown tasks are
    ignored. Deterministic: the same graph gives the same order.
    """
    waiting = {task: 0 for task in tasks}
    dependents: dict[str, list[str]] = {}
    for task, depends_on in edges:
        if task in tasks and depends_on in tasks:
            waiting[task] += 1
            dependents.setdefault(depends_on, []).append(task)
    ready = [(*tasks[task], task) for task, count in waiting.items() if count == 0]
    heapq.heapify(ready)
    order: list[str] = []
    while ready:
        *_, task = heapq.heappop(ready)
        order.append(task)
        for dependent in dependents.get(task, ()):
            waiting[dependent] -= 1
            if waiting[dependent] == 0:
                heapq.heappush(ready, (*tasks[dependent], dependent))
    # Only a cycle made by editing files by hand leaves tasks waiting ('storehouse check' names it): they come
    # last, in the tie order, so that no task is ever left out.
    return order + sorted((task for task, count in waiting.items() if count), key=lambda task: (*tasks[task], task))


def cycles(edges: Iterable[tuple[str, str]]) -> list[list[str]]:
    """Cycles of a graph (edges task -> depends_on), each as ``[a, b, ..., a]`` from its smallest id, none
    sharing a task with an earlier one. Empty for the acyclic graphs the store keeps; a cycle can only come
    from files edited by hand."""
    following: dict[str, list[str]] = {}
    for source, target in edges:
        following.setdefault(source, []).append(target)
    found: list[list[str]] = []
    seen: set[str] = set()
    for start in sorted(following):
        if start not in seen:
            cycle = _cycle_through(following, start)
            if cycle is not None and not seen.intersection(cycle):
                found.append(cycle)
                seen.update(cycle)
    return found


def _cycle_through(following: Mapping[str, list[str]], start: str) -> list[str] | None:
    """A shortest cycle through start (breadth first), or None."""
    came_from: dict[str, str] = {}
    frontier = [start]
    while frontier:
        reached: list[str] = []
        for node in frontier:
            for target in sorted(following.get(node, ())):
                if target == start:
                    path = [node]
                    while path[-1] != start:
                        path.append(came_from[path[-1]])
                    return [*reversed(path), start]
                if target not in came_from:
                    came_from[target] = node
                    reached.append(target)
        frontier = reached
    return None
