"""The OpenAPI 3.1 document, built from the pydantic models that validate requests and the query tables."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, JsonValue
from pydantic.json_schema import models_json_schema

from .. import __version__
from ..history import TYPES
from ..index import STATUSES
from ..models import Execution, TokenUsage, _Model
from .events import EVENT_PARAMETERS
from .executions import (
    DAILY_PARAMETERS,
    DELETE_PARAMETERS,
    LIST_PARAMETERS,
    PROJECT_DELETE_PARAMETERS,
    PROJECT_LIST_PARAMETERS,
)
from .history import HISTORY_PARAMETERS
from .openapi_tasks import MODELS as TASK_MODELS
from .openapi_tasks import task_paths
from .params import QueryParameter
from .transfer import (
    EXECUTION_EXPORT_PARAMETERS,
    HISTORY_EXPORT_PARAMETERS,
    PROJECT_PARAMETERS,
    TASK_EXPORT_PARAMETERS,
)


class ExecutionSummary(_Model):
    """What lists return for each execution."""

    id: str
    project_id: str
    task_id: str | None
    name: str | None
    status: str = Field(json_schema_extra={"enum": list(STATUSES)})
    started_at: str | None
    completed_at: str | None
    duration: int | None
    token_usage: TokenUsage
    cost_usd: float = Field(alias="costUSD")
    error: str | None
    tags: list[str]
    truncated: list[str] | None = Field(
        default=None,
        description="the fields cut to fit a summary (name past 256 characters, error past 2,000, more than 50 "
        "tags or a tag past 128 characters); absent when nothing was cut. The document keeps the whole text.",
    )


class ExecutionStats(_Model):
    """Aggregates over every execution of a project."""

    total_executions: int
    pending: int
    running: int
    completed: int
    failed: int
    cancelled: int
    total_cost_usd: float = Field(alias="totalCostUSD")
    total_tokens: int
    input_tokens: int
    output_tokens: int
    average_cost_usd: float = Field(alias="averageCostUSD")
    average_duration: int | None
    total_duration: int
    success_rate: float | None


_TYPE = Field(json_schema_extra={"enum": list[JsonValue](sorted(TYPES))})
_ID_FIELD = Field(default=None, json_schema_extra={"pattern": r"^[A-Za-z0-9_][A-Za-z0-9._-]{0,127}$"})


class NewHistoryEntry(_Model):
    """A history entry to add. ``id`` and ``expiresAt`` are given by the store (ignored if sent)."""

    model_config = ConfigDict(extra="forbid")
    type: str = _TYPE
    task_id: str | None = Field(default=None, description="if given, the taskId of the path")
    execution_id: str | None = _ID_FIELD
    workspace_id: str | None = _ID_FIELD
    session_id: str | None = _ID_FIELD
    role: str | None = None
    content: str | None = None
    metadata: dict[str, Any] | None = None
    created_at: str | None = Field(default=None, description="RFC 3339; now when left out (back-fill, import)")
    id: int | None = None
    expires_at: str | None = None


class HistoryEntry(_Model):
    """A stored history entry."""

    id: int
    task_id: str
    type: str = _TYPE
    execution_id: str | None
    workspace_id: str | None
    session_id: str | None
    role: str | None
    content: str | None
    metadata: dict[str, Any] | None
    created_at: str
    expires_at: str


class HistorySettings(_Model):
    """A project's retention: of task history, and of runs (null keeps every run)."""

    model_config = ConfigDict(extra="forbid")
    history_ttl_days: int = Field(ge=1, le=36_500, description="days an entry lives")
    history_max_entries_per_task: int = Field(ge=1, le=100_000, description="entries a task keeps, newest")
    run_ttl_days: int | None = Field(
        ge=1, le=36_500, description="days a run is kept, counted from its startedAt; null: no limit"
    )
    max_runs: int | None = Field(
        ge=1, le=1_000_000_000, description="runs the project keeps, the newest by startedAt; null: no limit"
    )


class SettingsChange(HistorySettings):
    """New retention settings; a setting left out keeps its value (null removes a run limit)."""

    history_ttl_days: int = Field(default=None, ge=1, le=36_500)  # type: ignore[assignment]
    history_max_entries_per_task: int = Field(default=None, ge=1, le=100_000)  # type: ignore[assignment]
    run_ttl_days: int | None = Field(default=None, ge=1, le=36_500)
    max_runs: int | None = Field(default=None, ge=1, le=1_000_000_000)


class ErrorDetail(BaseModel):
    code: str
    message: str


class ErrorBody(BaseModel):
    """Every error response."""

    error: ErrorDetail


_COUNT = {"type": "integer", "minimum": 0}
_MILLIS = {"type": ["integer", "null"], "minimum": 0}
DAILY_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "from": {"type": "string", "format": "date"},
        "to": {"type": "string", "format": "date"},
        "days": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    "date": {"type": "string", "format": "date"},
                    "runs": _COUNT,
                    "byStatus": {
                        "type": "object",
                        "properties": {status: _COUNT for status in STATUSES},
                        "required": list(STATUSES),
                    },
                    "costUSD": {"type": "number", "minimum": 0},
                    "tokens": _COUNT,
                    "p50Duration": _MILLIS,
                    "p95Duration": _MILLIS,
                },
                "required": ["date", "runs", "byStatus", "costUSD", "tokens", "p50Duration", "p95Duration"],
            },
        },
    },
    "required": ["from", "to", "days"],
}


def _schemas() -> tuple[dict[str, Any], dict[Any, Any]]:
    keys, document = models_json_schema(
        [
            (Execution, "validation"),
            (Execution, "serialization"),
            (ExecutionSummary, "serialization"),
            (ExecutionStats, "serialization"),
            (ErrorBody, "serialization"),
            (NewHistoryEntry, "validation"),
            (HistoryEntry, "serialization"),
            (HistorySettings, "serialization"),
            (SettingsChange, "validation"),
            *TASK_MODELS,
        ],
        by_alias=True,
        ref_template="#/components/schemas/{model}",
    )
    return document.get("$defs", {}), keys


def _ref(keys: dict[Any, Any], model: type[BaseModel], mode: str) -> dict[str, Any]:
    return dict(keys[(model, mode)])


def _parameter(parameter: QueryParameter) -> dict[str, Any]:
    return {
        "name": parameter.name,
        "in": "query",
        "required": False,
        "schema": dict(parameter.schema),
        "description": parameter.description,
    }


def build_openapi() -> dict[str, Any]:
    """The whole OpenAPI document for /openapi.json."""
    schemas, keys = _schemas()
    execution_in = _ref(keys, Execution, "validation")
    execution_out = _ref(keys, Execution, "serialization")
    summary = _ref(keys, ExecutionSummary, "serialization")
    error = {"content": {"application/json": {"schema": _ref(keys, ErrorBody, "serialization")}}}

    def body(schema: dict[str, Any]) -> dict[str, Any]:
        return {"required": True, "content": {"application/json": {"schema": schema}}}

    def ok(description: str, schema: dict[str, Any]) -> dict[str, Any]:
        return {"description": description, "content": {"application/json": {"schema": schema}}}

    def envelope(name: str, schema: dict[str, Any]) -> dict[str, Any]:
        return {"type": "object", "properties": {name: schema}, "required": [name]}

    one = ok("the execution", envelope("execution", execution_out))
    errors = {"400": {"description": "bad input", **error}, "404": {"description": "not found", **error}}
    project = {"name": "projectId", "in": "path", "required": True, "schema": {"type": "string", "pattern": _ID}}
    execution = {"name": "executionId", "in": "path", "required": True, "schema": {"type": "string", "pattern": _ID}}
    match = {
        "name": "If-Match",
        "in": "header",
        "required": False,
        "schema": {"type": "string"},
        "description": "a version from an ETag: the write happens only if it is still current",
    }
    conditional = {"412": {"description": "If-Match is stale", **error}}
    errors_with_body = {**errors, "415": {"description": "the body is not sent as JSON", **error}}
    listing = {
        "type": "object",
        "properties": {
            "executions": {"type": "array", "items": summary},
            "total": {"type": "integer"},
            "nextCursor": {"type": ["string", "null"]},
        },
        "required": ["executions", "total", "nextCursor"],
    }
    projects = {
        "type": "object",
        "properties": {
            "projects": {
                "type": "array",
                "items": {
                    "type": "object",
                    "properties": {
                        "id": {"type": "string"},
                        "executionCount": {"type": "integer"},
                        "lastStartedAt": {"type": ["string", "null"]},
                        "costUSD": {"type": "number", "description": "total cost of the project's executions"},
                        "taskCount": {"type": "integer"},
                    },
                    "required": ["id", "executionCount", "lastStartedAt", "costUSD", "taskCount"],
                },
            },
            "total": {"type": "integer"},
        },
        "required": ["projects", "total"],
    }
    base = "/api/projects/{projectId}/executions"
    paths: dict[str, Any] = {
        "/api/projects": {
            "get": {
                "summary": "List projects (with executions, tasks or history) by id: run count, cost, task count",
                "operationId": "listProjects",
                "parameters": [_parameter(p) for p in PROJECT_LIST_PARAMETERS],
                "responses": {"200": ok("a page of projects; total counts them all", projects), "400": errors["400"]},
            }
        },
        "/api/projects/{projectId}": {
            "parameters": [project],
            "delete": {
                "summary": "Delete a project: its executions, tasks, task history and settings",
                "description": (
                    "Needs `confirm` set to the project's id. The change feed gets one `project.deleted` event "
                    "with the counts (no event per document)."
                ),
                "operationId": "deleteProject",
                "parameters": [_parameter(p) for p in PROJECT_DELETE_PARAMETERS],
                "responses": {
                    "200": ok(
                        "what was deleted",
                        {
                            "type": "object",
                            "properties": {
                                "deleted": {
                                    "type": "object",
                                    "properties": {
                                        name: {"type": "integer"}
                                        for name in ("executions", "tasks", "history", "settings")
                                    },
                                    "required": ["executions", "tasks", "history", "settings"],
                                }
                            },
                            "required": ["deleted"],
                        },
                    ),
                    **errors,
                },
            },
        },
        base: {
            "parameters": [project],
            "get": {
                "summary": "List executions (newest first)",
                "operationId": "listExecutions",
                "parameters": [_parameter(p) for p in LIST_PARAMETERS],
                "responses": {"200": ok("a page of summaries", listing), **errors},
            },
            "post": {
                "summary": "Create an execution",
                "operationId": "createExecution",
                "requestBody": body(execution_in),
                "responses": {"201": one, "409": {"description": "the id exists", **error}, **errors_with_body},
            },
            "delete": {
                "summary": "Delete the executions the filters match (every execution of the project without one)",
                "description": (
                    "Takes the filters of the list (a repeated or comma-separated status is their union). Each run "
                    "is deleted atomically and durably; runs hidden by the project's run retention are not counted."
                ),
                "operationId": "deleteExecutions",
                "parameters": [_parameter(p) for p in DELETE_PARAMETERS],
                "responses": {
                    "200": ok(
                        "how many were deleted",
                        {"type": "object", "properties": {"deleted": {"type": "integer"}}, "required": ["deleted"]},
                    ),
                    **errors,
                },
            },
        },
        f"{base}/stats": {
            "parameters": [project],
            "get": {
                "summary": "Counts, cost, tokens and durations",
                "operationId": "executionStats",
                "responses": {"200": ok("the stats", _ref(keys, ExecutionStats, "serialization")), **errors},
            },
        },
        f"{base}/stats/daily": {
            "parameters": [project],
            "get": {
                "summary": "Runs by status, cost, tokens and p50/p95 duration for each day (UTC)",
                "description": "Every day of the range is listed, oldest first, zero-filled.",
                "operationId": "dailyStats",
                "parameters": [_parameter(p) for p in DAILY_PARAMETERS],
                "responses": {"200": ok("one entry per day", DAILY_SCHEMA), **errors},
            },
        },
        f"{base}/{{executionId}}": {
            "parameters": [project, execution],
            "get": {"summary": "Get one execution", "operationId": "getExecution", "responses": {"200": one, **errors}},
            "put": {
                "summary": "Create or replace an execution",
                "operationId": "putExecution",
                "parameters": [match],
                "requestBody": body(execution_in),
                "responses": {"200": one, "201": one, **errors_with_body, **conditional},
            },
            "patch": {
                "summary": "Change an execution with a JSON merge patch",
                "operationId": "patchExecution",
                "parameters": [match],
                "requestBody": {
                    "required": True,
                    "content": {
                        "application/merge-patch+json": {"schema": {"type": "object"}},
                        "application/json": {"schema": {"type": "object"}},
                    },
                },
                "responses": {"200": one, **errors_with_body, **conditional},
            },
            "delete": {
                "summary": "Delete one execution",
                "operationId": "deleteExecution",
                "parameters": [match],
                "responses": {"204": {"description": "deleted"}, **errors, **conditional},
            },
        },
    }
    paths.update(_history_paths(keys, project, ok, body, errors, errors_with_body))
    pieces = {
        "ok": ok,
        "body": body,
        "errors": errors,
        "errors_with_body": errors_with_body,
        "conditional": conditional,
        "match": match,
        "error": error,
    }
    paths.update(task_paths(lambda model, mode: _ref(keys, model, mode), _parameter, project, pieces))
    paths.update(_export_paths(project, errors))
    paths["/api/projects/{projectId}/events"] = {
        "parameters": [project],
        "get": {
            "summary": "Follow the project's changes as Server-Sent Events (resume with Last-Event-ID)",
            "description": (
                "Opens with a `ready` event (or `reset`, when the Last-Event-ID cannot be resumed: reload), "
                "then one event per change: `execution.created`, `execution.updated`, `execution.deleted`, "
                "`history.appended`, `project.deleted`, each with an id to resume from and a JSON object as data. "
                "Changes made by other processes arrive within a second."
            ),
            "operationId": "followEvents",
            "parameters": [
                {
                    "name": "Last-Event-ID",
                    "in": "header",
                    "required": False,
                    "schema": {"type": "string"},
                    "description": "resume after this event id (sent by EventSource when it reconnects)",
                },
                *[_parameter(p) for p in EVENT_PARAMETERS],
            ],
            "responses": {
                "200": {
                    "description": "the event stream",
                    "content": {"text/event-stream": {"schema": {"type": "string"}}},
                },
                **errors,
            },
        },
    }
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "storehouse",
            "version": __version__,
            "description": "The history of AI-agent and workflow runs, kept as plain JSON files.",
        },
        "paths": paths,
        "components": {"schemas": schemas},
    }


def _export_paths(project: dict[str, Any], errors: dict[str, Any]) -> dict[str, Any]:
    lines = {"type": "string", "description": "one JSON record per line (see storehouse.transfer)"}

    def export(summary: str, operation: str, parameters: tuple[QueryParameter, ...], csv: bool) -> dict[str, Any]:
        content = {"application/x-ndjson": {"schema": lines}}
        if csv:
            content["text/csv"] = {"schema": {"type": "string", "description": "a header row, then one row each"}}
        return {
            "parameters": [project],
            "get": {
                "summary": summary,
                "description": (
                    "Streamed. JSON Lines records `{kind, project, document}` (history adds `taskId`), which "
                    "`storehouse import` reads back; CSV is a flat view of one kind, not imported."
                ),
                "operationId": operation,
                "parameters": [_parameter(p) for p in parameters],
                "responses": {"200": {"description": "the export", "content": content}, **errors},
            },
        }

    base = "/api/projects/{projectId}"
    return {
        f"{base}/export": export(
            "Export the whole project (settings, tasks, executions, history) as JSON Lines",
            "exportProject",
            PROJECT_PARAMETERS,
            csv=False,
        ),
        f"{base}/executions/export": export(
            "Export executions (the list's filters)", "exportExecutions", EXECUTION_EXPORT_PARAMETERS, csv=True
        ),
        f"{base}/tasks/export": export(
            "Export tasks (the list's filters)", "exportTasks", TASK_EXPORT_PARAMETERS, csv=True
        ),
        f"{base}/history/export": export(
            "Export history entries (one task's, or every task's)", "exportHistory", HISTORY_EXPORT_PARAMETERS, csv=True
        ),
    }


def _history_paths(
    keys: dict[Any, Any],
    project: dict[str, Any],
    ok: Any,
    body: Any,
    errors: dict[str, Any],
    errors_with_body: dict[str, Any],
) -> dict[str, Any]:
    entry_in = _ref(keys, NewHistoryEntry, "validation")
    entry = _ref(keys, HistoryEntry, "serialization")
    settings = _ref(keys, HistorySettings, "serialization")
    task = {"name": "taskId", "in": "path", "required": True, "schema": {"type": "string", "pattern": _ID}}
    query = [_parameter(p) for p in HISTORY_PARAMETERS]

    def single(name: str, schema: dict[str, Any]) -> dict[str, Any]:
        return {"type": "object", "properties": {name: schema}, "required": [name]}

    page = {
        "type": "object",
        "properties": {"entries": {"type": "array", "items": entry}, "total": {"type": "integer"}},
        "required": ["entries", "total"],
    }
    added = {
        "type": "object",
        "properties": {
            "entries": {"type": "array", "items": entry},
            "expired": {
                "type": "integer",
                "description": "how many of the entries had expired when added (back-filled): stored, never shown",
            },
        },
        "required": ["entries", "expired"],
    }
    deleted = ok("how many entries were removed", single("deleted", {"type": "integer"}))
    history = "/api/projects/{projectId}/tasks/{taskId}/history"
    return {
        history: {
            "parameters": [project, task],
            "get": {
                "summary": "Read a task's history (oldest first); expired entries and those past the cap never show",
                "operationId": "listTaskHistory",
                "parameters": query,
                "responses": {"200": ok("a page of entries", page), **errors},
            },
            "post": {
                "summary": "Append one entry or a list of entries, durably (all or none)",
                "operationId": "addHistory",
                "requestBody": body({"oneOf": [entry_in, {"type": "array", "items": entry_in, "minItems": 1}]}),
                "responses": {"201": ok("the entries, with their ids", added), **errors_with_body},
            },
            "delete": {
                "summary": "Delete a task's history",
                "operationId": "deleteTaskHistory",
                "responses": {"200": deleted, **errors},
            },
        },
        f"{history}/count": {
            "parameters": [project, task],
            "get": {
                "summary": "How many entries a read of the task's history returns",
                "operationId": "countTaskHistory",
                "responses": {"200": ok("the count", single("count", {"type": "integer"})), **errors},
            },
        },
        f"{history}/oldest": {
            "parameters": [project, task],
            "get": {
                "summary": "When the oldest visible entry was created (null when there is none)",
                "operationId": "oldestTaskHistory",
                "responses": {"200": ok("the time", single("createdAt", {"type": ["string", "null"]})), **errors},
            },
        },
        "/api/projects/{projectId}/history": {
            "parameters": [project],
            "get": {
                "summary": "Read the history of every task of a project (by createdAt, then task, then id)",
                "operationId": "listProjectHistory",
                "parameters": query,
                "responses": {"200": ok("a page of entries", page), **errors},
            },
        },
        "/api/projects/{projectId}/history/cleanup": {
            "parameters": [project],
            "post": {
                "summary": "Remove expired entries (and entries past the cap) from the files now",
                "operationId": "cleanupHistory",
                "requestBody": body({"type": "object", "additionalProperties": False, "maxProperties": 0}),
                "responses": {"200": deleted, **errors_with_body},
            },
        },
        "/api/projects/{projectId}/settings": {
            "parameters": [project],
            "get": {
                "summary": "The project's retention, of history and of runs",
                "operationId": "getSettings",
                "responses": {"200": ok("the settings", settings), **errors},
            },
            "put": {
                "summary": "Change the project's retention, of history and of runs (a setting left out stays)",
                "operationId": "putSettings",
                "requestBody": body(_ref(keys, SettingsChange, "validation")),
                "responses": {"200": ok("the settings now", settings), **errors_with_body},
            },
        },
    }


_ID = r"^[A-Za-z0-9_][A-Za-z0-9._-]{0,127}$"
