"""Routes of task history and of a project's retention settings: parse the request, call the store, respond.

``/api/projects/{projectId}/tasks/{taskId}/history`` (add, read, count, oldest, delete),
``/api/projects/{projectId}/history`` (read across tasks, ``/cleanup``) and ``/api/projects/{projectId}/settings``.
"""

from __future__ import annotations

from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response

from ..errors import InvalidBody
from ..history import TYPES, expired
from ..models import now_timestamp, type_name
from ..queries import DEFAULT_HISTORY_LIMIT, MAX_LIMIT, MAX_OFFSET
from ..store import AsyncStorehouse
from .executions import json_response, route
from .params import QueryParameter, integer, parse_query, read_json

HISTORY_PARAMETERS = (
    QueryParameter(
        "type",
        {"type": "string", "example": "chat_message,agent_turn"},
        f"only entries of these types, comma-separated (or repeated): {', '.join(sorted(TYPES))}",
    ),
    QueryParameter("workspaceId", {"type": "string"}, "only entries of this workspace"),
    QueryParameter("sessionId", {"type": "string"}, "only entries of this session"),
    QueryParameter("executionId", {"type": "string"}, "only entries of this execution"),
    QueryParameter("since", {"type": "string", "format": "date-time"}, "only entries created at or after this time"),
    QueryParameter("until", {"type": "string", "format": "date-time"}, "only entries created before this time"),
    QueryParameter(
        "limit",
        {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT, "default": DEFAULT_HISTORY_LIMIT},
        "page size",
    ),
    QueryParameter("offset", {"type": "integer", "minimum": 0, "maximum": MAX_OFFSET, "default": 0}, "matches to skip"),
    QueryParameter(
        "order",
        {"type": "string", "enum": ["asc", "desc"], "default": "asc"},
        "asc: oldest first (the default); desc: newest first",
    ),
)


def _store(request: Request) -> AsyncStorehouse:
    store: AsyncStorehouse = request.app.state.store
    return store


def _history_query(request: Request) -> dict[str, Any]:
    values = parse_query(request, HISTORY_PARAMETERS, repeatable=("type",))
    return {
        "type": values.get("type"),
        "workspace_id": values.get("workspaceId"),
        "session_id": values.get("sessionId"),
        "execution_id": values.get("executionId"),
        "since": values.get("since"),
        "until": values.get("until"),
        "limit": integer(values, "limit", DEFAULT_HISTORY_LIMIT),
        "offset": integer(values, "offset", 0),
        "order": values.get("order", "asc"),
    }


async def add_entries(request: Request) -> Response:
    parse_query(request, ())
    params = request.path_params
    body = await read_json(request, request.app.state.settings.max_json_depth)
    if not isinstance(body, dict | list):
        raise InvalidBody(f"the body must be a history entry object or a list of them, got {type_name(body)}")
    added = await _store(request).add_history(params["projectId"], params["taskId"], body)
    return json_response({"entries": added, "expired": expired(added, now_timestamp())}, 201)


async def list_task_history(request: Request) -> Response:
    query = _history_query(request)
    params = request.path_params
    page = await _store(request).list_history(params["projectId"], params["taskId"], **query)
    return json_response({"entries": page.entries, "total": page.total})


async def list_project_history(request: Request) -> Response:
    query = _history_query(request)
    page = await _store(request).list_history(request.path_params["projectId"], None, **query)
    return json_response({"entries": page.entries, "total": page.total})


async def count_entries(request: Request) -> Response:
    parse_query(request, ())
    params = request.path_params
    return json_response({"count": await _store(request).count_history(params["projectId"], params["taskId"])})


async def oldest_entry(request: Request) -> Response:
    parse_query(request, ())
    params = request.path_params
    return json_response({"createdAt": await _store(request).oldest_history(params["projectId"], params["taskId"])})


async def delete_entries(request: Request) -> Response:
    parse_query(request, ())
    params = request.path_params
    return json_response({"deleted": await _store(request).delete_history(params["projectId"], params["taskId"])})


async def cleanup(request: Request) -> Response:
    parse_query(request, ())
    # a write needs a JSON body, even one with nothing to say: a form or a no-cors fetch cannot send one (#13)
    body = await read_json(request, request.app.state.settings.max_json_depth)
    if body != {}:
        raise InvalidBody(
            f"the body of a cleanup must be the empty JSON object {{}}, got {orjson.dumps(body).decode()[:80]}"
        )
    return json_response({"deleted": await _store(request).prune_history(request.path_params["projectId"])})


async def get_settings(request: Request) -> Response:
    parse_query(request, ())
    return json_response(await _store(request).history_settings(request.path_params["projectId"]))


async def put_settings(request: Request) -> Response:
    parse_query(request, ())
    body = await read_json(request, request.app.state.settings.max_json_depth)
    if not isinstance(body, dict):
        raise InvalidBody(f"the settings must be a JSON object, got {type_name(body)}")
    return json_response(await _store(request).set_history_settings(request.path_params["projectId"], body))


PROJECT = "/api/projects/{projectId}"
TASK_HISTORY = f"{PROJECT}/tasks/{{taskId}}/history"
ROUTES = [
    route(TASK_HISTORY, GET=list_task_history, POST=add_entries, DELETE=delete_entries),
    route(f"{TASK_HISTORY}/count", GET=count_entries),
    route(f"{TASK_HISTORY}/oldest", GET=oldest_entry),
    route(f"{PROJECT}/history", GET=list_project_history),
    route(f"{PROJECT}/history/cleanup", POST=cleanup),
    route(f"{PROJECT}/settings", GET=get_settings, PUT=put_settings),
]
