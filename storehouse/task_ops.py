"""The task operations of ``Storehouse`` (DESIGN section 5): documents, transitions, dependencies, order.

Every change to a project's tasks holds the project's *graph lock* (a cross-process lock) from reading the
graph to indexing the write, so a cycle check and the edge it allows are one step: of two processes adding
``a -> b`` and ``b -> a`` at once, exactly one succeeds. Each task's document lock (inside the file engine)
makes transitions compare-and-set: two moves from the same state cannot both succeed. A transition is also
kept as a ``status_change`` entry of the task's history.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import orjson

from .backends import Backend
from .backends.base import Builder
from .config import Settings
from .context import DEFAULT_MAX_CHARS, ENTRIES, RUNS, VALIDATIONS, assemble, check_budget
from .errors import Conflict, InvalidBody, InvalidId, InvalidParameter, NotFound, StorehouseError
from .history import TYPES as HISTORY_TYPES
from .history import HistoryStore
from .ids import check_id, new_id
from .index import STATUSES as EXECUTION_STATUSES
from .locks import LockTable
from .models import JSONObject, JSONValue, check_depth, now_timestamp, type_name
from .queries import MAX_LIMIT, MAX_OFFSET
from .task_index import TaskQuery, dependencies, dependents, edges, list_tasks, ordering, task_metrics
from .tasks import (
    PRIORITIES,
    STATUSES,
    TASK,
    DependencyType,
    find_cycle,
    move,
    patch_task,
    prepare_task,
    topological_order,
)

log = logging.getLogger("storehouse")
_PENDING = "history/"  # a mark's prefix: the task was written, its status_change entries may not be yet
RESERVED_TASK_IDS = frozenset({"order", "export"})  # task ids that a route of the same path would hide


@dataclass
class TaskPage:
    """One page of task summaries (encoded JSON, in order), and the number of all matches."""

    raw_items: list[bytes]
    total: int

    @property
    def items(self) -> list[JSONObject]:
        return [orjson.loads(item) for item in self.raw_items]


class TaskOperations:
    """Mixed into ``Storehouse``: what it needs is its backend, its task histories and its locks."""

    backend: Backend
    settings: Settings
    _history: HistoryStore
    _locks: LockTable
    _repaired: set[str]  # projects whose left-over marks this process has repaired
    add_history: Callable[[str, str, JSONObject | Sequence[JSONValue]], list[JSONObject]]
    list_history: Callable[..., Any]
    list_executions: Callable[..., Any]
    execution_stats: Callable[[str], JSONObject]

    # -- documents -------------------------------------------------------------------------------------
    def create_task(self, project: str, task: JSONObject | None = None, **fields: JSONValue) -> JSONObject:
        """Create a task (``title`` required); its id is generated unless given. Conflict if it exists."""
        body = {**(task or {}), **fields}
        check_depth(body, self.settings.max_json_depth, "the task")
        item = body.get("id")
        if item is None:
            item = new_id()
        elif not isinstance(item, str) or not item:
            raise InvalidBody(f"id must be a task id, a non-empty string (or left out), got {item!r}")
        check_id(item, "taskId")

        def build(current: JSONObject | None) -> JSONObject:
            if current is not None:
                raise Conflict(f"task {item} already exists in project {project}; use PUT to replace it")
            return prepare_task(body, project, item, None, now_timestamp())

        return self._write_task(project, item, build, None)

    def put_task(self, project: str, task_id: str, task: JSONObject, *, if_match: int | None = None) -> JSONObject:
        """Create or replace a task (a status change must be an allowed transition)."""
        check_id(task_id, "taskId")
        check_depth(task, self.settings.max_json_depth, "the task")
        return self._write_task(
            project, task_id, lambda current: prepare_task(task, project, task_id, current, now_timestamp()), if_match
        )

    def patch_task(self, project: str, task_id: str, changes: JSONObject, *, if_match: int | None = None) -> JSONObject:
        """Change a task with a JSON merge patch (a status change must be an allowed transition)."""
        check_id(task_id, "taskId")
        check_depth(changes, self.settings.max_json_depth, "the patch")
        return self._write_task(
            project, task_id, lambda current: patch_task(current, changes, project, task_id, now_timestamp()), if_match
        )

    def get_task(self, project: str, task_id: str) -> JSONObject:
        """The whole task; NotFound if absent."""
        self._repair_pending(check_id(project, "projectId"))
        return self._get_task(project, task_id)

    def _get_task(self, project: str, task_id: str) -> JSONObject:
        found = self.backend.read(check_id(project, "projectId"), check_id(task_id, "taskId"), TASK)
        if found is None:
            raise NotFound(f"task {task_id} not found in project {project}")
        return found

    def delete_task(self, project: str, task_id: str, *, if_match: int | None = None) -> None:
        """Delete a task, its history, and every edge to it from other tasks; its executions stay."""
        check_id(project, "projectId")
        check_id(task_id, "taskId")
        self._repair_pending(project)
        with self._locks.exclusive(f"graph/{project}"):
            self.backend.delete(project, task_id, if_match, TASK)
            for dependent in self._dependents(project, task_id):
                try:
                    self.backend.write(project, dependent["taskId"], _without_edge(task_id), None, TASK)
                except (NotFound, Conflict) as exc:  # a damaged dependent ('storehouse check' names it): go on
                    log.warning("task %s: could not remove its edge to %s: %s", dependent["taskId"], task_id, exc)
            self._history.forget(project, task_id)

    def list_tasks(
        self,
        project: str,
        *,
        status: str | Iterable[str] | None = None,
        priority: str | Iterable[str] | None = None,
        tag: str | None = None,
        assigned_to: str | None = None,
        ready: bool | None = None,
        limit: int = 50,
        offset: int = 0,
    ) -> TaskPage:
        """A page of task summaries, critical first, then oldest first; ``ready`` keeps pending tasks whose
        ``blocks`` and ``requires`` dependencies have all succeeded (False: every other task). From the index."""
        query = TaskQuery(
            _choices("status", status, STATUSES),
            _choices("priority", priority, PRIORITIES),
            tag,
            assigned_to,
            None if ready is None else bool(ready),
            _bounded("limit", limit, 1, MAX_LIMIT),
            _bounded("offset", offset, 0, MAX_OFFSET),
        )
        items, total = self.backend.query(check_id(project, "projectId"), TASK, lambda c, p: list_tasks(c, p, query))
        return TaskPage(items, total)

    # -- transitions -----------------------------------------------------------------------------------
    def transition_task(
        self,
        project: str,
        task_id: str,
        to: str,
        *,
        reason: str | None = None,
        actor: str | None = None,
        if_match: int | None = None,
    ) -> JSONObject:
        """Move a task to status ``to``; Conflict (listing the allowed targets) if the move is not allowed."""
        check_id(task_id, "taskId")
        for name, value in (("reason", reason), ("actor", actor)):
            if value is not None and not isinstance(value, str):  # fields of the transition (as over HTTP)
                raise InvalidBody(f"{name} must be a string or null, got {type_name(value)}")

        def build(current: JSONObject | None) -> JSONObject:
            if current is None:
                raise NotFound(f"task {task_id} not found in project {project}")
            now = now_timestamp()
            moved = move(current, current["status"], to, now, reason, actor)
            return {**moved, "version": current["version"] + 1, "updatedAt": now}

        return self._write_task(project, task_id, build, if_match)

    def task_transitions(self, project: str, task_id: str) -> list[JSONObject]:
        """The task's audit trail: ``{from, to, at, reason, actor}``, oldest first."""
        self._repair_pending(check_id(project, "projectId"))
        transitions: list[JSONObject] = self.get_task(project, task_id)["transitions"]
        return transitions

    # -- dependencies ----------------------------------------------------------------------------------
    def add_dependency(
        self, project: str, task_id: str, depends_on: str, type: str = "blocks"
    ) -> tuple[JSONObject, bool]:
        """Make task_id depend on depends_on; returns (the edge, True if it is new).

        NotFound if either task is absent; Conflict naming the cycle (``details["cycle"]``) if the edge would
        close one; an existing edge of another type takes the new type.
        """
        check_id(depends_on, "dependsOnId")
        if not isinstance(type, str) or type not in {kind.value for kind in DependencyType}:
            raise InvalidBody(f"type must be blocks, requires or related; got {_json(type)}")
        edge = {"taskId": depends_on, "type": type}
        created = False

        def build(current: JSONObject | None) -> JSONObject:
            nonlocal created
            if current is None:
                raise NotFound(f"task {task_id} not found in project {project}")
            kept = [dependency for dependency in current["dependencies"] if dependency["taskId"] != depends_on]
            created = len(kept) == len(current["dependencies"])
            now = now_timestamp()
            return {**current, "dependencies": [*kept, edge], "version": current["version"] + 1, "updatedAt": now}

        self._repair_pending(check_id(project, "projectId"))
        with self._locks.exclusive(f"graph/{project}"):
            stored = self._get_task(project, task_id)
            if edge in stored["dependencies"]:
                return edge, False
            self._get_task(project, depends_on)  # NotFound for an unknown task
            self._refuse_cycle(project, task_id, depends_on)
            self.backend.write(project, task_id, build, None, TASK)
        return edge, created

    def remove_dependency(self, project: str, task_id: str, depends_on: str) -> None:
        """Remove the edge task_id -> depends_on; NotFound if there is none."""
        check_id(depends_on, "dependsOnId")
        self._repair_pending(check_id(project, "projectId"))
        with self._locks.exclusive(f"graph/{project}"):
            stored = self._get_task(project, task_id)
            if not any(dependency["taskId"] == depends_on for dependency in stored["dependencies"]):
                raise NotFound(f"task {task_id} of project {project} does not depend on {depends_on}")
            self.backend.write(project, task_id, _without_edge(depends_on), None, TASK)

    def task_dependencies(self, project: str, task_id: str) -> list[JSONObject]:
        """What the task depends on: ``{"taskId", "type", "task": summary}``."""
        self.get_task(project, task_id)
        return self.backend.query(project, TASK, lambda c, p: dependencies(c, p, task_id))

    def task_dependents(self, project: str, task_id: str) -> list[JSONObject]:
        """What depends on the task: ``{"taskId", "type", "task": summary}``; NotFound if there is no such task."""
        self.get_task(project, task_id)
        return self._dependents(project, task_id)

    def _dependents(self, project: str, task_id: str) -> list[JSONObject]:
        return self.backend.query(check_id(project, "projectId"), TASK, lambda c, p: dependents(c, p, task_id))

    def task_order(self, project: str) -> list[JSONObject]:
        """Every task of the project, each after what it depends on; ties by priority, createdAt, id."""
        keys, summaries = self.backend.query(check_id(project, "projectId"), TASK, ordering)
        graph = self.backend.query(project, TASK, edges)
        return [orjson.loads(summaries[item]) for item in topological_order(keys, [(a, b) for a, b, _ in graph])]

    # -- context and metrics ---------------------------------------------------------------------------
    def task_context(
        self, project: str, task_id: str, *, format: str = "markdown", max_chars: int = DEFAULT_MAX_CHARS
    ) -> str:
        """What an agent needs to continue the task, as Markdown or JSON text of at most max_chars characters:
        the task, its dependencies (status, result), validation results, recent runs and history, newest
        first, with a marker where it was cut. The same data gives the same text."""
        check_budget(format, max_chars)
        task = self.get_task(project, task_id)
        others = sorted(HISTORY_TYPES - {"validation_result"})
        return assemble(
            task,
            self.task_dependencies(project, task_id),
            self.list_executions(project, task_id=task_id, limit=RUNS).items,
            self.list_history(project, task_id, type="validation_result", order="desc", limit=VALIDATIONS).entries,
            self.list_history(project, task_id, type=others, order="desc", limit=ENTRIES).entries,
            format,
            max_chars,
        )

    def project_metrics(self, project: str) -> JSONObject:
        """Tasks by status, pending and ready counts, average complexity; runs by status, tokens and cost."""
        metrics = self.backend.query(check_id(project, "projectId"), TASK, task_metrics)
        stats = self.execution_stats(project)
        metrics["executionsByStatus"] = {status: stats[status] for status in EXECUTION_STATUSES}
        for name in ("totalExecutions", "totalTokens", "totalCostUSD"):
            metrics[name] = stats[name]
        return metrics

    # -- the one way a task is written ----------------------------------------------------------------------
    def _write_task(self, project: str, task_id: str, build: Builder, if_match: int | None) -> JSONObject:
        """Write a task under the project's graph lock: new dependencies must exist and close no cycle; new
        transitions are logged to the task's history."""
        check_id(project, "projectId")
        if task_id in RESERVED_TASK_IDS:
            raise InvalidId(f"{task_id!r} is reserved (GET .../tasks/{task_id} is a route); pick another")
        before: list[JSONObject] = []

        def checked(current: JSONObject | None) -> JSONObject:
            document = build(current)
            check_depth(document, self.settings.max_json_depth, f"task {task_id}")
            before[:] = current["transitions"] if current else []
            added = [
                edge for edge in document["dependencies"] if current is None or edge not in current["dependencies"]
            ]
            for edge in added:
                if edge["taskId"] == task_id:
                    self._refuse_cycle(project, task_id, task_id, document["dependencies"])
                if self.backend.read(project, edge["taskId"], TASK) is None:
                    raise NotFound(f"task {edge['taskId']} (a dependency of {task_id}) not found in project {project}")
                self._refuse_cycle(project, task_id, edge["taskId"], document["dependencies"])
            return document

        self._repair_pending(project)
        with self._locks.exclusive(f"graph/{project}"):
            self._repair_history(project, task_id)
            # The mark outlives a crash between the task's write and its status_change entries; whoever meets
            # it next (this task's next write, or the next process to use the project) adds what is missing.
            self.backend.mark(project, TASK, f"{_PENDING}{task_id}")
            document = self.backend.write(project, task_id, checked, if_match, TASK)
            moves = [_status_change(record) for record in document["transitions"][len(before) :]]
            try:
                if moves:
                    self.add_history(project, task_id, moves)
                self.backend.unmark(project, TASK, f"{_PENDING}{task_id}")
            except StorehouseError as exc:  # the move is durable in the task's trail: the write succeeded
                log.error("task %s/%s: a transition's status_change history entry was not written: %s",
                          project, task_id, exc.message)  # fmt: skip
        return document

    def restore_task(self, project: str, task_id: str, build: Builder) -> JSONObject:
        """Write a task document as it was exported (import): ``build(current)`` returns it, or raises to keep
        what is stored. Under the graph lock its edges must close no cycle; they may name tasks not imported
        yet. No history entry is added: the export carries the task's history."""
        check_id(project, "projectId")
        if task_id in RESERVED_TASK_IDS:
            raise InvalidId(f"{task_id!r} is reserved (GET .../tasks/{task_id} is a route); pick another")

        def checked(current: JSONObject | None) -> JSONObject:
            document = build(current)
            check_depth(document, self.settings.max_json_depth, f"task {task_id}")
            for edge in document["dependencies"]:
                self._refuse_cycle(project, task_id, edge["taskId"], document["dependencies"])
            return document

        self._repair_pending(project)
        with self._locks.exclusive(f"graph/{project}"):
            return self.backend.write(project, task_id, checked, None, TASK)

    def _repair_pending(self, project: str) -> None:
        """Add the status_change entries that a process killed mid-transition left out (once per process and
        project; every task operation and history read calls it)."""
        if project in self._repaired:
            return
        if self.backend.marks(project, TASK, _PENDING):
            with self._locks.exclusive(f"graph/{project}"):
                self._repair_history(project, None)
        self._repaired.add(project)

    def _repair_history(self, project: str, only: str | None) -> None:
        """Hold the project's graph lock. For each task marked as written but maybe not logged (of only, if
        given), add its newest transition's status_change entry unless the history has it, then unmark it."""
        for name in self.backend.marks(project, TASK, _PENDING):
            task_id = name[len(_PENDING) :]
            if only is not None and task_id != only:
                continue
            try:
                document = self.backend.read(project, task_id, TASK)
            except NotFound:  # damaged: 'storehouse check' names it; nothing to repair from
                document = None
            if document is not None and document["transitions"]:
                last = document["transitions"][-1]
                logged = {
                    (meta.get("at"), meta.get("from"), meta.get("to"))
                    for entry in self._history.entries(project, task_id, now_timestamp())
                    if entry["type"] == "status_change" and isinstance(meta := entry.get("metadata"), dict)
                }
                if (last["at"], last["from"], last["to"]) not in logged:
                    self.add_history(project, task_id, {**_status_change(last), "createdAt": last["at"]})
            self.backend.unmark(project, TASK, name)

    def _refuse_cycle(
        self, project: str, task_id: str, depends_on: str, new_edges: list[JSONObject] | None = None
    ) -> None:
        graph = [(a, b) for a, b, _ in self.backend.query(project, TASK, edges) if a != task_id or new_edges is None]
        if new_edges is not None:
            graph += [(task_id, edge["taskId"]) for edge in new_edges if edge["taskId"] != depends_on]
        cycle = find_cycle(graph, task_id, depends_on)
        if cycle is not None:
            raise Conflict(
                f"task {task_id} cannot depend on {depends_on}: that would close the cycle {' -> '.join(cycle)}",
                details={"cycle": cycle},
            )


def _json(value: object) -> str:
    """A value as JSON, for messages (repr for what JSON cannot show)."""
    try:
        return orjson.dumps(value).decode()
    except TypeError:
        return repr(value)


def _without_edge(depends_on: str) -> Builder:
    def build(current: JSONObject | None) -> JSONObject:
        if current is None:
            raise NotFound(f"task not found (while removing its dependency on {depends_on})")
        kept = [edge for edge in current["dependencies"] if edge["taskId"] != depends_on]
        return {**current, "dependencies": kept, "version": current["version"] + 1, "updatedAt": now_timestamp()}

    return build


def _status_change(record: JSONObject) -> JSONObject:
    return {
        "type": "status_change",
        "content": f"{record['from']} -> {record['to']}",
        "role": record["actor"],
        "metadata": dict(record),
    }


def _choices(name: str, given: str | Iterable[str] | None, allowed: tuple[str, ...]) -> tuple[str, ...]:
    if given is None:
        return ()
    parts = given.split(",") if isinstance(given, str) else list(given)
    chosen = tuple(dict.fromkeys(part.strip() for part in parts))
    for value in chosen:
        if value not in allowed:
            raise InvalidParameter(
                f"{name} must be one or more of {', '.join(allowed)} (comma-separated); got {value!r}"
            )
    return chosen


def _bounded(name: str, value: int, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise InvalidParameter(f"{name} must be between {low} and {high}, got {value!r}")
    return value


class AsyncTaskOperations:
    """Mixed into ``AsyncStorehouse``: the task operations as coroutines, on its read and write lanes."""

    sync: TaskOperations
    _read: Callable[..., Awaitable[Any]]
    _write: Callable[..., Awaitable[Any]]

    async def create_task(self, project: str, task: JSONObject | None = None, **fields: JSONValue) -> JSONObject:
        result: JSONObject = await self._write(self.sync.create_task, project, task, **fields)
        return result

    async def put_task(
        self, project: str, task_id: str, task: JSONObject, *, if_match: int | None = None
    ) -> JSONObject:
        result: JSONObject = await self._write(self.sync.put_task, project, task_id, task, if_match=if_match)
        return result

    async def patch_task(
        self, project: str, task_id: str, changes: JSONObject, *, if_match: int | None = None
    ) -> JSONObject:
        result: JSONObject = await self._write(self.sync.patch_task, project, task_id, changes, if_match=if_match)
        return result

    async def get_task(self, project: str, task_id: str) -> JSONObject:
        result: JSONObject = await self._read(self.sync.get_task, project, task_id)
        return result

    async def delete_task(self, project: str, task_id: str, *, if_match: int | None = None) -> None:
        await self._write(self.sync.delete_task, project, task_id, if_match=if_match)

    async def list_tasks(self, project: str, **query: Any) -> TaskPage:
        result: TaskPage = await self._read(self.sync.list_tasks, project, **query)
        return result

    async def transition_task(self, project: str, task_id: str, to: str, **given: Any) -> JSONObject:
        result: JSONObject = await self._write(self.sync.transition_task, project, task_id, to, **given)
        return result

    async def task_transitions(self, project: str, task_id: str) -> list[JSONObject]:
        result: list[JSONObject] = await self._read(self.sync.task_transitions, project, task_id)
        return result

    async def add_dependency(
        self, project: str, task_id: str, depends_on: str, type: str = "blocks"
    ) -> tuple[JSONObject, bool]:
        result: tuple[JSONObject, bool] = await self._write(
            self.sync.add_dependency, project, task_id, depends_on, type
        )
        return result

    async def remove_dependency(self, project: str, task_id: str, depends_on: str) -> None:
        await self._write(self.sync.remove_dependency, project, task_id, depends_on)

    async def task_dependencies(self, project: str, task_id: str) -> list[JSONObject]:
        result: list[JSONObject] = await self._read(self.sync.task_dependencies, project, task_id)
        return result

    async def task_dependents(self, project: str, task_id: str) -> list[JSONObject]:
        result: list[JSONObject] = await self._read(self.sync.task_dependents, project, task_id)
        return result

    async def task_context(self, project: str, task_id: str, **given: Any) -> str:
        result: str = await self._read(self.sync.task_context, project, task_id, **given)
        return result

    async def project_metrics(self, project: str) -> JSONObject:
        result: JSONObject = await self._read(self.sync.project_metrics, project)
        return result

    async def restore_task(self, project: str, task_id: str, build: Builder) -> JSONObject:
        result: JSONObject = await self._write(self.sync.restore_task, project, task_id, build)
        return result

    async def task_order(self, project: str) -> list[JSONObject]:
        result: list[JSONObject] = await self._read(self.sync.task_order, project)
        return result
