"""The task paths of the OpenAPI document (``openapi.py`` builds the rest and the shared pieces)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal

from pydantic import BaseModel, Field

from ..models import _Model
from ..tasks import STATUSES, Dependency, Task, Transition
from .tasks import CONTEXT_PARAMETERS, LIST_PARAMETERS

Schema = dict[str, Any]


class TaskSummary(_Model):
    """What lists return for each task."""

    id: str
    project_id: str
    title: str
    status: str
    priority: str
    complexity_score: int | None
    assigned_to: str | None
    tags: list[str]
    result_summary: str | None
    dependencies: list[Dependency]
    created_at: str
    updated_at: str
    truncated: list[str] | None = Field(
        default=None,
        description="the fields cut to fit a summary (title and assignedTo past 256 characters, resultSummary "
        "past 2,000, more than 50 tags or a tag past 128 characters); absent when nothing was cut",
    )


MODELS: list[tuple[type[BaseModel], Literal["validation", "serialization"]]] = [
    (Task, "validation"),
    (Task, "serialization"),
    (TaskSummary, "serialization"),
    (Transition, "serialization"),
]


def task_paths(
    ref: Callable[[type[BaseModel], str], Schema],
    parameter: Callable[[Any], Schema],
    project: Schema,
    pieces: dict[str, Any],
) -> dict[str, Any]:
    """The paths under /api/projects/{projectId}/tasks. ``pieces`` are the shared parts of the document:
    ok(description, schema), body(schema), errors, errors_with_body, conditional, match, error."""
    ok, body = pieces["ok"], pieces["body"]
    errors, errors_with_body, conditional, match = (
        pieces["errors"],
        pieces["errors_with_body"],
        pieces["conditional"],
        pieces["match"],
    )
    conflict = {"409": {"description": "a forbidden move, a cycle, or an id that exists", **pieces["error"]}}
    task_in, task_out = ref(Task, "validation"), ref(Task, "serialization")
    summary = ref(TaskSummary, "serialization")
    task_id = {"name": "taskId", "in": "path", "required": True, "schema": {"type": "string", "pattern": _ID}}
    other = {"name": "dependsOnId", "in": "path", "required": True, "schema": {"type": "string", "pattern": _ID}}

    def single(name: str, schema: Schema) -> Schema:
        return {"type": "object", "properties": {name: schema}, "required": [name]}

    one = ok("the task", single("task", task_out))
    listing = {
        "type": "object",
        "properties": {"tasks": {"type": "array", "items": summary}, "total": {"type": "integer"}},
        "required": ["tasks", "total"],
    }
    kind: Schema = {"type": "string", "enum": ["blocks", "requires", "related"]}
    edge: Schema = {
        "type": "object",
        "properties": {"taskId": {"type": "string"}, "type": kind},
        "required": ["taskId", "type"],
    }
    neighbour: Schema = {
        "type": "object",
        "properties": {"taskId": {"type": "string"}, "type": kind, "task": {"anyOf": [summary, {"type": "null"}]}},
        "required": ["taskId", "type", "task"],
    }
    transition_in = {
        "type": "object",
        "properties": {
            "to": {"type": "string", "enum": list(STATUSES)},
            "reason": {"type": ["string", "null"]},
            "actor": {"type": ["string", "null"]},
        },
        "required": ["to"],
        "additionalProperties": False,
    }
    tasks = "/api/projects/{projectId}/tasks"
    task = f"{tasks}/{{taskId}}"
    return {
        tasks: {
            "parameters": [project],
            "get": {
                "summary": "List tasks (critical first, then oldest first); ready=true for what can start now",
                "operationId": "listTasks",
                "parameters": [parameter(p) for p in LIST_PARAMETERS],
                "responses": {"200": ok("a page of task summaries", listing), **errors},
            },
            "post": {
                "summary": "Create a task",
                "operationId": "createTask",
                "requestBody": body(task_in),
                "responses": {"201": one, **conflict, **errors_with_body},
            },
        },
        f"{tasks}/order": {
            "parameters": [project],
            "get": {
                "summary": "Every task, each after what it depends on (ties: priority, then createdAt)",
                "operationId": "taskOrder",
                "responses": {
                    "200": ok("the tasks in order", single("tasks", {"type": "array", "items": summary})),
                    **errors,
                },
            },
        },
        task: {
            "parameters": [project, task_id],
            "get": {"summary": "Get one task", "operationId": "getTask", "responses": {"200": one, **errors}},
            "put": {
                "summary": "Create or replace a task (a status change must be an allowed transition)",
                "operationId": "putTask",
                "parameters": [match],
                "requestBody": body(task_in),
                "responses": {"200": one, "201": one, **conflict, **errors_with_body, **conditional},
            },
            "patch": {
                "summary": "Change a task with a JSON merge patch (a status change must be an allowed transition)",
                "operationId": "patchTask",
                "parameters": [match],
                "requestBody": body({"type": "object"}),
                "responses": {"200": one, **conflict, **errors_with_body, **conditional},
            },
            "delete": {
                "summary": "Delete a task, its history and its edges (its executions stay)",
                "operationId": "deleteTask",
                "parameters": [match],
                "responses": {"204": {"description": "deleted"}, **errors, **conditional},
            },
        },
        f"{task}/transitions": {
            "parameters": [project, task_id],
            "get": {
                "summary": "The task's audit trail, oldest first",
                "operationId": "taskTransitions",
                "responses": {
                    "200": ok(
                        "the transitions",
                        single("transitions", {"type": "array", "items": ref(Transition, "serialization")}),
                    ),
                    **errors,
                },
            },
            "post": {
                "summary": "Move the task to another status (409 lists the allowed targets)",
                "operationId": "transitionTask",
                "parameters": [match],
                "requestBody": body(transition_in),
                "responses": {"200": one, **conflict, **errors_with_body, **conditional},
            },
        },
        f"{task}/dependencies": {
            "parameters": [project, task_id],
            "get": {
                "summary": "What the task depends on",
                "operationId": "taskDependencies",
                "responses": {
                    "200": ok("its dependencies", single("dependencies", {"type": "array", "items": neighbour})),
                    **errors,
                },
            },
        },
        f"{task}/dependents": {
            "parameters": [project, task_id],
            "get": {
                "summary": "What depends on the task",
                "operationId": "taskDependents",
                "responses": {
                    "200": ok("its dependents", single("dependents", {"type": "array", "items": neighbour})),
                    **errors,
                },
            },
        },
        f"{task}/context": {
            "parameters": [project, task_id],
            "get": {
                "summary": "What an agent needs to continue the task, within maxChars (Markdown or JSON)",
                "operationId": "taskContext",
                "parameters": [parameter(p) for p in CONTEXT_PARAMETERS],
                "responses": {
                    "200": {
                        "description": "the context: never longer than maxChars; a marker says what was cut",
                        "content": {
                            "text/markdown": {"schema": {"type": "string"}},
                            "application/json": {"schema": {"type": "object"}},
                        },
                    },
                    **errors,
                },
            },
        },
        "/api/projects/{projectId}/metrics": {
            "parameters": [project],
            "get": {
                "summary": "Tasks by status, pending and ready tasks, average complexity; runs by status, tokens, cost",
                "operationId": "projectMetrics",
                "responses": {"200": ok("the metrics", METRICS), **errors},
            },
        },
        f"{task}/dependencies/{{dependsOnId}}": {
            "parameters": [project, task_id, other],
            "put": {
                "summary": "Make the task depend on another (409 names the cycle it would close)",
                "operationId": "addDependency",
                "requestBody": {
                    "required": False,
                    "content": {
                        "application/json": {
                            "schema": {
                                "type": "object",
                                "properties": {"type": kind},
                                "additionalProperties": False,
                            }
                        }
                    },
                },
                "responses": {
                    "200": ok("the edge (it existed)", single("dependency", edge)),
                    "201": ok("the edge (new)", single("dependency", edge)),
                    **conflict,
                    **errors_with_body,
                },
            },
            "delete": {
                "summary": "Remove a dependency",
                "operationId": "removeDependency",
                "responses": {"204": {"description": "removed"}, **errors},
            },
        },
    }


_ID = r"^[A-Za-z0-9_][A-Za-z0-9._-]{0,127}$"
_COUNTS = {"type": "object", "additionalProperties": {"type": "integer"}}
METRICS: Schema = {
    "type": "object",
    "properties": {
        "totalTasks": {"type": "integer"},
        "tasksByStatus": _COUNTS,
        "pendingTasks": {"type": "integer"},
        "readyTasks": {"type": "integer"},
        "averageComplexity": {"type": ["number", "null"]},
        "executionsByStatus": _COUNTS,
        "totalExecutions": {"type": "integer"},
        "totalTokens": {"type": "integer"},
        "totalCostUSD": {"type": "number"},
    },
    "required": [
        "totalTasks",
        "tasksByStatus",
        "pendingTasks",
        "readyTasks",
        "averageComplexity",
        "executionsByStatus",
        "totalExecutions",
        "totalTokens",
        "totalCostUSD",
    ],
}
