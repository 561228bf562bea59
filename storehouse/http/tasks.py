"""Routes of ``/api/projects/{projectId}/tasks``: documents, transitions, dependencies and their order."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from ..context import DEFAULT_MAX_CHARS, FORMATS, MAX_MAX_CHARS, MIN_MAX_CHARS
from ..errors import InvalidBody, InvalidParameter
from ..models import JSONObject, type_name
from ..queries import DEFAULT_LIMIT, MAX_LIMIT, MAX_OFFSET
from ..store import AsyncStorehouse
from ..tasks import PRIORITIES, STATUSES
from .executions import json_response, route
from .params import QueryParameter, if_match, integer, parse_query, read_json

LIST_PARAMETERS = (
    QueryParameter(
        "status", {"type": "string", "example": "pending,running"}, f"only these statuses: {', '.join(STATUSES)}"
    ),
    QueryParameter(
        "priority", {"type": "string", "example": "critical,high"}, f"only these priorities: {', '.join(PRIORITIES)}"
    ),
    QueryParameter("tag", {"type": "string"}, "only tasks carrying this tag"),
    QueryParameter("assignedTo", {"type": "string"}, "only tasks assigned to this agent or person"),
    QueryParameter(
        "ready",
        {"type": "string", "enum": ["true", "false"]},
        "true: only pending tasks whose blocks and requires dependencies have all succeeded; false: the others",
    ),
    QueryParameter(
        "limit", {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT, "default": DEFAULT_LIMIT}, "page size"
    ),
    QueryParameter("offset", {"type": "integer", "minimum": 0, "maximum": MAX_OFFSET, "default": 0}, "matches to skip"),
)


def _store(request: Request) -> AsyncStorehouse:
    store: AsyncStorehouse = request.app.state.store
    return store


async def _object(request: Request, what: str) -> JSONObject:
    body = await read_json(request, request.app.state.settings.max_json_depth)
    if not isinstance(body, dict):
        raise InvalidBody(f"the body must be a JSON object ({what}), got {type_name(body)}")
    return body


def _one(document: JSONObject, status: int = 200, extra: dict[str, str] | None = None) -> Response:
    return json_response({"task": document}, status, {"ETag": f'"{document["version"]}"', **(extra or {})})


async def list_tasks(request: Request) -> Response:
    values = parse_query(request, LIST_PARAMETERS, repeatable=("status", "priority"))
    ready = values.get("ready")
    if ready not in (None, "true", "false"):
        raise InvalidParameter(f"ready must be true or false, got {ready!r}")
    page = await _store(request).list_tasks(
        request.path_params["projectId"],
        status=values.get("status"),
        priority=values.get("priority"),
        tag=values.get("tag"),
        assigned_to=values.get("assignedTo"),
        ready=None if ready is None else ready == "true",
        limit=integer(values, "limit", DEFAULT_LIMIT),
        offset=integer(values, "offset", 0),
    )
    body = b'{"tasks":[%b],"total":%d}' % (b",".join(page.raw_items), page.total)
    return Response(body, media_type="application/json")


async def create_task(request: Request) -> Response:
    parse_query(request, ())
    project = request.path_params["projectId"]
    body = await _object(request, "a task")
    document = await _store(request).create_task(project, body)
    return _one(document, 201, {"Location": f"/api/projects/{project}/tasks/{document['id']}"})


async def get_task(request: Request) -> Response:
    parse_query(request, ())
    params = request.path_params
    return _one(await _store(request).get_task(params["projectId"], params["taskId"]))


async def put_task(request: Request) -> Response:
    parse_query(request, ())
    params = request.path_params
    version = if_match(request)
    body = await _object(request, "a task")
    document = await _store(request).put_task(params["projectId"], params["taskId"], body, if_match=version)
    return _one(document, 201 if document["version"] == 1 else 200)


async def patch_task(request: Request) -> Response:
    parse_query(request, ())
    params = request.path_params
    version = if_match(request)
    body = await _object(request, "a merge patch")
    return _one(await _store(request).patch_task(params["projectId"], params["taskId"], body, if_match=version))


async def delete_task(request: Request) -> Response:
    parse_query(request, ())
    params = request.path_params
    await _store(request).delete_task(params["projectId"], params["taskId"], if_match=if_match(request))
    return Response(status_code=204)


async def task_order(request: Request) -> Response:
    parse_query(request, ())
    return json_response({"tasks": await _store(request).task_order(request.path_params["projectId"])})


async def transition(request: Request) -> Response:
    parse_query(request, ())
    params = request.path_params
    version = if_match(request)
    body = await _object(request, '{"to": status, "reason"?, "actor"?}')
    unknown = sorted(set(body) - {"to", "reason", "actor"})
    if unknown:
        raise InvalidBody(f"unknown field {unknown[0]!r}; a transition is {{'to', 'reason', 'actor'}}")
    if not isinstance(body.get("to"), str):
        raise InvalidBody(f"to must be one of {', '.join(STATUSES)}")
    document = await _store(request).transition_task(
        params["projectId"],
        params["taskId"],
        body["to"],
        reason=body.get("reason"),
        actor=body.get("actor"),
        if_match=version,
    )
    return _one(document)


async def transitions(request: Request) -> Response:
    parse_query(request, ())
    params = request.path_params
    return json_response({"transitions": await _store(request).task_transitions(params["projectId"], params["taskId"])})


async def put_dependency(request: Request) -> Response:
    parse_query(request, ())
    params = request.path_params
    kind = "blocks"
    if (await request.body()).strip():
        body = await _object(request, '{"type": "blocks" | "requires" | "related"}')
        unknown = sorted(set(body) - {"type"})
        if unknown:
            raise InvalidBody(f"unknown field {unknown[0]!r}; a dependency is {{'type'}}")
        kind = body.get("type", "blocks")  # checked by the library, as for every caller
    edge, created = await _store(request).add_dependency(
        params["projectId"], params["taskId"], params["dependsOnId"], kind
    )
    return json_response({"dependency": edge}, 201 if created else 200)


async def delete_dependency(request: Request) -> Response:
    parse_query(request, ())
    params = request.path_params
    await _store(request).remove_dependency(params["projectId"], params["taskId"], params["dependsOnId"])
    return Response(status_code=204)


async def list_dependencies(request: Request) -> Response:
    parse_query(request, ())
    params = request.path_params
    found = await _store(request).task_dependencies(params["projectId"], params["taskId"])
    return json_response({"dependencies": found})


async def list_dependents(request: Request) -> Response:
    parse_query(request, ())
    params = request.path_params
    await _store(request).get_task(params["projectId"], params["taskId"])  # 404 for an unknown task
    return json_response({"dependents": await _store(request).task_dependents(params["projectId"], params["taskId"])})


CONTEXT_PARAMETERS = (
    QueryParameter(
        "format", {"type": "string", "enum": list(FORMATS), "default": "markdown"}, "markdown (ready to paste) or json"
    ),
    QueryParameter(
        "maxChars",
        {"type": "integer", "minimum": MIN_MAX_CHARS, "maximum": MAX_MAX_CHARS, "default": DEFAULT_MAX_CHARS},
        "the most characters the answer may have; what does not fit is cut, with a marker",
    ),
)


async def task_context(request: Request) -> Response:
    values = parse_query(request, CONTEXT_PARAMETERS)
    params = request.path_params
    fmt = values.get("format", "markdown")
    text = await _store(request).task_context(
        params["projectId"], params["taskId"], format=fmt, max_chars=integer(values, "maxChars", DEFAULT_MAX_CHARS)
    )
    media = "application/json" if fmt == "json" else "text/markdown; charset=utf-8"
    return Response(text.encode(), media_type=media)


async def metrics(request: Request) -> Response:
    parse_query(request, ())
    return json_response(await _store(request).project_metrics(request.path_params["projectId"]))


TASKS = "/api/projects/{projectId}/tasks"
TASK = f"{TASKS}/{{taskId}}"
ROUTES = [
    route(f"{TASKS}/order", GET=task_order),
    route(TASKS, GET=list_tasks, POST=create_task),
    route(TASK, GET=get_task, PUT=put_task, PATCH=patch_task, DELETE=delete_task),
    route(f"{TASK}/transitions", GET=transitions, POST=transition),
    route(f"{TASK}/dependencies", GET=list_dependencies),
    route(f"{TASK}/dependents", GET=list_dependents),
    route(f"{TASK}/dependencies/{{dependsOnId}}", PUT=put_dependency, DELETE=delete_dependency),
    route(f"{TASK}/context", GET=task_context),
    route("/api/projects/{projectId}/metrics", GET=metrics),
]
