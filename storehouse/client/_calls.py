"""Every operation of the HTTP API as the request it sends and how its answer is read, written once for
``Client`` and ``AsyncClient``: ``_Calls`` has one static method per client method, returning a ``_Call``;
``error_from_response`` reads an error answer as the library's exception class. Nothing here does I/O."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any, Generic, TypeVar
from urllib.parse import quote

import httpx
import orjson

from ..backends.base import ProjectInfo
from ..errors import ALL_ERRORS, InvalidBody, InvalidId, StorehouseError
from ..ids import check_id
from ..index import Page
from ..models import JSONObject, JSONValue
from ..queries import HistoryPage
from ..store import DEFAULT_PROJECT_LIMIT, RESERVED_IDS, ProjectPage
from ..task_ops import RESERVED_TASK_IDS, TaskPage
from ..transfer import check_export

# The server sends a comment line every 15 s on a quiet stream (http/events.py PING_SECONDS): a stream silent
# for 60 s is a dead connection, whatever the client's own timeout (which may be shorter than a quiet spell).
EVENTS_READ_TIMEOUT = 60.0

# Every operation of the OpenAPI document (method, path) and the client method that performs it; each method is on
# both Client and AsyncClient (tests/test_client.py checks both ways against a live server's /openapi.json).
_P = "/api/projects/{projectId}"
OPERATIONS: dict[tuple[str, str], str] = {
    ("GET", "/api/projects"): "list_projects",
    ("DELETE", _P): "delete_project",
    ("GET", f"{_P}/executions"): "list_executions",
    ("POST", f"{_P}/executions"): "create_execution",
    ("DELETE", f"{_P}/executions"): "delete_executions",
    ("GET", f"{_P}/executions/stats"): "execution_stats",
    ("GET", f"{_P}/executions/stats/daily"): "daily_stats",
    ("GET", f"{_P}/executions/export"): "export",
    ("GET", f"{_P}/executions/{{executionId}}"): "get_execution",
    ("PUT", f"{_P}/executions/{{executionId}}"): "put_execution",
    ("PATCH", f"{_P}/executions/{{executionId}}"): "patch_execution",
    ("DELETE", f"{_P}/executions/{{executionId}}"): "delete_execution",
    ("GET", f"{_P}/tasks/{{taskId}}/history"): "list_history",
    ("POST", f"{_P}/tasks/{{taskId}}/history"): "add_history",
    ("DELETE", f"{_P}/tasks/{{taskId}}/history"): "delete_history",
    ("GET", f"{_P}/tasks/{{taskId}}/history/count"): "count_history",
    ("GET", f"{_P}/tasks/{{taskId}}/history/oldest"): "oldest_history",
    ("GET", f"{_P}/history"): "list_history",
    ("GET", f"{_P}/history/export"): "export",
    ("POST", f"{_P}/history/cleanup"): "prune_history",
    ("GET", f"{_P}/settings"): "history_settings",
    ("PUT", f"{_P}/settings"): "set_history_settings",
    ("GET", f"{_P}/tasks"): "list_tasks",
    ("POST", f"{_P}/tasks"): "create_task",
    ("GET", f"{_P}/tasks/order"): "task_order",
    ("GET", f"{_P}/tasks/export"): "export",
    ("GET", f"{_P}/tasks/{{taskId}}"): "get_task",
    ("PUT", f"{_P}/tasks/{{taskId}}"): "put_task",
    ("PATCH", f"{_P}/tasks/{{taskId}}"): "patch_task",
    ("DELETE", f"{_P}/tasks/{{taskId}}"): "delete_task",
    ("GET", f"{_P}/tasks/{{taskId}}/transitions"): "task_transitions",
    ("POST", f"{_P}/tasks/{{taskId}}/transitions"): "transition_task",
    ("GET", f"{_P}/tasks/{{taskId}}/dependencies"): "task_dependencies",
    ("GET", f"{_P}/tasks/{{taskId}}/dependents"): "task_dependents",
    ("PUT", f"{_P}/tasks/{{taskId}}/dependencies/{{dependsOnId}}"): "add_dependency",
    ("DELETE", f"{_P}/tasks/{{taskId}}/dependencies/{{dependsOnId}}"): "remove_dependency",
    ("GET", f"{_P}/tasks/{{taskId}}/context"): "task_context",
    ("GET", f"{_P}/metrics"): "project_metrics",
    ("GET", f"{_P}/events"): "events",
    ("GET", f"{_P}/export"): "export",
}

# Ids a route of the same path hides (GET .../executions/stats is the stats route): the library refuses to write
# them, and here they are refused for every call, since no request can reach them.
_RESERVED = {"executionId": ("executions", RESERVED_IDS), "taskId": ("tasks", RESERVED_TASK_IDS)}

T = TypeVar("T")
Query = tuple[tuple[str, str], ...]


# -- errors -----------------------------------------------------------------------------------------------------
_BY_CODE = {error.code: error for error in ALL_ERRORS}
_BY_STATUS: dict[int, type[StorehouseError]] = {}
for _error in ALL_ERRORS:  # the first class of a status is the most general one (400: InvalidRequest)
    _BY_STATUS.setdefault(_error.status, _error)


def error_from_response(response: httpx.Response) -> StorehouseError:
    """The storehouse error an error answer stands for: the class of its ``code``, else of its status, else
    ``StorehouseError``; with the server's message and the error's other fields as ``details``. The instance's
    ``status`` and ``code`` are the answer's (a 408 ``request_timeout`` has no class of its own)."""
    found: object = None
    try:
        body = orjson.loads(response.content)
        found = body.get("error") if isinstance(body, dict) else None
    except orjson.JSONDecodeError:
        pass
    if isinstance(found, dict) and isinstance(found.get("code"), str):
        code: str | None = found["code"]
        message = str(found.get("message", ""))
        details = {name: value for name, value in found.items() if name not in ("code", "message")}
    else:  # not storehouse's answer (a proxy's page, uvicorn's 503 beyond --max-connections)
        code, details = None, {}
        text = response.text.strip()
        message = f"HTTP {response.status_code} from {response.request.method} {response.request.url}" + (
            f": {text[:200]}" if text else ""
        )
    kind = _BY_CODE.get(code or "") or _BY_STATUS.get(response.status_code, StorehouseError)
    error = kind(message, details)
    if error.status != response.status_code or (code is not None and error.code != code):
        error.status = response.status_code
        error.code = code or error.code
    return error


# -- requests, written once for both clients -------------------------------------------------------------------
@dataclass(frozen=True)
class _Call(Generic[T]):
    """One request and how to read its (successful) answer."""

    method: str
    path: str
    read: Callable[[httpx.Response], T]
    params: Query = ()
    content: bytes | None = None
    media_type: str = "application/json"
    if_match: int | None = None
    accept: str = "application/json"
    read_timeout: float | None = None  # None: the client's timeout


def _segment(value: str, name: str) -> str:
    """A checked id for a path, refused as the library refuses it (InvalidId) before anything is sent."""
    check_id(value, name)
    collection, reserved = _RESERVED.get(name, ("", frozenset[str]()))
    if value in reserved:
        raise InvalidId(f"{value!r} is reserved (GET .../{collection}/{value} is a route); pick another")
    return quote(value, safe="")


def _project(project: str) -> str:
    return f"/api/projects/{_segment(project, 'projectId')}"


def _execution(project: str, execution_id: str) -> str:
    return f"{_project(project)}/executions/{_segment(execution_id, 'executionId')}"


def _task(project: str, task_id: str) -> str:
    return f"{_project(project)}/tasks/{_segment(task_id, 'taskId')}"


def _camel(name: str) -> str:
    """The JSON name of a Python name: ``task_id`` is ``taskId``, ``cost_usd`` is ``costUSD``."""
    head, *rest = name.split("_")
    return head + "".join("USD" if part == "usd" else part.capitalize() for part in rest)


def _query(**values: object) -> Query:
    """Query parameters by their JSON names; None is left out, a list is comma-separated (an empty one is left
    out, as the library takes it: no filter), a bool is true/false."""
    query: list[tuple[str, str]] = []
    for name, value in values.items():
        if value is None:
            continue
        if isinstance(value, bool):
            text = "true" if value else "false"
        elif isinstance(value, str | int | float):
            text = str(value)
        elif isinstance(value, date):
            text = value.isoformat()
        elif isinstance(value, Iterable):
            text = ",".join(str(part) for part in value)
            if not text:
                continue
        else:
            raise TypeError(f"{name} must be a string, number, bool or list of strings, got {type(value).__name__}")
        query.append((_camel(name), text))
    return tuple(query)


def _json(body: object) -> bytes:
    try:
        return orjson.dumps(body)
    except orjson.JSONEncodeError as exc:
        raise InvalidBody(f"the body cannot be sent as JSON: {exc}") from None


def _field(name: str) -> Callable[[httpx.Response], Any]:
    return lambda response: orjson.loads(response.content)[name]


def _whole(response: httpx.Response) -> Any:
    return orjson.loads(response.content)


def _nothing(_: httpx.Response) -> None:
    return None


def _text(response: httpx.Response) -> str:
    return response.text


def _page(response: httpx.Response) -> Page:
    body = orjson.loads(response.content)
    return Page([orjson.dumps(item) for item in body["executions"]], body["total"], body.get("nextCursor"))


def _task_page(response: httpx.Response) -> TaskPage:
    body = orjson.loads(response.content)
    return TaskPage([orjson.dumps(item) for item in body["tasks"]], body["total"])


def _history_page(response: httpx.Response) -> HistoryPage:
    body = orjson.loads(response.content)
    return HistoryPage(body["entries"], body["total"])


def _projects(response: httpx.Response) -> ProjectPage:
    names = [(field.name, _camel(field.name)) for field in dataclasses.fields(ProjectInfo)]
    body = orjson.loads(response.content)
    items = [ProjectInfo(**{name: item[key] for name, key in names if key in item}) for item in body["projects"]]
    return ProjectPage(items, body["total"])


def _dependency(response: httpx.Response) -> tuple[JSONObject, bool]:
    return orjson.loads(response.content)["dependency"], response.status_code == 201


def _write(method: str, path: str, body: object, if_match: int | None, read: Callable[[httpx.Response], T]) -> _Call[T]:
    media = "application/merge-patch+json" if method == "PATCH" else "application/json"
    return _Call(method, path, read, content=_json(body), media_type=media, if_match=if_match)


class _Calls:
    """Every operation as the request it sends: one static method per client method, of the same name."""

    # -- executions -------------------------------------------------------------------------------------------
    @staticmethod
    def create_execution(project: str, body: JSONObject) -> _Call[JSONObject]:
        return _write("POST", f"{_project(project)}/executions", body, None, _field("execution"))

    @staticmethod
    def put_execution(project: str, execution_id: str, body: JSONObject, if_match: int | None) -> _Call[JSONObject]:
        return _write("PUT", _execution(project, execution_id), body, if_match, _field("execution"))

    @staticmethod
    def patch_execution(project: str, execution_id: str, body: JSONObject, if_match: int | None) -> _Call[JSONObject]:
        return _write("PATCH", _execution(project, execution_id), body, if_match, _field("execution"))

    @staticmethod
    def get_execution(project: str, execution_id: str) -> _Call[JSONObject]:
        return _Call("GET", _execution(project, execution_id), _field("execution"))

    @staticmethod
    def delete_execution(project: str, execution_id: str, if_match: int | None) -> _Call[None]:
        return _Call("DELETE", _execution(project, execution_id), _nothing, if_match=if_match)

    @staticmethod
    def delete_executions(project: str, filters: dict[str, Any]) -> _Call[int]:
        return _Call("DELETE", f"{_project(project)}/executions", _field("deleted"), _query(**filters))

    @staticmethod
    def delete_project(project: str) -> _Call[dict[str, int]]:
        return _Call("DELETE", _project(project), _field("deleted"), (("confirm", project),))

    @staticmethod
    def list_executions(
        project: str,
        status: str | Iterable[str] | None,
        task_id: str | None,
        tag: str | None,
        started_after: str | None,
        started_before: str | None,
        sort: str,
        limit: int,
        offset: int,
        cursor: str | None,
        q: str | None,
    ) -> _Call[Page]:
        query = _query(
            status=status,
            task_id=task_id,
            tag=tag,
            started_after=started_after,
            started_before=started_before,
            sort=sort,
            limit=limit,
            offset=offset,
            cursor=cursor,
            q=q,
        )
        return _Call("GET", f"{_project(project)}/executions", _page, query)

    @staticmethod
    def execution_stats(project: str) -> _Call[JSONObject]:
        return _Call("GET", f"{_project(project)}/executions/stats", _whole)

    @staticmethod
    def daily_stats(project: str, days: int, until: str | None) -> _Call[JSONObject]:
        return _Call("GET", f"{_project(project)}/executions/stats/daily", _whole, _query(days=days, until=until))

    @staticmethod
    def list_projects(limit: int, offset: int) -> _Call[ProjectPage]:
        # sent only when not the default, so a server of an earlier release (which takes no parameter) answers
        query = _query(limit=None if limit == DEFAULT_PROJECT_LIMIT else limit, offset=offset or None)
        return _Call("GET", "/api/projects", _projects, query)

    @staticmethod
    def export(project: str, kind: str, format: str, filters: dict[str, JSONValue]) -> _Call[None]:
        check_export(kind, format)
        path = _project(project) if kind == "project" else f"{_project(project)}/{kind}"
        # format goes only when it is not the default, so a route that knows one format takes the request as it is
        query = _query(**({"format": format} if format != "jsonl" else {}), **filters)
        return _Call("GET", f"{path}/export", _nothing, query, accept="*/*")

    # -- task history -----------------------------------------------------------------------------------------
    @staticmethod
    def add_history(project: str, task_id: str, entries: JSONObject | Sequence[JSONValue]) -> _Call[list[JSONObject]]:
        body = entries if isinstance(entries, dict) else list(entries)
        return _write("POST", f"{_task(project, task_id)}/history", body, None, _field("entries"))

    @staticmethod
    def list_history(
        project: str,
        task_id: str | None,
        type: str | Iterable[str] | None,
        workspace_id: str | None,
        session_id: str | None,
        execution_id: str | None,
        since: str | None,
        until: str | None,
        limit: int,
        offset: int,
        order: str,
    ) -> _Call[HistoryPage]:
        query = _query(
            type=type,
            workspace_id=workspace_id,
            session_id=session_id,
            execution_id=execution_id,
            since=since,
            until=until,
            limit=limit,
            offset=offset,
            order=order,
        )
        path = f"{_project(project)}/history" if task_id is None else f"{_task(project, task_id)}/history"
        return _Call("GET", path, _history_page, query)

    @staticmethod
    def count_history(project: str, task_id: str) -> _Call[int]:
        return _Call("GET", f"{_task(project, task_id)}/history/count", _field("count"))

    @staticmethod
    def delete_history(project: str, task_id: str) -> _Call[int]:
        return _Call("DELETE", f"{_task(project, task_id)}/history", _field("deleted"))

    @staticmethod
    def oldest_history(project: str, task_id: str) -> _Call[str | None]:
        return _Call("GET", f"{_task(project, task_id)}/history/oldest", _field("createdAt"))

    @staticmethod
    def prune_history(project: str) -> _Call[int]:
        return _Call("POST", f"{_project(project)}/history/cleanup", _field("deleted"), content=b"{}")  # JSON: #13

    @staticmethod
    def history_settings(project: str) -> _Call[JSONObject]:
        return _Call("GET", f"{_project(project)}/settings", _whole)

    @staticmethod
    def set_history_settings(project: str, settings: JSONObject) -> _Call[JSONObject]:
        return _write("PUT", f"{_project(project)}/settings", settings, None, _whole)

    # -- tasks ------------------------------------------------------------------------------------------------
    @staticmethod
    def create_task(project: str, body: JSONObject) -> _Call[JSONObject]:
        return _write("POST", f"{_project(project)}/tasks", body, None, _field("task"))

    @staticmethod
    def put_task(project: str, task_id: str, body: JSONObject, if_match: int | None) -> _Call[JSONObject]:
        return _write("PUT", _task(project, task_id), body, if_match, _field("task"))

    @staticmethod
    def patch_task(project: str, task_id: str, body: JSONObject, if_match: int | None) -> _Call[JSONObject]:
        return _write("PATCH", _task(project, task_id), body, if_match, _field("task"))

    @staticmethod
    def get_task(project: str, task_id: str) -> _Call[JSONObject]:
        return _Call("GET", _task(project, task_id), _field("task"))

    @staticmethod
    def delete_task(project: str, task_id: str, if_match: int | None) -> _Call[None]:
        return _Call("DELETE", _task(project, task_id), _nothing, if_match=if_match)

    @staticmethod
    def list_tasks(
        project: str,
        status: str | Iterable[str] | None,
        priority: str | Iterable[str] | None,
        tag: str | None,
        assigned_to: str | None,
        ready: bool | None,
        limit: int,
        offset: int,
    ) -> _Call[TaskPage]:
        query = _query(
            status=status, priority=priority, tag=tag, assigned_to=assigned_to, ready=ready, limit=limit, offset=offset
        )
        return _Call("GET", f"{_project(project)}/tasks", _task_page, query)

    @staticmethod
    def transition_task(
        project: str, task_id: str, to: str, reason: str | None, actor: str | None, if_match: int | None
    ) -> _Call[JSONObject]:
        body = {"to": to, "reason": reason, "actor": actor}
        return _write("POST", f"{_task(project, task_id)}/transitions", body, if_match, _field("task"))

    @staticmethod
    def task_transitions(project: str, task_id: str) -> _Call[list[JSONObject]]:
        return _Call("GET", f"{_task(project, task_id)}/transitions", _field("transitions"))

    @staticmethod
    def add_dependency(project: str, task_id: str, depends_on: str, type: str) -> _Call[tuple[JSONObject, bool]]:
        path = f"{_task(project, task_id)}/dependencies/{_segment(depends_on, 'dependsOnId')}"
        return _write("PUT", path, {"type": type}, None, _dependency)

    @staticmethod
    def remove_dependency(project: str, task_id: str, depends_on: str) -> _Call[None]:
        path = f"{_task(project, task_id)}/dependencies/{_segment(depends_on, 'dependsOnId')}"
        return _Call("DELETE", path, _nothing)

    @staticmethod
    def task_dependencies(project: str, task_id: str) -> _Call[list[JSONObject]]:
        return _Call("GET", f"{_task(project, task_id)}/dependencies", _field("dependencies"))

    @staticmethod
    def task_dependents(project: str, task_id: str) -> _Call[list[JSONObject]]:
        return _Call("GET", f"{_task(project, task_id)}/dependents", _field("dependents"))

    @staticmethod
    def task_order(project: str) -> _Call[list[JSONObject]]:
        return _Call("GET", f"{_project(project)}/tasks/order", _field("tasks"))

    @staticmethod
    def task_context(project: str, task_id: str, format: str, max_chars: int) -> _Call[str]:
        accept = "application/json" if format == "json" else "text/markdown"
        query = _query(format=format, max_chars=max_chars)
        return _Call("GET", f"{_task(project, task_id)}/context", _text, query, accept=accept)

    @staticmethod
    def project_metrics(project: str) -> _Call[JSONObject]:
        return _Call("GET", f"{_project(project)}/metrics", _whole)

    # -- the event stream -------------------------------------------------------------------------------------
    @staticmethod
    def events(project: str, after: str | None) -> _Call[None]:
        path = f"{_project(project)}/events"
        query = (("lastEventId", after),) if after else ()
        return _Call("GET", path, _nothing, query, accept="text/event-stream", read_timeout=EVENTS_READ_TIMEOUT)
