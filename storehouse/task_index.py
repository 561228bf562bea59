"""Queries of the task tables of the index (``tasks``, ``task_tags``, ``task_edges``; schema in ``index.py``).

Each function takes a read connection and the project's task key (``FileBackend.query`` provides both), and
answers from the index alone, never from the files.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass

import orjson

from .models import JSONObject
from .tasks import HOLDING, PRIORITY_RANK, STATUSES

# A pending task is ready when none of its blocks / requires dependencies is anything but succeeded. An edge
# to a task that is gone (a delete cut short before it reached the dependents) holds nothing back.
_NOT_HELD = f"""NOT EXISTS (
    SELECT 1 FROM task_edges e JOIN tasks d ON d.p = e.p AND d.id = e.depends_on
    WHERE e.p = t.p AND e.task = t.id AND e.type IN ({",".join(f"'{kind}'" for kind in sorted(HOLDING))})
      AND d.status <> 'succeeded')"""


@dataclass(frozen=True)
class TaskQuery:
    """Filters and paging of a task listing (ordered by priority, critical first, then createdAt, then id)."""

    statuses: tuple[str, ...] = ()
    priorities: tuple[str, ...] = ()
    tag: str | None = None
    assigned_to: str | None = None
    ready: bool | None = None  # True: only ready tasks; False: only tasks that are not ready
    limit: int = 50
    offset: int = 0


def list_tasks(connection: sqlite3.Connection, p: int | None, query: TaskQuery) -> tuple[list[bytes], int]:
    """A page of task summaries (encoded JSON) and the number of all matches."""
    if p is None:
        return [], 0
    where: list[str] = ["t.p = ?"]
    params: list[object] = [p]
    if query.statuses:
        where.append(f"t.status IN ({','.join('?' * len(query.statuses))})")
        params += query.statuses
    if query.priorities:
        where.append(f"t.priority_rank IN ({','.join('?' * len(query.priorities))})")
        params += [PRIORITY_RANK[priority] for priority in query.priorities]
    if query.tag is not None:
        where.append("t.id IN (SELECT id FROM task_tags WHERE p = ? AND tag = ?)")
        params += [p, query.tag]
    if query.assigned_to is not None:
        where.append("t.assigned_to = ?")
        params.append(query.assigned_to)
    if query.ready is not None:
        ready = f"(t.status = 'pending' AND {_NOT_HELD})"
        where.append(ready if query.ready else f"NOT {ready}")
    condition = " AND ".join(where)
    total = connection.execute(f"SELECT count(*) FROM tasks t WHERE {condition}", params).fetchone()[0]
    rows = connection.execute(
        f"SELECT t.summary FROM tasks t WHERE {condition} "
        "ORDER BY t.priority_rank, t.created_at, t.id LIMIT ? OFFSET ?",
        [*params, query.limit, query.offset],
    ).fetchall()
    return [bytes(summary) for (summary,) in rows], int(total)


def edges(connection: sqlite3.Connection, p: int | None) -> list[tuple[str, str, str]]:
    """Every edge of a project's graph: (task, depends_on, type)."""
    if p is None:
        return []
    query = "SELECT task, depends_on, type FROM task_edges WHERE p = ? ORDER BY task, depends_on"
    return [(str(task), str(target), str(kind)) for task, target, kind in connection.execute(query, (p,))]


def dependencies(connection: sqlite3.Connection, p: int | None, task: str) -> list[JSONObject]:
    """What task depends on: ``{"taskId", "type", "task": summary or None}`` by id."""
    return _neighbours(connection, p, task, "task", "depends_on")


def dependents(connection: sqlite3.Connection, p: int | None, task: str) -> list[JSONObject]:
    """What depends on task: ``{"taskId", "type", "task": summary or None}`` by id."""
    return _neighbours(connection, p, task, "depends_on", "task")


def _neighbours(connection: sqlite3.Connection, p: int | None, task: str, mine: str, theirs: str) -> list[JSONObject]:
    if p is None:
        return []
    rows = connection.execute(
        f"SELECT e.{theirs}, e.type, t.summary FROM task_edges e LEFT JOIN tasks t ON t.p = e.p AND t.id = e.{theirs} "
        f"WHERE e.p = ? AND e.{mine} = ? ORDER BY e.{theirs}",
        (p, task),
    ).fetchall()
    return [
        {"taskId": other, "type": kind, "task": None if summary is None else orjson.loads(summary)}
        for other, kind, summary in rows
    ]


def ordering(connection: sqlite3.Connection, p: int | None) -> tuple[dict[str, tuple[int, str]], dict[str, bytes]]:
    """Every task's (priority rank, createdAt) and summary, for a topological order."""
    if p is None:
        return {}, {}
    keys: dict[str, tuple[int, str]] = {}
    summaries: dict[str, bytes] = {}
    for item, rank, created, summary in connection.execute(
        "SELECT id, priority_rank, created_at, summary FROM tasks WHERE p = ?", (p,)
    ):
        keys[str(item)] = (int(rank), str(created))
        summaries[str(item)] = bytes(summary)
    return keys, summaries


def task_metrics(connection: sqlite3.Connection, p: int | None) -> JSONObject:
    """Tasks by status, how many are pending and ready, and the average complexity."""
    by_status = dict.fromkeys(STATUSES, 0)
    average: float | None = None
    ready = 0
    if p is not None:
        for status, count in connection.execute("SELECT status, count(*) FROM tasks WHERE p = ? GROUP BY status", (p,)):
            by_status[str(status)] = int(count)
        found = connection.execute("SELECT avg(complexity) FROM tasks WHERE p = ?", (p,)).fetchone()[0]
        average = None if found is None else round(float(found), 2)
        ready = connection.execute(
            f"SELECT count(*) FROM tasks t WHERE t.p = ? AND t.status = 'pending' AND {_NOT_HELD}", (p,)
        ).fetchone()[0]
    return {
        "totalTasks": sum(by_status.values()),
        "tasksByStatus": by_status,
        "pendingTasks": by_status["pending"],
        "readyTasks": int(ready),
        "averageComplexity": average,
    }
