"""The OpenAPI 3.1 document, built from the pydantic models that validate requests and the query tables."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field
from pydantic.json_schema import models_json_schema

from .. import __version__
from ..index import STATUSES
from ..models import Execution, TokenUsage, _Model
from .executions import LIST_PARAMETERS
from .params import QueryParameter


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


class ErrorDetail(BaseModel):
    code: str
    message: str


class ErrorBody(BaseModel):
    """Every error response."""

    error: ErrorDetail


def _schemas() -> tuple[dict[str, Any], dict[Any, Any]]:
    keys, document = models_json_schema(
        [
            (Execution, "validation"),
            (Execution, "serialization"),
            (ExecutionSummary, "serialization"),
            (ExecutionStats, "serialization"),
            (ErrorBody, "serialization"),
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
                    },
                    "required": ["id", "executionCount", "lastStartedAt"],
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
                "summary": "List projects with their execution counts",
                "operationId": "listProjects",
                "responses": {"200": ok("the projects", projects)},
            }
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
                "summary": "Delete every execution of the project",
                "operationId": "deleteExecutions",
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


_ID = r"^[A-Za-z0-9_][A-Za-z0-9._-]{0,127}$"
