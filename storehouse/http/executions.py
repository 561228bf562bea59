"""Routes of ``/api/projects/{projectId}/executions``: parse the request, call the store, respond."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from ..daily import DEFAULT_DAYS, MAX_DAYS
from ..errors import InvalidBody, InvalidParameter
from ..index import SORTS, STATUSES
from ..models import JSONObject, type_name
from ..queries import DEFAULT_LIMIT, MAX_LIMIT, MAX_OFFSET, MAX_SEARCH
from ..store import DEFAULT_PROJECT_LIMIT, AsyncStorehouse
from .params import QueryParameter, if_match, integer, parse_query, read_json

Endpoint = Callable[[Request], Awaitable[Response]]

LIST_PARAMETERS = (
    QueryParameter(
        "status",
        {"type": "string", "example": "failed,running"},
        f"only these statuses, comma-separated (or repeated): {', '.join(STATUSES)}",
    ),
    QueryParameter("taskId", {"type": "string"}, "only runs of this task"),
    QueryParameter("tag", {"type": "string"}, "only runs carrying this tag"),
    QueryParameter(
        "startedAfter", {"type": "string", "format": "date-time"}, "only runs started at or after this time"
    ),
    QueryParameter("startedBefore", {"type": "string", "format": "date-time"}, "only runs started before this time"),
    QueryParameter(
        "q",
        {"type": "string", "minLength": 1, "maxLength": MAX_SEARCH, "example": "triage"},
        "only runs whose id starts with this, or whose name contains it (case-insensitive for ASCII letters)",
    ),
    QueryParameter(
        "sort",
        {"type": "string", "enum": list(SORTS), "default": "-startedAt"},
        "order of the page; '-' means descending; ties are broken by id",
    ),
    QueryParameter(
        "limit", {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT, "default": DEFAULT_LIMIT}, "page size"
    ),
    QueryParameter("offset", {"type": "integer", "minimum": 0, "maximum": MAX_OFFSET, "default": 0}, "matches to skip"),
    QueryParameter("cursor", {"type": "string"}, "the nextCursor of the previous page (stable deep paging)"),
)


def json_response(content: object, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    """A JSON response encoded by orjson."""
    return Response(orjson.dumps(content), status, headers, media_type="application/json")


def _store(request: Request) -> AsyncStorehouse:
    store: AsyncStorehouse = request.app.state.store
    return store


def _depth(request: Request) -> int:
    depth: int = request.app.state.settings.max_json_depth
    return depth


def _one(document: JSONObject, status: int = 200, extra: dict[str, str] | None = None) -> Response:
    return json_response({"execution": document}, status, {"ETag": f'"{document["version"]}"', **(extra or {})})


async def list_executions(request: Request) -> Response:
    values = parse_query(request, LIST_PARAMETERS, repeatable=("status",))
    query: dict[str, Any] = {
        "status": values.get("status"),
        "task_id": values.get("taskId"),
        "tag": values.get("tag"),
        "started_after": values.get("startedAfter"),
        "started_before": values.get("startedBefore"),
        "sort": values.get("sort", "-startedAt"),
        "limit": integer(values, "limit", DEFAULT_LIMIT),
        "offset": integer(values, "offset", 0),
        "cursor": values.get("cursor"),
        "q": values.get("q"),
    }
    page = await _store(request).list_executions(request.path_params["projectId"], **query)
    body = b'{"executions":[%b],"total":%d,"nextCursor":%b}' % (
        b",".join(page.raw_items),
        page.total,
        orjson.dumps(page.next_cursor),
    )
    return Response(body, media_type="application/json")


async def create_execution(request: Request) -> Response:
    parse_query(request, ())
    project = request.path_params["projectId"]
    body = await read_json(request, _depth(request))
    document = await _store(request).create_execution(project, _object(body))
    location = f"/api/projects/{project}/executions/{document['id']}"
    return _one(document, 201, {"Location": location})


async def get_execution(request: Request) -> Response:
    parse_query(request, ())
    params = request.path_params
    return _one(await _store(request).get_execution(params["projectId"], params["executionId"]))


async def put_execution(request: Request) -> Response:
    parse_query(request, ())
    params = request.path_params
    version = if_match(request)
    body = await read_json(request, _depth(request))
    document = await _store(request).put_execution(
        params["projectId"], params["executionId"], _object(body), if_match=version
    )
    return _one(document, 201 if document["version"] == 1 else 200)


async def patch_execution(request: Request) -> Response:
    parse_query(request, ())
    params = request.path_params
    version = if_match(request)
    body = await read_json(request, _depth(request))
    document = await _store(request).patch_execution(
        params["projectId"], params["executionId"], _object(body), if_match=version
    )
    return _one(document)


async def delete_execution(request: Request) -> Response:
    parse_query(request, ())
    params = request.path_params
    await _store(request).delete_execution(params["projectId"], params["executionId"], if_match=if_match(request))
    return Response(status_code=204)


FILTERS = ("status", "taskId", "tag", "startedAfter", "startedBefore", "q")
DELETE_PARAMETERS = tuple(parameter for parameter in LIST_PARAMETERS if parameter.name in FILTERS)


async def delete_executions(request: Request) -> Response:
    values = parse_query(request, DELETE_PARAMETERS, repeatable=("status",))
    filters = {
        "status": values.get("status"),
        "task_id": values.get("taskId"),
        "tag": values.get("tag"),
        "started_after": values.get("startedAfter"),
        "started_before": values.get("startedBefore"),
        "q": values.get("q"),
    }
    deleted = await _store(request).delete_executions(request.path_params["projectId"], **filters)
    return json_response({"deleted": deleted})


PROJECT_DELETE_PARAMETERS = (
    QueryParameter(
        "confirm",
        {"type": "string", "example": "demo"},
        "the project's id again, required: a URL that only resolves to the project (say ``.../executions/..``, "
        "which clients shorten to the project's path) deletes nothing",
    ),
)


async def delete_project(request: Request) -> Response:
    values = parse_query(request, PROJECT_DELETE_PARAMETERS)
    project = request.path_params["projectId"]
    if values.get("confirm") != project:
        raise InvalidParameter(
            f"deleting a project needs confirm={project} (its id again): "
            f"DELETE /api/projects/{project}?confirm={project}; nothing was deleted"
        )
    return json_response({"deleted": await _store(request).delete_project(project)})


async def execution_stats(request: Request) -> Response:
    parse_query(request, ())
    return json_response(await _store(request).execution_stats(request.path_params["projectId"]))


DAILY_PARAMETERS = (
    QueryParameter(
        "days", {"type": "integer", "minimum": 1, "maximum": MAX_DAYS, "default": DEFAULT_DAYS}, "how many days"
    ),
    QueryParameter(
        "until",
        {"type": "string", "format": "date", "example": "2026-11-20"},
        "the last day (UTC); default the day of the project's newest run, or today",
    ),
)


async def daily_stats(request: Request) -> Response:
    values = parse_query(request, DAILY_PARAMETERS)
    days = integer(values, "days", DEFAULT_DAYS)
    found = await _store(request).daily_stats(request.path_params["projectId"], days, values.get("until"))
    return json_response(found)


PROJECT_LIST_PARAMETERS = (
    QueryParameter(
        "limit",
        {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT, "default": DEFAULT_PROJECT_LIMIT},
        "page size (the default is the largest: a caller that does not page sees up to that many)",
    ),
    QueryParameter(
        "offset", {"type": "integer", "minimum": 0, "maximum": MAX_OFFSET, "default": 0}, "projects to skip"
    ),
)


async def list_projects(request: Request) -> Response:
    values = parse_query(request, PROJECT_LIST_PARAMETERS)
    page = await _store(request).list_projects(
        limit=integer(values, "limit", DEFAULT_PROJECT_LIMIT), offset=integer(values, "offset", 0)
    )
    items = [
        {
            "id": p.id,
            "executionCount": p.execution_count,
            "lastStartedAt": p.last_started_at,
            "costUSD": p.cost_usd,
            "taskCount": p.task_count,
        }
        for p in page.items
    ]
    return json_response({"projects": items, "total": page.total})


def _object(body: object) -> JSONObject:
    if not isinstance(body, dict):
        raise InvalidBody(f"the body must be a JSON object, got {type_name(body)}")
    return body


def by_method(**handlers: Endpoint) -> Endpoint:
    """One endpoint for several methods of a path, so a wrong method gets a 405 whose Allow lists them all."""

    async def endpoint(request: Request) -> Response:
        return await handlers["GET" if request.method == "HEAD" else request.method](request)

    return endpoint


def route(path: str, **handlers: Endpoint) -> Route:
    """A route serving each method with its handler (``GET=...``, ``POST=...``)."""
    return Route(path, by_method(**handlers), methods=list(handlers))


EXECUTIONS = "/api/projects/{projectId}/executions"
ROUTES = [
    route("/api/projects", GET=list_projects),
    route("/api/projects/{projectId}", DELETE=delete_project),
    route(f"{EXECUTIONS}/stats", GET=execution_stats),
    route(f"{EXECUTIONS}/stats/daily", GET=daily_stats),
    route(EXECUTIONS, GET=list_executions, POST=create_execution, DELETE=delete_executions),
    route(
        f"{EXECUTIONS}/{{executionId}}",
        GET=get_execution,
        PUT=put_execution,
        PATCH=patch_execution,
        DELETE=delete_execution,
    ),
]
